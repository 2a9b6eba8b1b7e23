//! Rules of the code itself, read from the repository's files.

use std::path::{Path, PathBuf};

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git" | "var") {
                files_under(&path, found);
            }
        } else if [".rs", ".sql", ".sh", ".mjs", ".py", ".md"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            found.push(path);
        }
    }
}

/// The tenant is set with `SET LOCAL` (`storage::set_tenant`), which Citus sends on to the shards;
/// `set_config()` is a function call it does not, and the shards' policies then see no tenant.
#[test]
fn the_tenant_is_never_set_with_set_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["services", "jobs", "tests", "infra", "migrations"] {
        files_under(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "the repository's files were found");
    let forbidden = ["set_config('app.", "tenant_id'"].concat();
    let offending: Vec<String> = files
        .iter()
        .filter(|path| std::fs::read_to_string(path).is_ok_and(|text| text.contains(&forbidden)))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        offending.is_empty(),
        "set the tenant with passerelle_core::storage::set_tenant (SET LOCAL): {offending:?}"
    );
}
