//! Bulk issuance from a spreadsheet export: one voucher per row, each row in its own transaction,
//! and a report that gives every refused row its line number and the reason.
//!
//! Files come as prescribers save them: UTF-8 (with or without BOM) or Windows-1252, separated by
//! `;` (French Excel) or `,`, with French headers written any reasonable way ("Prénom", "NOM",
//! "Année de naissance", "Code INSEE", "Courriel"…). Uploading the same file again issues nothing
//! twice: a person who already holds an open voucher of the scheme is reported as such.

use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::VoucherStatus;
use super::{Holder, IssueRequest, issue_in};
use crate::audit::{self, Actor};
use crate::beneficiaries::{NewBeneficiary, PublicCategory, folded as fold, match_key};
use crate::labels;
use crate::tenancy::tenants;
use crate::{Db, Error, FieldRule, Refusal};

pub const MAX_ROWS: usize = 5_000;
/// The largest bulk file: 5,000 rows of a spreadsheet are well under it.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    FirstName,
    LastName,
    BirthYear,
    Commune,
    Category,
    Email,
    Phone,
    Consent,
}

/// Header spellings, compared after folding (lowercase, no accents, letters and digits only).
const HEADERS: &[(&str, Column)] = &[
    ("prenom", Column::FirstName),
    ("prenoms", Column::FirstName),
    ("firstname", Column::FirstName),
    ("nom", Column::LastName),
    ("nomdefamille", Column::LastName),
    ("nomdenaissance", Column::LastName),
    ("lastname", Column::LastName),
    ("anneedenaissance", Column::BirthYear),
    ("anneenaissance", Column::BirthYear),
    ("naissance", Column::BirthYear),
    ("birthyear", Column::BirthYear),
    ("codeinsee", Column::Commune),
    ("codecommune", Column::Commune),
    ("communeinsee", Column::Commune),
    ("codeinseecommune", Column::Commune),
    ("insee", Column::Commune),
    ("categorie", Column::Category),
    ("categoriedepublic", Column::Category),
    ("public", Column::Category),
    ("publiccategory", Column::Category),
    ("email", Column::Email),
    ("courriel", Column::Email),
    ("mail", Column::Email),
    ("adresseemail", Column::Email),
    ("adressemail", Column::Email),
    ("telephone", Column::Phone),
    ("tel", Column::Phone),
    ("portable", Column::Phone),
    ("consentement", Column::Consent),
    ("consentementemail", Column::Consent),
    ("consentementcourriel", Column::Consent),
    ("accordemail", Column::Consent),
];

/// Public categories as prescribers write them.
const CATEGORIES: &[(&str, PublicCategory)] = &[
    ("minimasociaux", PublicCategory::MinimaSociaux),
    ("minimassociaux", PublicCategory::MinimaSociaux),
    ("rsa", PublicCategory::MinimaSociaux),
    ("parentisole", PublicCategory::SingleParent),
    ("mereisolee", PublicCategory::SingleParent),
    ("femmeisolee", PublicCategory::SingleParent),
    ("familleemonoparentale", PublicCategory::SingleParent),
    ("famillemonoparentale", PublicCategory::SingleParent),
    ("senior", PublicCategory::Senior),
    ("retraite", PublicCategory::Senior),
    ("salariepeuqualifie", PublicCategory::LowQualifiedEmployee),
    ("conjointdartisan", PublicCategory::SpouseOfSelfEmployed),
    (
        "conjointdartisancommercantagriculteur",
        PublicCategory::SpouseOfSelfEmployed,
    ),
    ("conjoint", PublicCategory::SpouseOfSelfEmployed),
    ("parentdeleve", PublicCategory::ParentOfPupil),
    ("parentdeleves", PublicCategory::ParentOfPupil),
    ("assuresocial", PublicCategory::SocialInsuranceUser),
    ("allocataire", PublicCategory::SocialInsuranceUser),
    ("autre", PublicCategory::Other),
];

/// A public written by its code, its French name or one of the words prescribers use.
fn category(value: &str) -> Option<PublicCategory> {
    let folded = fold(value);
    PublicCategory::all()
        .find(|c| fold(c.as_str()) == folded || fold(labels::public_category(*c)) == folded)
        .or_else(|| {
            CATEGORIES
                .iter()
                .find(|(k, _)| *k == folded)
                .map(|(_, v)| *v)
        })
}

fn consent(value: &str) -> Option<bool> {
    match fold(value).as_str() {
        "" | "non" | "no" | "0" | "false" | "faux" | "n" => Some(false),
        "oui" | "yes" | "1" | "true" | "vrai" | "x" | "o" | "y" => Some(true),
        _ => None,
    }
}

