//! A territory's archive as one zip file: the tables as CSV and Parquet, the statistics files, a
//! French notice and `manifest.json`; and the restore of such a file into this deployment.
//!
//! The tables come from `passerelle_core::archive`; this module adds what needs polars (the
//! Parquet copies) and the files on disk. The work happens in a folder next to the archive, which
//! is written under a temporary name and renamed once whole.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use passerelle_core::Db;
use passerelle_core::archive::manifest::{
    FORMAT_VERSION, LeftOut, MANIFEST_FILE, Manifest, README_FILE,
};
use passerelle_core::archive::restore::{self, RestoreOptions};
use passerelle_core::archive::tables::LEFT_OUT;
use passerelle_core::archive::{ArchiveError, export, is_safe_path};
use passerelle_core::tenancy::tenants::Tenant;
use uuid::Uuid;
use zip::write::SimpleFileOptions;

const STATISTICS_FOLDER: &str = "statistics";

/// Writes the archive of `tenant_id` to `out`; returns its manifest.
pub async fn build(
    db: &Db,
    tenant_id: Uuid,
    statistics_dir: &Path,
    out: &Path,
) -> Result<Manifest, ArchiveError> {
    let work = scratch_folder(out);
    let result = build_in(db, tenant_id, statistics_dir, out, &work).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

async fn build_in(
    db: &Db,
    tenant_id: Uuid,
    statistics_dir: &Path,
    out: &Path,
    work: &Path,
) -> Result<Manifest, ArchiveError> {
    let exported = export::export_tables(db, tenant_id, work).await?;
    let mut tables = exported.tables;
    for entry in &mut tables {
        let path = format!("tables/{}.parquet", entry.table.name);
        let (csv, parquet, columns) = (
            work.join(&entry.csv.path),
            work.join(&path),
            entry.table.columns.clone(),
        );
        tokio::task::spawn_blocking(move || {
            passerelle_statistics::archive::parquet_from_csv(&csv, &columns, &parquet)
        })
        .await
        .map_err(|e| ArchiveError::Io(std::io::Error::other(e)))?
        .map_err(|e| ArchiveError::Io(std::io::Error::other(e.to_string())))?;
        entry.parquet = Some(export::describe_file(work, &path).await?);
    }

    let mut files = vec![exported.tenant_file];
    let tenant_statistics = statistics_dir.join(tenant_id.to_string());
    for relative in files_under(&tenant_statistics)? {
        let path = format!("{STATISTICS_FOLDER}/{relative}");
        let target = work.join(&path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::copy(tenant_statistics.join(&relative), &target).await?;
        files.push(export::describe_file(work, &path).await?);
    }
    tokio::fs::write(work.join(README_FILE), notice(&exported.tenant.name)).await?;
    files.push(export::describe_file(work, README_FILE).await?);

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        schema_version: exported.schema_version,
        exported_at: Utc::now(),
        tenant: exported.tenant,
        tables,
        files,
        left_out: LEFT_OUT
            .iter()
            .map(|(table, reason)| LeftOut {
                table: (*table).into(),
                reason: (*reason).into(),
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ArchiveError::Io(std::io::Error::other(e)))?;
    tokio::fs::write(work.join(MANIFEST_FILE), json).await?;

    let paths: Vec<String> = std::iter::once(MANIFEST_FILE.to_owned())
        .chain(manifest.all_files().map(|f| f.path.clone()))
        .collect();
    let (work, out) = (work.to_owned(), out.to_owned());
    tokio::task::spawn_blocking(move || pack(&work, &paths, &out))
        .await
        .map_err(|e| ArchiveError::Io(std::io::Error::other(e)))??;
    Ok(manifest)
}

/// Restores the archive at `archive` as a new tenant, its statistics files included.
pub async fn restore(
    db: &Db,
    archive: &Path,
    statistics_dir: &Path,
    options: &RestoreOptions,
) -> Result<Tenant, ArchiveError> {
    let work = std::env::temp_dir().join(format!("passerelle-restore-{}", Uuid::new_v4()));
    let result = async {
        let (from, to) = (archive.to_owned(), work.clone());
        tokio::task::spawn_blocking(move || unpack(&from, &to))
            .await
            .map_err(|e| ArchiveError::Io(std::io::Error::other(e)))??;
        let tenant = restore::restore_tables(db, &work, options).await?;
        let statistics = work.join(STATISTICS_FOLDER);
        let target = statistics_dir.join(tenant.id.to_string());
        for relative in files_under(&statistics)? {
            let to = target.join(&relative);
            if let Some(parent) = to.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::copy(statistics.join(&relative), to).await?;
        }
        Ok(tenant)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

/// The manifest of an archive file, read without unpacking the rest.
pub fn read_manifest(archive: &Path) -> Result<Manifest, ArchiveError> {
    let mut zip = open_zip(archive)?;
    let entry = zip
        .by_name(MANIFEST_FILE)
        .map_err(|_| ArchiveError::Damaged(format!("{MANIFEST_FILE} is missing")))?;
    serde_json::from_reader(entry)
        .map_err(|e| ArchiveError::Damaged(format!("{MANIFEST_FILE} is not a manifest: {e}")))
}

fn scratch_folder(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.{}.d", Uuid::new_v4().simple()))
}

/// Paths (with `/`) of the files under `root`, sorted; none when it does not exist. Files whose
/// name starts with a dot are being written and are skipped.
fn files_under(root: &Path) -> Result<Vec<String>, std::io::Error> {
    let mut found = Vec::new();
    let mut pending = vec![(root.to_owned(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type()?.is_dir() {
                pending.push((entry.path(), relative));
            } else {
                found.push(relative);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn pack(work: &Path, paths: &[String], out: &Path) -> Result<(), ArchiveError> {
    let partial = scratch_folder(out).with_extension("partial");
    let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(&partial)?));
    for path in paths {
        let source = work.join(path);
        let size = std::fs::metadata(&source)?.len();
        // Parquet is compressed already; CSV, JSON and text shrink several times.
        let method = if path.ends_with(".parquet") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(size >= u64::from(u32::MAX));
        zip.start_file(path.as_str(), options).map_err(zip_error)?;
        std::io::copy(&mut BufReader::new(File::open(&source)?), &mut zip)?;
    }
    zip.finish().map_err(zip_error)?.flush()?;
    std::fs::rename(&partial, out)?;
    Ok(())
}

fn open_zip(archive: &Path) -> Result<zip::ZipArchive<BufReader<File>>, ArchiveError> {
    zip::ZipArchive::new(BufReader::new(File::open(archive)?))
        .map_err(|e| ArchiveError::Damaged(format!("not a zip file: {e}")))
}

/// Unpacks the archive; an entry whose name would land outside `to` is refused, not skipped.
fn unpack(archive: &Path, to: &Path) -> Result<(), ArchiveError> {
    let mut zip = open_zip(archive)?;
    std::fs::create_dir_all(to)?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(zip_error)?;
        let name = entry.name().map_err(zip_error)?.into_owned();
        if entry.is_dir() {
            continue;
        }
        if !is_safe_path(&name) {
            return Err(ArchiveError::Damaged(format!(
                "{name} is not a path inside the archive"
            )));
        }
        let target = to.join(&name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::io::copy(&mut entry, &mut BufWriter::new(File::create(target)?))?;
    }
    Ok(())
}

fn zip_error(e: zip::result::ZipError) -> ArchiveError {
    ArchiveError::Damaged(e.to_string())
}

/// The archive's French notice: what each file is and how to read it.
fn notice(tenant_name: &str) -> String {
    format!(
        "Archive des données de {tenant_name}\n\
         ====================================\n\n\
         Cette archive contient toutes les données du territoire dans Passerelle, au moment de\n\
         l'export, dans des formats ouverts :\n\n\
         - manifest.json : la table des matières. Pour chaque table : ses colonnes et leur type\n  \
           PostgreSQL, son nombre de lignes, et l'empreinte SHA-256 de chaque fichier.\n\
         - tenant.csv : la fiche du territoire.\n\
         - tables/<table>.csv : une table par fichier, encodée en UTF-8, séparateur virgule,\n  \
           première ligne d'en-têtes. Une cellule vide est une valeur absente (NULL) ; un texte\n  \
           vide s'écrit \"\". Les dates sont au format AAAA-MM-JJ, les horodatages en UTC.\n\
         - tables/<table>.parquet : les mêmes données, typées, pour les outils d'analyse.\n\
         - statistics/ : les fichiers statistiques déjà produits pour les financeurs.\n\n\
         Les mots de passe, jetons d'API, sessions et liens d'invitation n'y figurent pas : ce\n\
         sont des secrets. Après une restauration, chaque utilisateur choisit un nouveau mot de\n\
         passe avec « Mot de passe oublié ».\n\n\
         Pour charger l'archive dans une autre installation de Passerelle :\n  \
           passerelle tenant restore <archive.zip>\n"
    )
}
