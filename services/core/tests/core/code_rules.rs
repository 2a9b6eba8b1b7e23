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

/// The rows processes keep in memory (`storage::memory`): a tenant's row, users and tokens. A
/// function of the product that changes one announces it with `Tx::changed` in the same
/// transaction, or other processes keep serving what it changed (a revoked token) for up to
/// `KEPT_FOR`. Changes that no kept value depends on are named here with why.
#[test]
fn every_change_to_a_row_kept_in_memory_is_announced() {
    const KEPT: [&str; 5] = [
        "tenants",
        "users",
        "api_tokens",
        "platform_tokens",
        "platform_admins",
    ];
    /// Columns whose change leaves every kept principal and tenant right.
    const NOT_KEPT: [&str; 2] = [
        // Recorded by authentication itself.
        "last_used_at",
        // Signs in to the portal, whose sessions are not kept in memory; tokens do not depend on it.
        "password_hash",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    files_under(&root, &mut files);
    let mut checked = 0;
    let mut unannounced = Vec::new();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        let text = std::fs::read_to_string(path).expect("source file");
        for function in text.split("\nfn ").flat_map(|part| part.split("async fn ")) {
            for table in KEPT {
                for verb in ["UPDATE", "DELETE FROM"] {
                    let statement = format!("{verb} {table} ");
                    for (at, _) in function.match_indices(&statement) {
                        let line = function[at..].lines().next().unwrap_or_default();
                        if NOT_KEPT.iter().any(|column| line.contains(column)) {
                            continue;
                        }
                        checked += 1;
                        if !function.contains(".changed(") {
                            let name = function.split('(').next().unwrap_or_default();
                            unannounced.push(format!("{}: {name}: {line}", path.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 8, "the changes were found ({checked})");
    assert!(
        unannounced.is_empty(),
        "announce these changes with tx.changed(Change::…): {unannounced:#?}"
    );
}