/// A file the CSV reader gives up on (a broken quote, a line it cannot split).
pub(crate) fn unreadable(err: &csv::Error) -> Error {
    Error::breaks(
        "file",
        FieldRule::UnreadableCsv {
            reason: err.to_string(),
        },
    )
}

/// Text from bytes: UTF-8 if it is valid (BOM dropped), else Windows-1252 — the two encodings
/// spreadsheets save CSV in.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowStatus {
    Issued,
    AlreadyIssued,
    Refused,
}

#[derive(Debug, Clone)]
pub struct RowOutcome {
    /// The line in the file, as a spreadsheet shows it (the header is line 1).
    pub line: u64,
    pub status: RowStatus,
    pub reference: Option<String>,
    pub field: Option<String>,
    pub reason: Option<String>,
    /// The business refusal of a refused row, for a reader who needs it in their language.
    pub refusal: Option<Refusal>,
}

#[derive(Debug, Clone)]
pub struct BulkReport {
    pub file_sha256: String,
    pub rows: Vec<RowOutcome>,
}

impl BulkReport {
    pub fn count(&self, status: RowStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// A person's row of a file: its line (the header is line 1) and the person, or the field its
/// cell cannot be read for and why, in French (a year that is not one, an unknown public).
#[derive(Debug)]
pub struct ParsedRow {
    pub line: u64,
    pub person: Result<NewBeneficiary, (String, String)>,
}

/// The people of a file saved from a spreadsheet, in the bulk issuance's template (its columns,
/// encodings and separators): collective projects take their members from the same file.
pub fn people(file: &[u8]) -> Result<Vec<ParsedRow>, Error> {
    parse(&decode(file))
}

fn parse(text: &str) -> Result<Vec<ParsedRow>, Error> {
    // Windows (CRLF) and old Mac (CR) line ends become LF, so line numbers match the spreadsheet.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.as_str();
    let header_line = text.lines().next().unwrap_or_default();
    let delimiter = if header_line.matches(';').count() >= header_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| unreadable(&e))?.clone();
    let mut columns: Vec<Option<Column>> = Vec::new();
    for header in headers.iter() {
        let folded = fold(header);
        columns.push(
            HEADERS
                .iter()
                .find(|(name, _)| *name == folded)
                .map(|(_, c)| *c),
        );
    }
    let position = |column: Column| columns.iter().position(|c| *c == Some(column));
    let missing: Vec<&str> = [
        (Column::FirstName, "Prénom"),
        (Column::LastName, "Nom"),
        (Column::BirthYear, "Année de naissance"),
        (Column::Commune, "Code INSEE"),
        (Column::Category, "Catégorie"),
    ]
    .iter()
    .filter(|(c, _)| position(*c).is_none())
    .map(|(_, label)| *label)
    .collect();
    if !missing.is_empty() {
        return Err(Error::breaks(
            "file",
            FieldRule::MissingColumns {
                missing: missing.into_iter().map(str::to_owned).collect(),
                found: headers.iter().map(str::to_owned).collect(),
            },
        ));
    }

    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| unreadable(&e))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(Error::breaks(
                "file",
                FieldRule::TooManyRows { max: MAX_ROWS },
            ));
        }
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let cell = |column: Column| {
            position(column)
                .and_then(|i| record.get(i))
                .unwrap_or_default()
                .to_owned()
        };
        let optional = |column: Column| Some(cell(column)).filter(|v| !v.is_empty());
        let person = (|| {
            let birth_year = cell(Column::BirthYear).parse::<i16>().map_err(|_| {
                (
                    "birth_year".to_owned(),
                    format!("« {} » n'est pas une année", cell(Column::BirthYear)),
                )
            })?;
            let public_category = category(&cell(Column::Category)).ok_or_else(|| {
                (
                    "public_category".to_owned(),
                    format!("catégorie inconnue « {} »", cell(Column::Category)),
                )
            })?;
            let email_consent = consent(&cell(Column::Consent)).ok_or_else(|| {
                (
                    "email_consent".to_owned(),
                    format!("« {} » : répondre oui ou non", cell(Column::Consent)),
                )
            })?;
            Ok(NewBeneficiary {
                first_name: cell(Column::FirstName),
                last_name: cell(Column::LastName),
                birth_year,
                commune_insee: cell(Column::Commune).to_uppercase(),
                public_category,
                email: optional(Column::Email),
                phone: optional(Column::Phone),
                email_consent,
                allow_duplicate: false,
            })
        })();
        rows.push(ParsedRow { line, person });
    }
    Ok(rows)
}

