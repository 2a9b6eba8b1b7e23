//! Import from the national open-data format for *lieux de médiation numérique* (schéma ANCT):
//! a CSV file of 32 fields, read as a stream one row at a time, so a national file of tens of
//! thousands of places is never held whole in memory. Multi-valued fields are joined with `|` or
//! `;`. Re-importing updates each place found by (`source`, `id`), or by `id` alone for places
//! without a `source` (optional in the schema), and creates no duplicate.
//!
//! A row is refused on its own line; hours that do not parse as OSM `opening_hours` are kept as
//! text with a warning rather than refusing the place.

use std::io::{BufRead, BufReader, Read};

use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{EpnDetails, opening_hours};
use crate::audit::{self, Actor};
use crate::storage::Tx;
use crate::vouchers::bulk::unreadable;
use crate::{Db, Error, FieldRule};

/// The most rows one file may hold: the national file has a few tens of thousands of places.
pub const MAX_ROWS: usize = 200_000;

/// The fields of the published schema, in its order.
pub const SCHEMA_FIELDS: [&str; 32] = [
    "id",
    "pivot",
    "nom",
    "commune",
    "code_postal",
    "code_insee",
    "adresse",
    "complement_adresse",
    "latitude",
    "longitude",
    "typologie",
    "telephone",
    "courriels",
    "site_web",
    "horaires",
    "presentation_resume",
    "presentation_detail",
    "source",
    "structure_parente",
    "date_maj",
    "services",
    "publics_specifiquement_adresses",
    "prise_en_charge_specifique",
    "frais_a_charge",
    "itinerance",
    "modalites_acces",
    "modalites_accompagnement",
    "dispositif_programmes_nationaux",
    "formations_labels",
    "autres_formations_labels",
    "fiche_acces_libre",
    "prise_rdv",
];

/// Fields of the schema this platform does not use yet, kept in `epns.open_data`; `true` for the
/// multi-valued ones, kept as arrays.
const KEPT_AS_OPEN_DATA: [(&str, bool); 15] = [
    ("complement_adresse", false),
    ("presentation_resume", false),
    ("presentation_detail", false),
    ("structure_parente", false),
    ("publics_specifiquement_adresses", true),
    ("prise_en_charge_specifique", true),
    ("frais_a_charge", true),
    ("itinerance", true),
    ("modalites_acces", true),
    ("modalites_accompagnement", true),
    ("dispositif_programmes_nationaux", true),
    ("formations_labels", true),
    ("autres_formations_labels", true),
    ("fiche_acces_libre", false),
    ("prise_rdv", false),
];

/// The columns without which a file is not in the format.
const REQUIRED_COLUMNS: [&str; 2] = ["id", "nom"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Imported, but something was kept as it came (hours that do not parse).
    pub warning: Option<String>,
}

