//! Imports from the portal: the file streams from the form into PostgreSQL (the form's token is
//! checked before a byte of it is stored), the import runs in the background, and its page shows
//! a progress bar that follows it, then its report.

use std::collections::HashMap;

use passerelle_core::imports::{self, Import, ImportKind, ImportLine, LineOutcome, Target};
use passerelle_core::pagination::PageRequest;
use poem::http::StatusCode;
use poem::web::{Data, Multipart, Path};
use poem::{Request, Response, handler};
use serde::Serialize;
use uuid::Uuid;

use super::french::FormRefusal;
use super::{PageResult, Portal};
use crate::access;
use crate::state::AppState;
use crate::v1::imports::run_in_background;

/// What became of a form with a file.
pub(super) enum Received {
    /// The form's token or origin is wrong: the answer is ready.
    Forbidden(Response),
    /// Something to correct on the form; the text fields as sent, to fill it again.
    Invalid {
        fields: HashMap<String, String>,
        errors: FormRefusal,
    },
    /// Stored and running in the background.
    Started(Import),
}

/// Reads a form whose text fields come before its file `fichier` (as the portal's forms send
/// them) and streams the file into a new import for `target`, which the text fields decide.
pub(super) async fn receive(
    state: &AppState,
    portal: &Portal,
    req: &Request,
    mut multipart: Multipart,
    target: impl FnOnce(&HashMap<String, String>) -> Result<Target, FormRefusal>,
    max_bytes: usize,
) -> PageResult<Received> {
    let mut fields = HashMap::new();
    let token =
        |fields: &HashMap<String, String>| fields.get("csrf_token").cloned().unwrap_or_default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => {
                let errors = FormRefusal::default().field(
                    "fichier",
                    format!(
                        "Le fichier n’a pas pu être reçu en entier : il doit faire {} Mo au plus.",
                        max_bytes / (1024 * 1024)
                    ),
                );
                return Ok(Received::Invalid { fields, errors });
            }
        };
        match field.name().map(str::to_owned) {
            Some(name) if name == "fichier" => {
                if let Some(page) = portal.form_refused(req, &token(&fields)) {
                    return Ok(Received::Forbidden(page));
                }
                let target = match target(&fields) {
                    Ok(target) => target,
                    Err(errors) => return Ok(Received::Invalid { fields, errors }),
                };
                let file_name = field.file_name().map(str::to_owned);
                let stored = imports::receive(
                    &state.db,
                    portal.tenant.id,
                    portal.actor(),
                    target,
                    file_name,
                    field.into_async_read(),
                    max_bytes,
                )
                .await;
                return match stored {
                    Ok(import) => {
                        run_in_background(state.db.clone(), portal.tenant.id, import.id);
                        Ok(Received::Started(import))
                    }
                    Err(e) => {
                        // The core names the file `file`, the form `fichier`.
                        let refusal = super::refusal_of(&e)?;
                        let message = refusal
                            .fields
                            .into_values()
                            .next()
                            .or(refusal.form)
                            .unwrap_or_default();
                        Ok(Received::Invalid {
                            fields,
                            errors: FormRefusal::default().field("fichier", message),
                        })
                    }
                };
            }
            Some(name) => {
                let text = field.text().await.unwrap_or_default();
                fields.insert(name, text);
            }
            None => {}
        }
    }
    if let Some(page) = portal.form_refused(req, &token(&fields)) {
        return Ok(Received::Forbidden(page));
    }
    let errors = FormRefusal::default().field("fichier", "Choisissez le fichier CSV à envoyer.");
    Ok(Received::Invalid { fields, errors })
}

/// "2,4 Mo", "640 Ko": a file's size as people read it.
fn size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} octets"),
        b if b < 1024 * 1024 => format!("{} Ko", b / 1024),
        b => format!("{:.1} Mo", b as f64 / (1024.0 * 1024.0)).replace('.', ","),
    }
}

/// A line of the report as the page shows it.
#[derive(Serialize)]
struct LineRow {
    line: i64,
    outcome: &'static str,
    tone: &'static str,
    source_id: Option<String>,
    reference: Option<String>,
    message: Option<String>,
}