/// Issues the vouchers of a file's rows one row at a time, each in its own transaction; it
/// remembers the people already seen in the file to report a person listed twice.
pub struct Issuer {
    db: Db,
    tenant: tenants::Tenant,
    prescriber_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    seen: Vec<(String, u64)>,
}

impl Issuer {
    pub async fn new(
        db: &Db,
        tenant_id: Uuid,
        prescriber_id: Uuid,
        actor: Actor,
        scheme_id: Uuid,
    ) -> Result<Self, Error> {
        Ok(Self {
            db: db.clone(),
            tenant: tenants::get(db, tenant_id).await?,
            prescriber_id,
            actor,
            scheme_id,
            seen: Vec::new(),
        })
    }

    /// Remembers a row handled before (by an import taken over), for duplicates within the file.
    pub fn seen_before(&mut self, row: &ParsedRow) {
        if let Ok(person) = &row.person {
            let key = match_key(
                &person.first_name,
                &person.last_name,
                person.birth_year,
                &person.commune_insee,
            );
            self.seen.push((key, row.line));
        }
    }

    /// Issues the row's voucher, or says why not.
    pub async fn issue(&mut self, row: ParsedRow) -> Result<RowOutcome, Error> {
        let refused = |field: String, reason: String| RowOutcome {
            line: row.line,
            status: RowStatus::Refused,
            reference: None,
            field: Some(field),
            reason: Some(reason),
            refusal: None,
        };
        let person = match row.person {
            Ok(person) => person,
            Err((field, reason)) => {
                return Ok(refused(field, reason));
            }
        };
        if let Err(Error::Invalid(fields)) = person.validate() {
            let field = fields
                .iter()
                .map(|f| f.field.clone())
                .collect::<Vec<_>>()
                .join(", ");
            let reason = fields
                .iter()
                .map(|f| format!("{} : {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join(" ; ");
            return Ok(refused(field, reason));
        }
        let key = match_key(
            &person.first_name,
            &person.last_name,
            person.birth_year,
            &person.commune_insee,
        );
        if let Some((_, first_line)) = self.seen.iter().find(|(k, _)| *k == key) {
            return Ok(refused(
                "row".into(),
                format!("doublon de la ligne {first_line} (même personne)"),
            ));
        }
        self.seen.push((key.clone(), row.line));

        let mut tx = self.db.begin_tenant(self.tenant.id).await?;
        // Only the organisation's own records: another's are not disclosed (see
        // `beneficiaries::insert`, which flags a match there for the tenant admin).
        let existing: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM beneficiaries
                  WHERE tenant_id = $3 AND match_key = $1 AND prescriber_id = $2 AND erased_at IS NULL ORDER BY id LIMIT 1",
            )
            .bind(&key)
            .bind(self.prescriber_id)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?;
        let holder = match existing {
            Some(id) => {
                let open: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT reference FROM vouchers WHERE tenant_id = $3 AND beneficiary_id = $1 AND scheme_id = $2
                            AND status IN {} ORDER BY id LIMIT 1",
                    VoucherStatus::OPEN_SQL
                )))
                .bind(id)
                .bind(self.scheme_id)
                .bind(tx.tenant_id())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(reference) = open {
                    tx.rollback().await?;
                    return Ok(RowOutcome {
                        line: row.line,
                        status: RowStatus::AlreadyIssued,
                        reference: Some(reference),
                        field: None,
                        reason: Some(
                            "cette personne a déjà un bon en cours pour ce dispositif".into(),
                        ),
                        refusal: None,
                    });
                }
                Holder::Existing(id)
            }
            None => Holder::New(person),
        };
        let request = IssueRequest {
            scheme_id: self.scheme_id,
            holder,
            participation_fee_cents: 0,
        };
        match issue_in(
            &mut tx,
            &self.tenant,
            self.prescriber_id,
            self.actor,
            &request,
        )
        .await
        {
            Ok(issued) => {
                tx.commit().await?;
                Ok(RowOutcome {
                    line: row.line,
                    status: RowStatus::Issued,
                    reference: Some(issued.voucher.reference),
                    field: None,
                    reason: None,
                    refusal: None,
                })
            }
            Err(Error::Database(err)) => Err(Error::Database(err)),
            Err(err) => {
                tx.rollback().await?;
                let field = match &err {
                    Error::Invalid(fields) => fields
                        .iter()
                        .map(|f| f.field.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => "row".into(),
                };
                Ok(RowOutcome {
                    refusal: err.refusal().cloned(),
                    ..refused(field, err.to_string())
                })
            }
        }
    }

    /// The audit entry of a whole file.
    pub async fn record(
        &self,
        file_sha256: &str,
        issued: usize,
        already_issued: usize,
        refused: usize,
    ) -> Result<(), Error> {
        let mut tx = self.db.begin_tenant(self.tenant.id).await?;
        audit::record(
            &mut tx,
            self.tenant.id,
            self.actor,
            "vouchers.bulk_imported",
            "scheme",
            self.scheme_id,
            json!({ "file_sha256": file_sha256, "prescriber_id": self.prescriber_id,
                    "issued": issued, "already_issued": already_issued, "refused": refused }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Issues one voucher per valid row of `file` for `scheme_id`, from the prescriber's allocation,
/// in the caller's time. The portal and the API go through [`crate::imports`], in the background.
pub async fn import(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    file: &[u8],
) -> Result<BulkReport, Error> {
    let file_sha256 = hex::encode(Sha256::digest(file));
    let rows = parse(&decode(file))?;
    let mut issuer = Issuer::new(db, tenant_id, prescriber_id, actor, scheme_id).await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        outcomes.push(issuer.issue(row).await?);
    }
    let report = BulkReport {
        file_sha256,
        rows: outcomes,
    };
    issuer
        .record(
            &report.file_sha256,
            report.count(RowStatus::Issued),
            report.count(RowStatus::AlreadyIssued),
            report.count(RowStatus::Refused),
        )
        .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_and_utf8_decode_to_the_same_text() {
        let utf8 = "Prénom;Nom\nHélène;Lefèvre\n";
        let (cp1252, _, _) = encoding_rs::WINDOWS_1252.encode(utf8);
        assert_eq!(decode(&cp1252), utf8);
        assert_eq!(decode(format!("\u{feff}{utf8}").as_bytes()), utf8);
    }

    #[test]
    fn french_headers_and_values_are_understood() {
        let text = "PRÉNOM,Nom de famille,Année de naissance,Code INSEE,Catégorie de public,Courriel,Consentement\n\
                    Hélène,Lefèvre,1957,46102,Retraité,h@example.org,oui\n\
                    Paul,Durand,19x7,46102,Senior,,\n";
        let rows = parse(text).expect("parsed");
        assert_eq!(rows.len(), 2);
        let crlf = parse(&text.replace('\n', "\r\n")).expect("parsed");
        let cr = parse(&text.replace('\n', "\r")).expect("parsed");
        assert_eq!(
            crlf.iter().chain(&cr).map(|r| r.line).collect::<Vec<_>>(),
            [2, 3, 2, 3]
        );
        let first = rows[0].person.as_ref().expect("valid");
        assert_eq!(rows[0].line, 2);
        assert_eq!(first.public_category, PublicCategory::Senior);
        assert!(first.email_consent);
        assert_eq!(
            rows[1].person.as_ref().expect_err("bad year").0,
            "birth_year"
        );
        // A public written by its code, by its French name as the portal shows it, or as
        // prescribers abbreviate it; anything else is refused on its own line.
        for (written, meant) in [
            ("single_parent", PublicCategory::SingleParent),
            (
                "Conjoints d’artisans, commerçants, agriculteurs",
                PublicCategory::SpouseOfSelfEmployed,
            ),
            ("Parents d'élèves", PublicCategory::ParentOfPupil),
            ("RSA", PublicCategory::MinimaSociaux),
        ] {
            assert_eq!(category(written), Some(meant), "{written}");
        }
        assert_eq!(category("martiens"), None);
        let missing = parse("Prénom;Nom\nA;B\n").expect_err("columns missing");
        assert!(
            missing.to_string().contains("Année de naissance"),
            "{missing}"
        );
    }
}

/// Properties over any file a user can upload (proptest): decoding and parsing never panic, and
/// under a valid header every data row is reported at most once, on its own line, in order.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "Prénom;Nom;Année de naissance;Code INSEE;Catégorie\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn any_upload_decodes_and_parses_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse(&decode(&bytes));
            let mut with_header = HEADER.as_bytes().to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = parse(&decode(&with_header));
        }

        #[test]
        fn rows_under_a_valid_header_keep_their_lines(rows in proptest::collection::vec("[^\n\r\"]{0,60}", 0..40)) {
            let text: String = std::iter::once(HEADER.to_owned()).chain(rows.iter().map(|r| format!("{r}\n"))).collect();
            let parsed = parse(&text).expect("a valid header is accepted");
            prop_assert!(parsed.len() <= rows.len());
            let lines: Vec<u64> = parsed.iter().map(|r| r.line).collect();
            prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "{:?}", lines);
            prop_assert!(lines.iter().all(|l| (2..=rows.len() as u64 + 1).contains(l)), "{:?}", lines);
        }
    }
}
