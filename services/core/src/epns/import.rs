//! Import from the national open-data format for *lieux de médiation numérique* (schéma ANCT):
//! a CSV file, multi-valued fields joined with `|`. Re-importing updates each place found by
//! (`source`, `id`) and creates no duplicate; each row gets its line in the report.

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::{EpnDetails, upsert};
use crate::audit::{self, Actor};
use crate::vouchers::bulk::{decode, unreadable};
use crate::{Db, Error, FieldRule};

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

/// One data row of the file, read and checked, before anything is written.
#[derive(Debug)]
struct Place {
    line: u64,
    source_id: Option<String>,
    /// The place's `source`, `id` and details, or why the row is refused.
    checked: Result<(String, String, EpnDetails), String>,
}

/// Reads the whole file; a file that is not in the format is refused as a whole, a bad row only
/// on its own line.
fn read_places(file: &[u8]) -> Result<Vec<Place>, Error> {
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
        .map_err(|e| unreadable(&e))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let missing: Vec<&str> = ["id", "nom", "source"]
        .into_iter()
        .filter(|c| !headers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::breaks(
            "file",
            FieldRule::NotOpenDataFormat {
                missing: missing.into_iter().map(str::to_owned).collect(),
            },
        ));
    }

    let mut places = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| unreadable(&e))?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if places.len() == MAX_ROWS {
            return Err(Error::breaks(
                "file",
                FieldRule::TooManyRows { max: MAX_ROWS },
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
        let refuse = |reason: String| Place {
            line,
            source_id: source_id.clone(),
            checked: Err(reason),
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
                places.push(refuse(e));
                continue;
            }
        };
        let updated_on =
            match optional(get("date_maj")).map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d")) {
                Some(Err(_)) => {
                    places.push(refuse(format!(
                        "date_maj : « {} » n'est pas une date AAAA-MM-JJ",
                        get("date_maj")
                    )));
                    continue;
                }
                other => other.and_then(Result::ok),
            };
        let (Some(id), Some(source)) = (source_id.clone(), optional(get("source"))) else {
            places.push(refuse("id et source sont obligatoires".into()));
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
            places.push(refuse(
                fields
                    .iter()
                    .map(|f| format!("{} : {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join(" ; "),
            ));
            continue;
        }
        places.push(Place {
            line,
            source_id,
            checked: Ok((source, id, details)),
        });
    }
    Ok(places)
}

pub async fn import(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    file: &[u8],
) -> Result<Vec<ImportRow>, Error> {
    let mut report = Vec::new();
    for place in read_places(file)? {
        let Place {
            line,
            source_id,
            checked,
        } = place;
        let refuse = |reason: String| ImportRow {
            line,
            source_id: source_id.clone(),
            status: ImportStatus::Refused,
            epn_id: None,
            reason: Some(reason),
        };
        let (source, id, details) = match checked {
            Ok(checked) => checked,
            Err(reason) => {
                report.push(refuse(reason));
                continue;
            }
        };
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

/// Properties over any file a user can upload (proptest): reading never panics, and under a valid
/// header every data row is reported once at most, on its own line, in order.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "id;nom;source;latitude;longitude;date_maj;courriels\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn any_upload_is_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = read_places(&bytes);
            let mut with_header = HEADER.as_bytes().to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = read_places(&with_header);
        }

        #[test]
        fn rows_under_a_valid_header_keep_their_lines(rows in proptest::collection::vec("[^\n\r\"]{0,80}", 0..40)) {
            let text: String = std::iter::once(HEADER.to_owned()).chain(rows.iter().map(|r| format!("{r}\n"))).collect();
            let places = read_places(text.as_bytes()).expect("a valid header is accepted");
            prop_assert!(places.len() <= rows.len());
            let lines: Vec<u64> = places.iter().map(|p| p.line).collect();
            prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "{:?}", lines);
            prop_assert!(lines.iter().all(|l| (2..=rows.len() as u64 + 1).contains(l)), "{:?}", lines);
            for place in &places {
                if let Ok((_, id, details)) = &place.checked {
                    prop_assert!(!id.is_empty() && details.validate().is_ok());
                }
            }
        }
    }
}
