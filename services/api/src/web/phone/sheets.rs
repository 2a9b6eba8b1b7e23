//! `POST …/epn/telephone/feuilles`: a sheet the phone saved, sent with its own key. The first
//! answer to a key is kept and given again to the same key, whether the phone sent it twice, ten
//! times, or lost the answer on the way; another key for a voucher already recorded on the
//! session is refused line by line as already recorded. The server's clock decides whether the
//! session has started, whatever the phone's clock said when the sheet was saved.

use std::collections::BTreeMap;

use passerelle_core::Error;
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::{AttendanceStatus, CompetenceLevel};
use passerelle_core::idempotency::{self, Claim, Scope, StoredResponse};
use passerelle_core::refusal::RefusalKind;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::super::epn::Outcome;
use super::super::french as fr;
use super::{animator, forged, json, refused, unavailable};
use crate::middleware::idempotency::REPLAYED_HEADER;
use crate::state::AppState;

/// The most lines a sheet carries: a session's largest capacity, as the portal's sheet.
const MAX_LINES: usize = 500;
/// The most competences a line carries (the API's bound).
const MAX_COMPETENCES: usize = 16;
/// A key is the phone's own (a UUID); anything longer is not one.
const MAX_KEY_LENGTH: usize = 64;
/// Keys of the phone live beside the API's keys of the same user, apart from them.
const KEY_PREFIX: &str = "telephone-feuille:";

/// A line as the phone sends it: a voucher, its attendance, the competences worked by code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SentLine {
    reference: String,
    status: String,
    #[serde(default)]
    competences: BTreeMap<String, String>,
    #[serde(default)]
    off_path: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SentSheet {
    key: String,
    session_id: Uuid,
    entries: Vec<SentLine>,
}

/// What became of a line.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum LineOutcome {
    Recorded,
    /// Recorded already, by another sheet or another phone: nothing was debited again.
    AlreadyRecorded,
    Refused,
}

#[derive(Debug, Serialize)]
struct LineReport {
    reference: String,
    outcome: LineOutcome,
    /// The refusal's problem type, e.g. `insufficient-balance`, for a refused line.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'static str>,
    /// What the animator reads, in French.
    text: String,
}

#[derive(Debug, Serialize)]
struct SheetReport {
    key: String,
    session_id: Uuid,
    recorded: usize,
    refused: usize,
    /// Why the whole sheet was refused (a session not started yet, cancelled, unknown here).
    #[serde(skip_serializing_if = "Option::is_none")]
    whole: Option<String>,
    lines: Vec<LineReport>,
}

/// The entries of a sheet, or why it cannot be read.
fn entries(sheet: &SentSheet) -> Result<Vec<Entry>, &'static str> {
    const UNREADABLE: &str =
        "Une présence ou un niveau de compétence n’est pas un choix de la feuille.";
    if sheet.entries.is_empty() {
        return Err("La feuille ne compte aucune présence cochée.");
    }
    if sheet.entries.len() > MAX_LINES {
        return Err("Une feuille compte au plus 500 personnes.");
    }
    sheet
        .entries
        .iter()
        .map(|line| {
            if line.competences.len() > MAX_COMPETENCES {
                return Err("Une personne compte au plus 16 compétences par séance.");
            }
            let status: AttendanceStatus = line.status.parse().map_err(|_| UNREADABLE)?;
            let competences = line
                .competences
                .iter()
                .map(|(code, level)| {
                    level
                        .parse::<CompetenceLevel>()
                        .map(|level| (code.clone(), level))
                        .map_err(|_| UNREADABLE)
                })
                .collect::<Result<_, _>>()?;
            Ok(Entry {
                reference: line.reference.trim().to_owned(),
                status,
                competences,
                off_path: line.off_path,
            })
        })
        .collect()
}

fn line(entry: &Entry, result: &Result<attendance::Recorded, Error>) -> LineReport {
    let outcome = Outcome::of(&entry.reference, result);
    let kind = match result {
        Err(Error::Refused(refusal)) => Some(refusal.kind()),
        _ => None,
    };
    LineReport {
        reference: entry.reference.clone(),
        outcome: match (result, kind) {
            (Ok(_), _) => LineOutcome::Recorded,
            (Err(_), Some(RefusalKind::AlreadyRecorded)) => LineOutcome::AlreadyRecorded,
            (Err(_), _) => LineOutcome::Refused,
        },
        problem: kind.map(RefusalKind::slug),
        text: outcome.text,
    }
}

/// Records the sheet and tells each line's outcome, or `None` for a fault of the service (logged).
async fn record(
    state: &AppState,
    portal: &super::Portal,
    epn_id: Uuid,
    sheet: &SentSheet,
    entries: &[Entry],
) -> Option<(StatusCode, SheetReport)> {
    let report = |whole: Option<String>, lines: Vec<LineReport>| SheetReport {
        key: sheet.key.clone(),
        session_id: sheet.session_id,
        recorded: lines
            .iter()
            .filter(|l| l.outcome == LineOutcome::Recorded)
            .count(),
        refused: lines
            .iter()
            .filter(|l| l.outcome != LineOutcome::Recorded)
            .count(),
        whole,
        lines,
    };
    match attendance::record(
        &state.db,
        portal.tenant.id,
        epn_id,
        portal.actor(),
        sheet.session_id,
        entries,
    )
    .await
    {
        Ok(results) => {
            let lines = entries
                .iter()
                .zip(&results)
                .map(|(e, r)| line(e, r))
                .collect();
            Some((StatusCode::OK, report(None, lines)))
        }
        Err(e) => {
            let Some(text) = fr::refusal(&e).and_then(|r| r.form) else {
                tracing::error!(error = %e, "phone sheet failed");
                return None;
            };
            let lines = entries
                .iter()
                .map(|entry| LineReport {
                    reference: entry.reference.clone(),
                    outcome: LineOutcome::Refused,
                    problem: match &e {
                        Error::Refused(refusal) => Some(refusal.kind().slug()),
                        _ => None,
                    },
                    text: format!("{} : {text}", entry.reference),
                })
                .collect();
            Some((StatusCode::UNPROCESSABLE_ENTITY, report(Some(text), lines)))
        }
    }
}

