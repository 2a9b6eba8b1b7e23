//! The tenant admin takes the territory's data away (`archive`): asks for an archive, follows it,
//! downloads the zip while it is kept; the same lifecycle and limits as `/v1/archives`.

use passerelle_core::archive::requests::{self, ArchiveStatus, KEPT_FOR_DAYS, PER_DAY};
use passerelle_core::labels;
use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Path};
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::forms::query_param;
use super::{OrBack, PageResult, Portal, message, see_other};
use crate::access;
use crate::state::AppState;

#[derive(Serialize)]
struct ArchiveRow {
    id: uuid::Uuid,
    requested_at: String,
    status: &'static str,
    /// Downloadable now.
    ready: bool,
    under_way: bool,
    size: Option<String>,
    sha256: Option<String>,
    expires_at: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ArchivePage {
    archives: Vec<ArchiveRow>,
    under_way: bool,
    per_day: i64,
    kept_for_days: i64,
    asked: bool,
    refused: Option<String>,
}

/// A size in bytes as a person reads it: « 12,4 Mo ».
fn size_fr(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["octets", "Ko", "Mo", "Go"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} octets")
    } else {
        format!("{value:.1} {}", UNITS[unit]).replace('.', ",")
    }
}

async fn page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    asked: bool,
    refused: Option<String>,
) -> PageResult<Response> {
    let tz = portal.tenant.tz();
    let local = |at: chrono::DateTime<chrono::Utc>| {
        at.with_timezone(&tz).format("%d/%m/%Y à %H:%M").to_string()
    };
    let archives = requests::list(&state.db, portal.tenant.id, 20).await?;
    let rows: Vec<ArchiveRow> = archives
        .into_iter()
        .map(|a| ArchiveRow {
            id: a.id,
            requested_at: local(a.requested_at),
            status: labels::archive_status(a.status),
            ready: a.status == ArchiveStatus::Succeeded,
            under_way: matches!(a.status, ArchiveStatus::Queued | ArchiveStatus::Running),
            size: a.byte_size.map(size_fr),
            sha256: a.sha256,
            expires_at: a.expires_at.map(local),
            error: a.error,
        })
        .collect();
    Ok(portal.page(
        status,
        "archive.html",
        ArchivePage {
            under_way: rows.iter().any(|r| r.under_way),
            archives: rows,
            per_day: PER_DAY,
            kept_for_days: KEPT_FOR_DAYS,
            asked,
            refused,
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_ARCHIVES).await?;
    let asked = query_param(req, "demandee").is_some();
    page(&state, &portal, StatusCode::OK, asked, None).await
}

#[derive(Deserialize)]
pub(super) struct AskForm {
    #[serde(default)]
    csrf_token: String,
}

#[handler]
pub(super) async fn ask(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<AskForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::REQUEST_ARCHIVE,
        &form.csrf_token,
    )
    .await?;
    match requests::request(&state.db, portal.tenant.id, portal.actor()).await {
        Ok(_) => Ok(see_other(&format!("{}/archive?demandee=1", portal.path()))),
        Err(e) => {
            let refused = super::refusal_of(&e)?;
            let text = refused.form.or_else(|| refused.fields.into_values().next());
            let status = match &e {
                passerelle_core::Error::Refused(r) => crate::problem::refusal_status(r.kind()),
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            page(&state, &portal, status, false, text).await
        }
    }
}

#[handler]
pub(super) async fn download(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::DOWNLOAD_ARCHIVE).await?;
    let id = super::path_id(&id, "archive")?;
    let back = format!("{}/archive", portal.path());
    let (archive, path) = requests::open_file(
        &state.db,
        &state.archive_dir,
        portal.tenant.id,
        portal.actor(),
        id,
    )
    .await
    .or_back(&back, "Revenir aux archives")?;
    match tokio::fs::File::open(&path).await {
        Ok(file) => Ok(Response::builder()
            .status(StatusCode::OK)
            .content_type("application/zip")
            .header(
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"passerelle-archive-{}-{}.zip\"",
                    portal.tenant.slug,
                    archive
                        .finished_at
                        .unwrap_or(archive.requested_at)
                        .format("%Y%m%d-%H%M%S")
                ),
            )
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::from_async_read(file))),
        Err(e) => {
            tracing::error!(error = %e, archive = %archive.id, "archive file unreadable");
            Ok(message(
                StatusCode::CONFLICT,
                "Fichier indisponible",
                "Cette archive est enregistrée mais son fichier ne peut pas être lu pour l’instant. Prévenez l’exploitant du service.",
                Some((&back, "Revenir aux archives")),
            ))
        }
    }
}
