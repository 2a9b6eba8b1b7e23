//! Statistics for funders: the one crate that links polars.
//!
//! An export reads the tenant's data for one scheme in one snapshot (`source`, binary COPY into
//! columns, PostgreSQL aggregating what is counted over attendance rows), writes the per-voucher
//! dataset as its rows arrive while keeping what the indicators need of them (`vouchers`),
//! computes the indicators with polars' lazy API (`compute`), blanks small counts in the copies
//! meant for publication (`indicators`), and writes each dataset as Parquet and CSV (`write`)
//! under `tenant/scheme/period/export/` in the statistics folder.

pub mod archive;
pub mod compute;
pub mod extract;
pub mod indicators;
pub mod source;
pub mod vouchers;
pub mod write;

use std::path::Path;

use passerelle_core::Db;
use passerelle_core::statistics::{self, Export, ExportFile};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StatisticsError {
    #[error(transparent)]
    Core(#[from] passerelle_core::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Copy(String),
    #[error("computation failed: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    #[error("cannot write the files: {0}")]
    Io(#[from] std::io::Error),
    #[error("the computation stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What an export produced.
#[derive(Debug, Clone)]
pub struct Summary {
    pub export_id: Uuid,
    pub files: Vec<ExportFile>,
}

/// The datasets, which of them are published (with small counts blanked), and how.
pub const DATASETS: [(&str, bool); 4] = [
    ("indicators", true),
    ("vouchers", false),
    ("attendance_by_epn_module_month", true),
    ("competencies", true),
];

/// Runs one export to the end. An export already finished is left alone (`None`); a failure is
/// recorded on the export with its reason, and returned.
pub async fn run_export(
    db: &Db,
    root: &Path,
    tenant_id: Uuid,
    export_id: Uuid,
) -> Result<Option<Summary>, StatisticsError> {
    let Some(export) = statistics::start(db, tenant_id, export_id).await? else {
        return Ok(None);
    };
    match produce(db, root, tenant_id, &export).await {
        Ok(files) => {
            let superseded = statistics::succeed(db, tenant_id, export_id, &files).await?;
            for old in superseded {
                let folder = old.folder(root, tenant_id);
                match std::fs::remove_dir_all(&folder) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(folder = %folder.display(), error = %e, "cannot delete a superseded export")
                    }
                }
            }
            Ok(Some(Summary { export_id, files }))
        }
        Err(e) => {
            statistics::fail(db, tenant_id, export_id, &e.to_string()).await?;
            Err(e)
        }
    }
}

async fn produce(
    db: &Db,
    root: &Path,
    tenant_id: Uuid,
    export: &Export,
) -> Result<Vec<ExportFile>, StatisticsError> {
    let period = export.period();
    let (threshold, _) = statistics::tenant_settings(db, tenant_id).await?;

    let folder = export.folder(root, tenant_id);
    std::fs::create_dir_all(&folder)?;
    let mut tx = source::snapshot(db, tenant_id).await?;
    let envelope: Option<i64> = sqlx::query_scalar(
        "SELECT (rules ->> 'budget_envelope_cents')::bigint FROM scheme_versions
         WHERE tenant_id = $3 AND scheme_id = $1 AND effective_from < $2 ORDER BY version DESC LIMIT 1",
    )
    .bind(export.scheme_id)
    .bind(period.end)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .flatten();

    // The per-voucher rows go to a thread that writes them while the next ones are decoded; at
    // most one batch waits between the two, so that memory holds three batches (one decoded, one
    // waiting, one written), never the whole result.
    let (batches, mut received) = tokio::sync::mpsc::channel::<polars::prelude::DataFrame>(1);
    let mut splitter = vouchers::Splitter::new(&folder, &period, &export.scheme_code);
    let split = tokio::task::spawn_blocking(move || {
        while let Some(batch) = received.blocking_recv() {
            splitter.push(batch)?;
        }
        Ok::<_, StatisticsError>(splitter)
    });
    let read = source::read(
        &mut tx,
        export.scheme_id,
        &period,
        export.funder_id,
        vouchers::BATCH_ROWS,
        &batches,
    )
    .await;
    drop(batches);
    let splitter = split.await??;
    let sources = read?;
    tx.commit().await?;

    tokio::task::spawn_blocking(move || -> Result<Vec<ExportFile>, StatisticsError> {
        let (mut files, holders) = splitter.finish()?;
        let computed = compute::compute(sources, holders, &period, envelope)?;
        let label = period.label();

        let mask = indicators::suppressed(&computed.indicators, threshold);
        let full = indicators::frame(&computed.indicators, &label, None)?;
        let published = indicators::frame(&computed.indicators, &label, Some(&mask))?;
        files.extend(write::both(&folder, "indicators", false, &full)?);
        files.extend(write::both(&folder, "indicators", true, &published)?);

        let mut attendance = computed.attendance;
        let attendance_published =
            indicators::suppress_counts(&attendance, "presences", &["minutes"], None, threshold)?;
        attendance.with_column(polars::prelude::Column::new(
            "masque".into(),
            vec![false; attendance.height()],
        ))?;
        files.extend(write::both(
            &folder,
            "attendance_by_epn_module_month",
            false,
            &attendance,
        )?);
        files.extend(write::both(
            &folder,
            "attendance_by_epn_module_month",
            true,
            &attendance_published,
        )?);

        let mut competencies = computed.competencies;
        let competencies_published = indicators::suppress_counts(
            &competencies,
            "beneficiaires",
            &[],
            Some(&["competence", "niveau"]),
            threshold,
        )?;
        competencies.with_column(polars::prelude::Column::new(
            "masque".into(),
            vec![false; competencies.height()],
        ))?;
        files.extend(write::both(&folder, "competencies", false, &competencies)?);
        files.extend(write::both(
            &folder,
            "competencies",
            true,
            &competencies_published,
        )?);
        Ok(files)
    })
    .await?
}
