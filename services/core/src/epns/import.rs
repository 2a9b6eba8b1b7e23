//! Import from the national open-data format for *lieux de médiation numérique* (schéma ANCT):
//! a CSV file, multi-valued fields joined with `|`. Re-importing updates each place found by
//! (`source`, `id`) and creates no duplicate; each row gets its line in the report.

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::{EpnDetails, upsert};
use crate::audit::{self, Actor};
use crate::vouchers::bulk::decode;
use crate::{Db, Error};

pub const MAX_ROWS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportStatus {
    Created,
    Updated,
    Refused,
}

#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub source_id: Option<String>,
    pub status: ImportStatus,
    pub epn_id: Option<Uuid>,
    pub reason: Option<String>,
}

fn multi(value: &str) -> Vec<String> {
    value
        .split('|')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

pub async fn import(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    file: &[u8],
) -> Result<Vec<ImportRow>, Error> {
    let text = decode(file).replace("\r\n", "\n").replace('\r', "\n");
    let header_line = text.lines().next().unwrap_or_default();
    let delimiter = if header_line.matches(';').count() > header_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::invalid("file", format!("unreadable header line: {e}")))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let missing: Vec<&str> = ["id", "nom", "source"]
        .into_iter()
        .filter(|c| !headers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "file",
            format!(
                "not the lieux de médiation numérique format: missing column(s) {}",
                missing.join(", ")
            ),
        ));
    }

    let mut report = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::invalid("file", format!("unreadable CSV: {e}")))?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if report.len() == MAX_ROWS {
            return Err(Error::invalid(
                "file",
                format!("at most {MAX_ROWS} places per file"),
            ));
        }
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let get = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .unwrap_or_default()
        };
        let source_id = optional(get("id"));
        let refuse = |reason: String| ImportRow {
            line,
            source_id: source_id.clone(),
            status: ImportStatus::Refused,
            epn_id: None,
            reason: Some(reason),
        };
        let number = |name: &str| -> Result<Option<f64>, String> {
            optional(get(name))
                .map(|v| {
                    v.replace(',', ".")
                        .parse::<f64>()
                        .map_err(|_| format!("{name} : « {v} » n'est pas un nombre"))
                })
                .transpose()
        };
        let (latitude, longitude) = match (number("latitude"), number("longitude")) {
            (Ok(lat), Ok(lon)) => (lat, lon),
            (Err(e), _) | (_, Err(e)) => {
                report.push(refuse(e));
                continue;
            }
        };
        let updated_on =
            match optional(get("date_maj")).map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d")) {
                Some(Err(_)) => {
                    report.push(refuse(format!(
                        "date_maj : « {} » n'est pas une date AAAA-MM-JJ",
                        get("date_maj")
                    )));
                    continue;
                }
                other => other.and_then(Result::ok),
            };
        let (Some(id), Some(source)) = (source_id.clone(), optional(get("source"))) else {
            report.push(refuse("id et source sont obligatoires".into()));
            continue;
        };
        let details = EpnDetails {
            name: get("nom").trim().to_owned(),
            pivot: optional(get("pivot")).map(|p| p.replace(' ', "")),
            address: optional(get("adresse")),
            postal_code: optional(get("code_postal")),
            commune: optional(get("commune")),
            commune_insee: optional(get("code_insee")),
            latitude,
            longitude,
            emails: multi(get("courriels")),
            phone: optional(get("telephone")),
            website: multi(get("site_web")).into_iter().next(),
            opening_hours: optional(get("horaires")),
            services: multi(get("services")),
            typology: multi(get("typologie")),
            source: Some(source.clone()),
            source_id: Some(id.clone()),
            source_updated_on: updated_on,
        };
        if let Err(Error::Invalid(fields)) = details.validate() {
            report.push(refuse(
                fields
                    .iter()
                    .map(|f| format!("{} : {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join(" ; "),
            ));
            continue;
        }

        let mut tx = db.begin_tenant(tenant_id).await?;
        let existing: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM epns WHERE source = $1 AND source_id = $2")
                .bind(&source)
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
        let epn = upsert(
            &mut tx,
            tenant_id,
            existing.unwrap_or_else(Uuid::now_v7),
            &details,
        )
        .await;
        match epn {
            Ok(epn) => {
                tx.commit().await?;
                report.push(ImportRow {
                    line,
                    source_id: Some(id),
                    status: if existing.is_some() {
                        ImportStatus::Updated
                    } else {
                        ImportStatus::Created
                    },
                    epn_id: Some(epn.id),
                    reason: None,
                });
            }
            Err(Error::Database(err)) => return Err(Error::Database(err)),
            Err(err) => {
                tx.rollback().await?;
                report.push(refuse(err.to_string()));
            }
        }
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let count = |s: ImportStatus| report.iter().filter(|r| r.status == s).count();
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "epns.imported",
        "epn",
        "open-data",
        json!({ "created": count(ImportStatus::Created), "updated": count(ImportStatus::Updated), "refused": count(ImportStatus::Refused) }),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}