#[handler]
pub(in crate::web) async fn send(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    body: Body,
) -> Response {
    let (portal, epn_id) = match animator(&state, req, &slug).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    if forged(req, &portal) {
        return refused(
            StatusCode::FORBIDDEN,
            "formulaire",
            "Cette feuille n’a pas été envoyée depuis l’application de ce service, ou votre session a changé : rechargez l’application.",
        );
    }
    let Ok(bytes) = body.into_bytes().await else {
        return unavailable();
    };
    let unreadable = |message: &str| refused(StatusCode::BAD_REQUEST, "illisible", message);
    let Ok(sheet) = serde_json::from_slice::<SentSheet>(&bytes) else {
        return unreadable("La feuille envoyée n’est pas lisible : rechargez l’application.");
    };
    if sheet.key.is_empty()
        || sheet.key.len() > MAX_KEY_LENGTH
        || !sheet
            .key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return unreadable("La clé de la feuille n’est pas celle d’une feuille du téléphone.");
    }
    let entries = match entries(&sheet) {
        Ok(entries) => entries,
        Err(message) => return unreadable(message),
    };
    let Some(user_id) = portal.user_id() else {
        return unavailable();
    };
    let scope = Scope::Tenant(portal.tenant.id);
    let key = format!("{KEY_PREFIX}{}", sheet.key);
    let fingerprint = Sha256::digest(&bytes).to_vec();
    match idempotency::claim(&state.db, scope, user_id, &key, &fingerprint).await {
        Ok(Claim::Acquired) => {}
        Ok(Claim::Replay(stored)) => {
            return Response::builder()
                .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
                .content_type("application/json; charset=utf-8")
                .header(REPLAYED_HEADER, "true")
                .body(stored.body);
        }
        Ok(Claim::Mismatch) => {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "cle-reutilisee",
                "Une autre feuille a déjà été envoyée sous cette clé : enregistrez la feuille à nouveau.",
            );
        }
        Ok(Claim::InProgress) => {
            return refused(
                StatusCode::CONFLICT,
                "en-cours",
                "Cette feuille est en cours d’envoi : la réponse arrive, réessayez dans un instant.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "phone sheet key claim failed");
            return unavailable();
        }
    }
    let Some((status, report)) = record(&state, &portal, epn_id, &sheet, &entries).await else {
        if let Err(e) = idempotency::release(&state.db, scope, user_id, &key).await {
            tracing::error!(error = %e, "phone sheet key release failed");
        }
        return unavailable();
    };
    let answer = json(status, &report);
    let stored = StoredResponse {
        status: status.as_u16(),
        headers: Vec::new(),
        body: serde_json::to_vec(&report).unwrap_or_default(),
        withheld: false,
    };
    if let Err(e) = idempotency::complete(&state.db, scope, user_id, &key, &stored).await {
        tracing::error!(error = %e, "phone sheet answer not kept");
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(lines: serde_json::Value) -> SentSheet {
        serde_json::from_value(serde_json::json!({
            "key": "k", "session_id": Uuid::nil(), "entries": lines,
        }))
        .expect("a sheet")
    }

    #[test]
    fn a_line_is_read_with_its_competences_and_mark() {
        let read = entries(&sheet(serde_json::json!([
            { "reference": " LOT-1 ", "status": "present", "competences": { "2.1": "practised" }, "off_path": true },
            { "reference": "LOT-2", "status": "absent" },
        ])))
        .expect("readable");
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].reference, "LOT-1");
        assert_eq!(
            read[0].competences,
            vec![("2.1".to_owned(), CompetenceLevel::Practised)]
        );
        assert!(read[0].off_path);
        assert_eq!(read[1].status, AttendanceStatus::Absent);
    }

    #[test]
    fn a_forged_status_or_level_or_an_empty_or_oversized_sheet_is_refused() {
        assert!(
            entries(&sheet(
                serde_json::json!([{ "reference": "A", "status": "here" }])
            ))
            .is_err()
        );
        assert!(
            entries(&sheet(serde_json::json!([
                { "reference": "A", "status": "present", "competences": { "1.1": "expert" } }
            ])))
            .is_err()
        );
        assert!(entries(&sheet(serde_json::json!([]))).is_err());
        let many: Vec<_> = (0..=MAX_LINES)
            .map(|i| serde_json::json!({ "reference": format!("R{i}"), "status": "absent" }))
            .collect();
        assert!(entries(&sheet(serde_json::Value::Array(many))).is_err());
        let competences: serde_json::Map<_, _> = (0..=MAX_COMPETENCES)
            .map(|i| (format!("{i}.1"), serde_json::json!("acquired")))
            .collect();
        assert!(
            entries(&sheet(serde_json::json!([
                { "reference": "A", "status": "present", "competences": competences }
            ])))
            .is_err()
        );
    }
}