impl LineRow {
    fn new(l: ImportLine, kind: ImportKind) -> Self {
        let (outcome, tone) = match (l.outcome, kind) {
            (LineOutcome::Created, ImportKind::Epns) => ("créé", "success"),
            (LineOutcome::Created, ImportKind::Vouchers) => ("émis", "success"),
            (LineOutcome::Updated, _) => ("mis à jour", "success"),
            (LineOutcome::AlreadyHeld, _) => ("déjà émis par un envoi précédent", "info"),
            (LineOutcome::Refused, _) => ("refusé", "error"),
        };
        // A voucher row refused on a field reads as the form would say it; a business refusal
        // (`row`) is in French already.
        let message = match (kind, l.field.as_deref(), l.message) {
            (ImportKind::Vouchers, Some(field), Some(message)) if field != "row" => {
                super::french::refusal(&passerelle_core::Error::invalid(field, message.clone()))
                    .and_then(|r| r.fields.into_values().next())
                    .or(Some(message))
            }
            (_, _, message) => message,
        };
        Self {
            line: l.line,
            outcome,
            tone,
            source_id: l.source_id,
            reference: l.reference,
            message: message.or(l.warning),
        }
    }
}

/// The import's page: progress while it runs, counts and report when it is done.
#[derive(Serialize)]
struct ImportPage {
    kind: ImportKind,
    file_name: Option<String>,
    size: String,
    finished: bool,
    failed: bool,
    percent: i64,
    rows_read: i32,
    created: i32,
    updated: i32,
    refused: i32,
    warnings: i32,
    error: Option<String>,
    lines: Vec<LineRow>,
    /// More lines than the page shows: the API lists them all.
    more_lines: bool,
    back: String,
}

/// The report's first lines shown on the page.
const LINES_SHOWN: u32 = 100;

async fn page(
    state: &AppState,
    portal: &Portal,
    id: Uuid,
    kind: ImportKind,
    prescriber_scope: Option<Uuid>,
) -> PageResult {
    let import = match imports::get(&state.db, portal.tenant.id, id, prescriber_scope).await {
        Ok(import) if import.kind == kind => import,
        Ok(_) => {
            return Err(super::failed(&passerelle_core::Error::NotFound("import"), None).into());
        }
        Err(e) => return Err(super::failed(&e, None).into()),
    };
    let finished = import.status.is_finished();
    let (lines, more_lines) = if finished {
        let request =
            PageRequest::parse(Some(LINES_SHOWN), None).map_err(|e| super::failed(&e, None))?;
        let page = imports::lines(&state.db, portal.tenant.id, id, prescriber_scope, request)
            .await
            .map_err(|e| super::failed(&e, None))?;
        (
            page.items
                .into_iter()
                .map(|l| LineRow::new(l, kind))
                .collect(),
            page.next_cursor.is_some(),
        )
    } else {
        (Vec::new(), false)
    };
    let back = match kind {
        ImportKind::Epns => format!("{}/epns", portal.path()),
        ImportKind::Vouchers => format!("{}/cheques/import", portal.path()),
    };
    Ok(portal.page(
        StatusCode::OK,
        "import.html",
        ImportPage {
            kind,
            size: size(import.byte_size),
            finished,
            failed: import.error.is_some(),
            percent: import.percent_done(),
            rows_read: import.rows_read,
            created: import.created,
            updated: import.updated,
            refused: import.refused,
            warnings: import.warnings,
            error: import.error,
            file_name: import.file_name,
            lines,
            more_lines,
            back,
        },
    ))
}

/// An import of places, for the tenant admin.
#[handler]
pub(super) async fn places(
    Path((slug, id)): Path<(String, Uuid)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::IMPORT_EPNS).await?;
    page(&state, &portal, id, ImportKind::Epns, None).await
}

/// An import of vouchers, for the prescriber organisation that sent it.
#[handler]
pub(super) async fn vouchers(
    Path((slug, id)): Path<(String, Uuid)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::BULK_ISSUE_VOUCHERS).await?;
    let Some(prescriber_id) = portal.prescriber_id() else {
        return Err(super::failed(&passerelle_core::Error::NotFound("import"), None).into());
    };
    page(
        &state,
        &portal,
        id,
        ImportKind::Vouchers,
        Some(prescriber_id),
    )
    .await
}