/// A multi-valued field: the schema joins values with `|`; files made with spreadsheets often
/// use `;`.
fn multi(value: &str) -> Vec<String> {
    value
        .split(['|', ';'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A place read and checked, ready to be written.
#[derive(Debug)]
pub struct CheckedPlace {
    source: Option<String>,
    id: String,
    details: EpnDetails,
    warning: Option<String>,
}

/// One data row of the file, read and checked, before anything is written.
#[derive(Debug)]
pub struct Place {
    pub line: u64,
    /// Where the row starts in the file, in bytes.
    pub byte: u64,
    pub source_id: Option<String>,
    /// The place, or why the row is refused.
    checked: Result<CheckedPlace, String>,
}

/// Text of a field: UTF-8 when it is, else Windows-1252 (the two encodings spreadsheets save).
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// `;` when the header line has more of them than commas (French spreadsheets), else `,`.
fn delimiter(first_bytes: &[u8]) -> u8 {
    let header = first_bytes
        .split(|b| *b == b'\n' || *b == b'\r')
        .next()
        .unwrap_or_default();
    let count = |c: u8| header.iter().filter(|b| **b == c).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

/// A row's fields by the schema's names.
struct Row<'a> {
    headers: &'a [String],
    fields: Vec<String>,
}

impl Row<'_> {
    fn get(&self, name: &str) -> &str {
        self.headers
            .iter()
            .position(|h| h == name)
            .and_then(|i| self.fields.get(i))
            .map_or("", String::as_str)
    }
}

fn check(row: &Row<'_>) -> Result<CheckedPlace, String> {
    let number = |name: &str| -> Result<Option<f64>, String> {
        optional(row.get(name))
            .map(|v| {
                v.replace(',', ".")
                    .parse::<f64>()
                    .map_err(|_| format!("{name} : « {v} » n'est pas un nombre"))
            })
            .transpose()
    };
    let latitude = number("latitude")?;
    let longitude = number("longitude")?;
    let updated_on = optional(row.get("date_maj"))
        .map(|d| {
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| format!("date_maj : « {d} » n'est pas une date AAAA-MM-JJ"))
        })
        .transpose()?;
    let id = optional(row.get("id")).ok_or("id est obligatoire")?;
    let source = optional(row.get("source"));
    let (opening_hours, warning) = match optional(row.get("horaires")) {
        Some(hours) => match opening_hours::validate(&hours) {
            Ok(()) => (Some(hours), None),
            Err(_) => (
                Some(hours.chars().take(opening_hours::MAX_CHARS).collect()),
                Some(format!(
                    "horaires gardés tels quels : « {hours} » n’est pas au format OpenStreetMap"
                )),
            ),
        },
        None => (None, None),
    };
    let mut open_data = Map::new();
    for (name, many) in KEPT_AS_OPEN_DATA {
        let value = row.get(name);
        if many {
            let values = multi(value);
            if !values.is_empty() {
                open_data.insert(name.into(), json!(values));
            }
        } else if let Some(value) = optional(value) {
            open_data.insert(name.into(), Value::String(value));
        }
    }
    let details = EpnDetails {
        name: row.get("nom").trim().to_owned(),
        pivot: optional(row.get("pivot")).map(|p| p.replace(' ', "")),
        address: optional(row.get("adresse")),
        postal_code: optional(row.get("code_postal")),
        commune: optional(row.get("commune")),
        commune_insee: optional(row.get("code_insee")),
        latitude,
        longitude,
        emails: multi(row.get("courriels")),
        phone: optional(row.get("telephone")),
        website: multi(row.get("site_web")).into_iter().next(),
        opening_hours,
        services: multi(row.get("services")),
        typology: multi(row.get("typologie")),
        source: source.clone(),
        source_id: Some(id.clone()),
        source_updated_on: updated_on,
        open_data,
    };
    if let Err(Error::Invalid(fields)) = details.validate_imported() {
        return Err(fields
            .iter()
            .map(|f| format!("{} : {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join(" ; "));
    }
    Ok(CheckedPlace {
        source,
        id,
        details,
        warning,
    })
}

/// Reads a file of places as it streams in and hands each data row to `each`, in order; `each`
/// returns `false` to stop early. A file that is not in the format is refused as a whole (before
/// any row is handed over when its header is wrong); a bad row only on its own line.
pub fn read_places(file: impl Read, mut each: impl FnMut(Place) -> bool) -> Result<(), Error> {
    let mut buffered = BufReader::with_capacity(64 * 1024, file);
    let first = buffered.fill_buf().map_err(|e| unreadable(&e.into()))?;
    let first = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(first);
    let delimiter = delimiter(first);
    if buffered.buffer().starts_with(b"\xEF\xBB\xBF") {
        buffered.consume(3);
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(buffered);
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| unreadable(&e))?
        .iter()
        .map(|h| text_of(h).trim().to_lowercase())
        .collect();
    let missing: Vec<String> = REQUIRED_COLUMNS
        .into_iter()
        .filter(|c| !headers.iter().any(|h| h == c))
        .map(str::to_owned)
        .collect();
    if !missing.is_empty() {
        return Err(Error::breaks(
            "file",
            FieldRule::NotOpenDataFormat { missing },
        ));
    }
    let mut rows = 0;
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| unreadable(&e))?
    {
        if record.iter().all(|c| c.trim_ascii().is_empty()) {
            continue;
        }
        if rows == MAX_ROWS {
            return Err(Error::breaks(
                "file",
                FieldRule::TooManyRows { max: MAX_ROWS },
            ));
        }
        rows += 1;
        let row = Row {
            headers: &headers,
            fields: record.iter().map(text_of).collect(),
        };
        let place = Place {
            line: record.position().map(|p| p.line()).unwrap_or_default(),
            byte: record.position().map(|p| p.byte()).unwrap_or_default(),
            source_id: optional(row.get("id")),
            checked: check(&row),
        };
        if !each(place) {
            break;
        }
    }
    Ok(())
}

/// Inserts a place, or updates the place with its `source` and `id` (or its `id` alone when it
/// has no source), in one statement; says whether it was inserted.
async fn upsert_by_source(
    tx: &mut Tx,
    tenant_id: Uuid,
    place: &CheckedPlace,
) -> Result<(Uuid, bool), Error> {
    let conflict = if place.source.is_some() {
        "(tenant_id, source, source_id)"
    } else {
        "(tenant_id, source_id) WHERE source IS NULL AND source_id IS NOT NULL"
    };
    let d = &place.details;
    // `EXCLUDED.updated_at` is the column's default, now(): Citus refuses a function that is not
    // immutable in `DO UPDATE SET` on a distributed table.
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO epns (tenant_id, id, name, pivot, address, postal_code, commune, commune_insee, latitude, longitude,
                           emails, phone, website, opening_hours, services, typology, source, source_id, source_updated_on, open_data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT {conflict} DO UPDATE SET name = EXCLUDED.name, pivot = EXCLUDED.pivot, address = EXCLUDED.address,
             postal_code = EXCLUDED.postal_code, commune = EXCLUDED.commune, commune_insee = EXCLUDED.commune_insee,
             latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, emails = EXCLUDED.emails, phone = EXCLUDED.phone,
             website = EXCLUDED.website, opening_hours = EXCLUDED.opening_hours, services = EXCLUDED.services,
             typology = EXCLUDED.typology, source_updated_on = EXCLUDED.source_updated_on,
             open_data = EXCLUDED.open_data, updated_at = EXCLUDED.updated_at
         RETURNING id, (xmax = 0)"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(d.name.trim())
    .bind(&d.pivot)
    .bind(&d.address)
    .bind(&d.postal_code)
    .bind(&d.commune)
    .bind(d.commune_insee.as_deref().map(crate::communes::today_code))
    .bind(d.latitude)
    .bind(d.longitude)
    .bind(&d.emails)
    .bind(&d.phone)
    .bind(&d.website)
    .bind(&d.opening_hours)
    .bind(&d.services)
    .bind(&d.typology)
    .bind(&place.source)
    .bind(&place.id)
    .bind(d.source_updated_on)
    .bind(serde_json::Value::Object(d.open_data.clone()))
    .fetch_one(&mut **tx)
    .await?)
}

/// Writes one place in the caller's transaction. `careful`: inside a savepoint, so that a row the
/// database refuses is refused alone; without it (a batch's first try) a refusal aborts the
/// transaction, and the caller writes the batch again carefully.
pub(crate) async fn write_place(
    tx: &mut Tx,
    tenant_id: Uuid,
    place: &Place,
    careful: bool,
) -> Result<ImportRow, Error> {
    let refuse = |reason: String| ImportRow {
        line: place.line,
        source_id: place.source_id.clone(),
        status: ImportStatus::Refused,
        epn_id: None,
        reason: Some(reason),
        warning: None,
    };
    let checked = match &place.checked {
        Ok(checked) => checked,
        Err(reason) => return Ok(refuse(reason.clone())),
    };
    if careful {
        sqlx::query("SAVEPOINT place").execute(&mut **tx).await?;
    }
    match upsert_by_source(tx, tenant_id, checked).await {
        Ok((epn_id, inserted)) => {
            if careful {
                sqlx::query("RELEASE SAVEPOINT place")
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(ImportRow {
                line: place.line,
                source_id: Some(checked.id.clone()),
                status: if inserted {
                    ImportStatus::Created
                } else {
                    ImportStatus::Updated
                },
                epn_id: Some(epn_id),
                reason: None,
                warning: checked.warning.clone(),
            })
        }
        Err(err) if !careful => Err(err),
        Err(Error::Database(err)) => Err(Error::Database(err)),
        Err(err) => {
            sqlx::query("ROLLBACK TO SAVEPOINT place")
                .execute(&mut **tx)
                .await?;
            Ok(refuse(err.to_string()))
        }
    }
}

/// The audit entry of a finished import, with its counts.
pub(crate) async fn record_imported(
    tx: &mut Tx,
    tenant_id: Uuid,
    actor: Actor,
    created: usize,
    updated: usize,
    refused: usize,
) -> Result<(), Error> {
    audit::record(
        tx,
        tenant_id,
        actor,
        "epns.imported",
        "epn",
        "open-data",
        json!({ "created": created, "updated": updated, "refused": refused }),
    )
    .await
}

/// Imports a file held in memory, in the caller's time: for the demo seed and small files. The
/// portal and the API go through [`crate::imports`], which runs in the background with progress.
pub async fn import(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    file: &[u8],
) -> Result<Vec<ImportRow>, Error> {
    let mut places = Vec::new();
    read_places(file, |place| {
        places.push(place);
        true
    })?;
    let mut report = Vec::with_capacity(places.len());
    let mut tx = db.begin_tenant(tenant_id).await?;
    for place in &places {
        report.push(write_place(&mut tx, tenant_id, place, true).await?);
    }
    let count = |s: ImportStatus| report.iter().filter(|r| r.status == s).count();
    record_imported(
        &mut tx,
        tenant_id,
        actor,
        count(ImportStatus::Created),
        count(ImportStatus::Updated),
        count(ImportStatus::Refused),
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

    const HEADER: &str = "id;nom;source;latitude;longitude;date_maj;courriels;horaires\n";

    fn all(file: &[u8]) -> Result<Vec<Place>, Error> {
        let mut places = Vec::new();
        read_places(file, |p| {
            places.push(p);
            true
        })?;
        Ok(places)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn any_upload_is_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = all(&bytes);
            let mut with_header = HEADER.as_bytes().to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = all(&with_header);
        }

        #[test]
        fn rows_under_a_valid_header_keep_their_lines(rows in proptest::collection::vec("[^\n\r\"]{0,80}", 0..40)) {
            let text: String = std::iter::once(HEADER.to_owned()).chain(rows.iter().map(|r| format!("{r}\n"))).collect();
            let places = all(text.as_bytes()).expect("a valid header is accepted");
            prop_assert!(places.len() <= rows.len());
            let lines: Vec<u64> = places.iter().map(|p| p.line).collect();
            prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "{:?}", lines);
            prop_assert!(lines.iter().all(|l| (2..=rows.len() as u64 + 1).contains(l)), "{:?}", lines);
            for place in &places {
                if let Ok(checked) = &place.checked {
                    prop_assert!(!checked.id.is_empty() && checked.details.validate_imported().is_ok());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_the_schema_is_read_and_kept() {
        let header = SCHEMA_FIELDS.join(",");
        let values: Vec<String> = SCHEMA_FIELDS
            .iter()
            .map(|f| match *f {
                "id" => "lieu-1".into(),
                "nom" => "Médiathèque".into(),
                "pivot" => "W461000123".into(),
                "code_postal" => "46100".into(),
                "code_insee" => "46102".into(),
                "latitude" => "44.6".into(),
                "longitude" => "2.03".into(),
                "date_maj" => "2024-05-02".into(),
                "courriels" => "a@x.example;b@x.example".into(),
                "site_web" => "https://x.example".into(),
                "telephone" => "+33565000000".into(),
                "horaires" => "\"Mo-Fr 09:00-12:00 || \"\"sur rendez-vous\"\"\"".into(),
                "typologie" => "EPN|BIB".into(),
                "services" => "Prendre en main un ordinateur|Accéder à du matériel".into(),
                "publics_specifiquement_adresses" => "Seniors;Jeunes".into(),
                "source" => String::new(),
                other => format!("valeur de {other}"),
            })
            .collect();
        let file = format!("{header}\n{}\n", values.join(","));
        let mut places = Vec::new();
        read_places(file.as_bytes(), |p| {
            places.push(p);
            true
        })
        .expect("read");
        let checked = places.pop().expect("one row").checked.expect("accepted");
        assert_eq!(checked.source, None, "source is optional");
        assert_eq!(checked.warning, None);
        let d = checked.details;
        assert_eq!(d.emails, ["a@x.example", "b@x.example"]);
        assert_eq!(d.typology, ["EPN", "BIB"]);
        assert_eq!(
            d.opening_hours.as_deref(),
            Some("Mo-Fr 09:00-12:00 || \"sur rendez-vous\"")
        );
        assert_eq!(d.open_data.len(), 15, "{:?}", d.open_data);
        assert_eq!(
            d.open_data["publics_specifiquement_adresses"],
            json!(["Seniors", "Jeunes"])
        );
        assert_eq!(d.open_data["prise_rdv"], json!("valeur de prise_rdv"));
    }

    #[test]
    fn hours_that_do_not_parse_are_kept_with_a_warning() {
        let file = "id;nom;horaires\n1;Lieu;le mardi matin\n";
        let mut places = Vec::new();
        read_places(file.as_bytes(), |p| {
            places.push(p);
            true
        })
        .expect("read");
        let checked = places.pop().expect("row").checked.expect("not refused");
        assert_eq!(
            checked.details.opening_hours.as_deref(),
            Some("le mardi matin")
        );
        assert!(checked.warning.expect("warning").contains("le mardi matin"));
    }
}
