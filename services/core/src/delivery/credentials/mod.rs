//! Credentials a holder can prove anywhere: each competence they reached and each voucher's
//! journey they completed, as an Open Badges 3.0 `OpenBadgeCredential` signed by their territory,
//! which a training body, an employer or France Travail verifies without calling the territory.
//!
//! The proof format is the specification's JSON Web Token one (a compact JWS, EdDSA with the
//! territory's Ed25519 key), not a Data Integrity proof (`eddsa-rdfc-2022`): what is signed is
//! the very bytes handed out, so a verifier needs no JSON-LD processing, no RDF canonicalisation
//! and no context fetched from the network, only the public key — which every JOSE library
//! checks offline. The key is named by the `kid` address that serves it as a JWK; the territory's
//! keys are published together as a JWK Set, retired ones included, so that rotation leaves what
//! was signed before verifiable.
//!
//! The holder chooses how they are named: a pseudonymous id (the default), their email as a
//! salted hash, or their name in clear. Revocation by the territory sets the credential's bit in
//! its published Bitstring Status List.

pub mod achievements;
pub mod document;
pub mod jws;
pub mod keys;
pub mod status_list;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::delivery::CompetenceLevel;
use crate::delivery::portfolio::link::{LinkKey, Opened};
use crate::error::FieldError;
use crate::storage::Tx;
use crate::tenancy::tenants::{self, Tenant};
use crate::vouchers::{self, Visibility, VoucherStatus};
use crate::{Db, Error, Refusal};
use achievements::{Achievement, AchievementKey};
use document::{Claims, EvidenceSession, Subject, Urls};

vocabulary! {
    /// How the holder chose to be named in a credential.
    pub enum SubjectKind {
        Pseudonym,
        Email,
        Name,
    }
}

/// What the holder asks to be named by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectChoice {
    Pseudonym,
    Email(String),
    Name,
}

impl SubjectChoice {
    pub fn kind(&self) -> SubjectKind {
        match self {
            SubjectChoice::Pseudonym => SubjectKind::Pseudonym,
            SubjectChoice::Email(_) => SubjectKind::Email,
            SubjectChoice::Name => SubjectKind::Name,
        }
    }
}

/// Labels for the service's key, each for one derivation.
const PSEUDONYM_LABEL: &[u8] = b"passerelle credential subject pseudonym v1";
const EMAIL_DIGEST_LABEL: &[u8] = b"passerelle credential subject email v1";

/// An achievement the person reached, with when and the sessions that show it.
#[derive(Debug, Clone)]
pub struct Earned {
    pub achievement: Achievement,
    pub awarded_at: DateTime<Utc>,
    pub evidence: Vec<EvidenceSession>,
}

#[derive(sqlx::FromRow)]
struct CompetenceEvidence {
    code: String,
    area: String,
    title: String,
    level: CompetenceLevel,
    recorded_at: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    minutes: i32,
    epn_name: String,
}

#[derive(sqlx::FromRow)]
struct SessionEvidence {
    starts_at: DateTime<Utc>,
    minutes: i32,
    epn_name: String,
}

/// Every achievement the person reached, competences first (in the referential's order, then by
/// level), then completed journeys: what their space offers to download.
pub(crate) async fn earned(
    tx: &mut Tx,
    tenant: &Tenant,
    beneficiary_id: Uuid,
) -> Result<Vec<Earned>, Error> {
    let rows: Vec<CompetenceEvidence> = sqlx::query_as(
        "SELECT c.code, c.area, c.title, ac.level, ac.recorded_at, s.starts_at,
                a.minutes_debited AS minutes, e.name AS epn_name
           FROM attendance_competences ac
           JOIN attendances a ON a.tenant_id = ac.tenant_id AND a.id = ac.attendance_id
           JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
           JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
           JOIN epns e ON e.tenant_id = a.tenant_id AND e.id = a.epn_id
           JOIN competences c ON c.referential_code = ac.referential_code AND c.code = ac.competence_code
          WHERE ac.tenant_id = $1 AND v.beneficiary_id = $2 AND ac.referential_code = 'crcn'
            AND a.voided_at IS NULL AND a.status = 'present'
          ORDER BY s.starts_at, a.id",
    )
    .bind(tx.tenant_id())
    .bind(beneficiary_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut competences: BTreeMap<AchievementKey, Earned> = BTreeMap::new();
    for row in rows {
        let key = AchievementKey::Competence {
            code: row.code.clone(),
            level: row.level,
        };
        let earned = competences.entry(key.clone()).or_insert_with(|| Earned {
            achievement: Achievement {
                key,
                title: row.title.clone(),
                area: Some(row.area.clone()),
            },
            awarded_at: row.recorded_at,
            evidence: Vec::new(),
        });
        earned.awarded_at = earned.awarded_at.min(row.recorded_at);
        earned.evidence.push(EvidenceSession {
            starts_at: row.starts_at,
            epn_name: row.epn_name,
            minutes: row.minutes,
        });
    }
    let mut all: Vec<Earned> = competences.into_values().collect();

    let now = Utc::now();
    let mut completions: BTreeMap<String, Earned> = BTreeMap::new();
    for voucher in vouchers::of_beneficiary(tx, beneficiary_id).await? {
        if voucher.status_at(tenant.tz(), now) != VoucherStatus::Completed {
            continue;
        }
        let (scheme_code, scheme_name): (String, String) =
            sqlx::query_as("SELECT code, name FROM schemes WHERE tenant_id = $1 AND id = $2")
                .bind(tx.tenant_id())
                .bind(voucher.scheme_id)
                .fetch_one(&mut **tx)
                .await?;
        if completions.contains_key(&scheme_code) {
            continue;
        }
        let sessions: Vec<SessionEvidence> = sqlx::query_as(
            "SELECT s.starts_at, a.minutes_debited AS minutes, e.name AS epn_name
               FROM attendances a
               JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
               JOIN epns e ON e.tenant_id = a.tenant_id AND e.id = a.epn_id
              WHERE a.tenant_id = $1 AND a.voucher_id = $2 AND a.voided_at IS NULL
                AND a.status = 'present'
              ORDER BY s.starts_at, a.id",
        )
        .bind(tx.tenant_id())
        .bind(voucher.id)
        .fetch_all(&mut **tx)
        .await?;
        let Some(last) = sessions.last() else {
            continue;
        };
        completions.insert(
            scheme_code.clone(),
            Earned {
                achievement: Achievement {
                    key: AchievementKey::Completion { scheme_code },
                    title: scheme_name,
                    area: None,
                },
                awarded_at: last.starts_at,
                evidence: sessions
                    .into_iter()
                    .map(|s| EvidenceSession {
                        starts_at: s.starts_at,
                        epn_name: s.epn_name,
                        minutes: s.minutes,
                    })
                    .collect(),
            },
        );
    }
    all.extend(completions.into_values());
    Ok(all)
}

/// What the holder's space offers: every achievement they reached.
pub async fn offered(db: &Db, opened: &Opened) -> Result<Vec<Earned>, Error> {
    let mut tx = db.begin_tenant(opened.tenant.id).await?;
    let earned = earned(&mut tx, &opened.tenant, opened.beneficiary_id).await?;
    tx.commit().await?;
    Ok(earned)
}

/// A credential as handed out.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id: Uuid,
    pub achievement: AchievementKey,
    pub compact_jws: String,
    /// Its public verification page (also its `id`).
    pub verification_url: String,
}

impl Issued {
    /// The name of its file: `attestation-crcn-1.1-acquired.jwt`.
    pub fn file_name(&self) -> String {
        format!("attestation-{}.jwt", self.achievement)
    }
}

fn normalised_email(address: &str) -> Result<String, Error> {
    let address = address.trim().to_lowercase();
    let valid = address.len() <= 254
        && address
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !address.chars().any(char::is_whitespace);
    if !valid {
        return Err(Error::Invalid(vec![FieldError::new(
            "email",
            "not an email address",
        )]));
    }
    Ok(address)
}

/// A status index not taken yet, drawn at random over enough lists to keep each under half
/// full. The caller holds the signing key's lock: no other credential of the tenant is being
/// issued meanwhile.
async fn free_status_index(tx: &mut Tx) -> Result<u32, Error> {
    let taken: i64 = sqlx::query_scalar("SELECT count(*) FROM credentials WHERE tenant_id = $1")
        .bind(tx.tenant_id())
        .fetch_one(&mut **tx)
        .await?;
    let lists = 1 + u32::try_from(taken).unwrap_or(u32::MAX) / (status_list::LIST_SIZE / 2);
    let range = lists
        .saturating_mul(status_list::LIST_SIZE)
        .min(i32::MAX as u32);
    loop {
        let index = rand::random_range(0..range);
        let used: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM credentials WHERE tenant_id = $1 AND status_index = $2)",
        )
        .bind(tx.tenant_id())
        .bind(index as i32)
        .fetch_one(&mut **tx)
        .await?;
        if !used {
            return Ok(index);
        }
    }
}

/// How the holder chose to be named, checked, with the keyed digest of an email.
struct Naming<'a> {
    choice: &'a SubjectChoice,
    email: Option<String>,
    digest: Option<Vec<u8>>,
}

impl<'a> Naming<'a> {
    fn of(sealing: &LinkKey, tenant: &Tenant, choice: &'a SubjectChoice) -> Result<Self, Error> {
        let email = match choice {
            SubjectChoice::Email(address) => Some(normalised_email(address)?),
            _ => None,
        };
        let digest = email.as_ref().map(|address| {
            sealing
                .derive(
                    EMAIL_DIGEST_LABEL,
                    &[tenant.id.as_bytes(), address.as_bytes()],
                )
                .to_vec()
        });
        Ok(Self {
            choice,
            email,
            digest,
        })
    }
}

/// The credential for `achievement`, named as the holder chose: the one issued before with the
/// same choice if it stands, else a new one signed now. `NotFound` if the person did not reach it.
pub async fn issue(
    db: &Db,
    sealing: &LinkKey,
    public_base_url: &str,
    opened: &Opened,
    achievement: &AchievementKey,
    choice: &SubjectChoice,
) -> Result<Issued, Error> {
    let tenant = &opened.tenant;
    let urls = Urls::new(public_base_url, &tenant.slug);
    let naming = Naming::of(sealing, tenant, choice)?;
    let mut tx = db.begin_tenant(tenant.id).await?;
    let Some(earned) = earned(&mut tx, tenant, opened.beneficiary_id)
        .await?
        .into_iter()
        .find(|e| &e.achievement.key == achievement)
    else {
        return Err(Error::NotFound("achievement reached by this person"));
    };
    let issued = issue_in(&mut tx, sealing, &urls, opened, &earned, &naming).await?;
    tx.commit().await?;
    Ok(issued)
}

/// Every credential the person reached, named as they chose, in one transaction: what the zip
/// holds, with each achievement's name.
pub async fn issue_all(
    db: &Db,
    sealing: &LinkKey,
    public_base_url: &str,
    opened: &Opened,
    choice: &SubjectChoice,
) -> Result<Vec<(String, Issued)>, Error> {
    let tenant = &opened.tenant;
    let urls = Urls::new(public_base_url, &tenant.slug);
    let naming = Naming::of(sealing, tenant, choice)?;
    let mut tx = db.begin_tenant(tenant.id).await?;
    let mut all = Vec::new();
    for earned in earned(&mut tx, tenant, opened.beneficiary_id).await? {
        let issued = issue_in(&mut tx, sealing, &urls, opened, &earned, &naming).await?;
        all.push((earned.achievement.name(), issued));
    }
    tx.commit().await?;
    Ok(all)
}

/// The credential for `earned`, in `tx`: the standing one with the same naming, or a new one.
async fn issue_in(
    tx: &mut Tx,
    sealing: &LinkKey,
    urls: &Urls,
    opened: &Opened,
    earned: &Earned,
    naming: &Naming<'_>,
) -> Result<Issued, Error> {
    let tenant = &opened.tenant;
    let achievement = &earned.achievement.key;
    let choice = naming.choice;
    let subject_digest = &naming.digest;
    // The lock on the signing key orders issuances: two clicks give one credential.
    let signing = keys::signing(tx, sealing).await?;
    let existing: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, compact_jws FROM credentials
          WHERE tenant_id = $1 AND beneficiary_id = $2 AND achievement = $3 AND subject_kind = $4
            AND subject_digest IS NOT DISTINCT FROM $5 AND revoked_at IS NULL AND compact_jws IS NOT NULL
          ORDER BY issued_at DESC LIMIT 1",
    )
    .bind(tx.tenant_id())
    .bind(opened.beneficiary_id)
    .bind(achievement.to_string())
    .bind(choice.kind())
    .bind(subject_digest)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((id, compact_jws)) = existing {
        return Ok(Issued {
            id,
            achievement: achievement.clone(),
            compact_jws,
            verification_url: urls.credential(id),
        });
    }
    let subject = match (choice, naming.email.clone()) {
        (SubjectChoice::Email(_), Some(address)) => Subject::Email {
            address,
            salt: hex::encode(rand::random::<[u8; 16]>()),
        },
        (SubjectChoice::Name, _) => {
            let name: Option<(Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT first_name, last_name FROM beneficiaries WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tx.tenant_id())
            .bind(opened.beneficiary_id)
            .fetch_optional(&mut **tx)
            .await?;
            match name {
                Some((Some(first), Some(last))) => Subject::Name(format!("{first} {last}")),
                _ => return Err(Error::NotFound("beneficiary")),
            }
        }
        _ => {
            let pseudonym = sealing.derive(
                PSEUDONYM_LABEL,
                &[tenant.id.as_bytes(), opened.beneficiary_id.as_bytes()],
            );
            Subject::Pseudonym(
                uuid::Builder::from_random_bytes(pseudonym[..16].try_into().expect("16 bytes"))
                    .into_uuid(),
            )
        }
    };
    let status_index = free_status_index(tx).await?;
    let id = Uuid::now_v7();
    let issued_at = Utc::now();
    let payload = document::credential(
        &Claims {
            id,
            tenant,
            achievement: &earned.achievement,
            subject: &subject,
            awarded_at: earned.awarded_at,
            issued_at,
            evidence: &earned.evidence,
            status_index,
        },
        urls,
    );
    let compact_jws = jws::sign(&signing.key, &urls.key(signing.id), &payload);
    sqlx::query(
        "INSERT INTO credentials (tenant_id, id, beneficiary_id, achievement, name, subject_kind,
                                  subject_digest, key_id, status_index, issued_at, compact_jws)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(tx.tenant_id())
    .bind(id)
    .bind(opened.beneficiary_id)
    .bind(achievement.to_string())
    .bind(earned.achievement.name())
    .bind(choice.kind())
    .bind(subject_digest)
    .bind(signing.id)
    .bind(status_index as i32)
    .bind(issued_at)
    .bind(&compact_jws)
    .execute(&mut **tx)
    .await?;
    audit::record(
        tx,
        tenant.id,
        crate::delivery::portfolio::link::HOLDER,
        "credentials.issued",
        "beneficiary",
        opened.beneficiary_id,
        json!({ "credential_id": id, "achievement": achievement.to_string(), "subject": choice.kind() }),
    )
    .await?;
    Ok(Issued {
        id,
        achievement: achievement.clone(),
        compact_jws,
        verification_url: urls.credential(id),
    })
}

/// A credential as the territory's staff see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialRecord {
    pub id: Uuid,
    pub achievement: String,
    pub name: String,
    pub subject_kind: SubjectKind,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

/// The credentials issued to the person holding `reference`, newest first.
pub async fn of_voucher(
    db: &Db,
    tenant_id: Uuid,
    reference: &str,
    visibility: Visibility,
) -> Result<Vec<CredentialRecord>, Error> {
    let voucher = vouchers::get(db, tenant_id, reference, visibility).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let records = sqlx::query_as(
        "SELECT id, achievement, name, subject_kind, issued_at, revoked_at, revoked_reason
           FROM credentials WHERE tenant_id = $1 AND beneficiary_id = $2
          ORDER BY issued_at DESC, id DESC",
    )
    .bind(tx.tenant_id())
    .bind(voucher.beneficiary_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(records)
}

/// Revokes a credential (recorded by mistake, say): its bit is set in the published status
/// list, and its verification page says so.
pub async fn revoke(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    reason: &str,
) -> Result<CredentialRecord, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::Invalid(vec![FieldError::new(
            "reason",
            "between 1 and 500 characters",
        )]));
    }
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let record: Option<CredentialRecord> = sqlx::query_as(
        "SELECT id, achievement, name, subject_kind, issued_at, revoked_at, revoked_reason
           FROM credentials WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tx.tenant_id())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(mut record) = record else {
        return Err(Error::NotFound("credential"));
    };
    if let Some(on) = record.revoked_at {
        return Err(Refusal::CredentialAlreadyRevoked {
            on: on.with_timezone(&tenant.tz()).date_naive(),
        }
        .into());
    }
    let revoked_at: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE credentials SET revoked_at = clock_timestamp(), revoked_reason = $3
          WHERE tenant_id = $1 AND id = $2 RETURNING revoked_at",
    )
    .bind(tx.tenant_id())
    .bind(id)
    .bind(reason)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "credentials.revoked",
        "credential",
        id,
        json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    record.revoked_at = Some(revoked_at);
    record.revoked_reason = Some(reason.to_owned());
    Ok(record)
}

/// Retires the territory's signing key and makes a new one; returns the new key's id.
pub async fn rotate_key(
    db: &Db,
    sealing: &LinkKey,
    tenant_id: Uuid,
    actor: Actor,
) -> Result<Uuid, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let id = keys::rotate(&mut tx, sealing, actor).await?;
    tx.commit().await?;
    Ok(id)
}

/// The territory's published keys, for its JWK Set; `None` for an unknown territory.
pub async fn published_keys(
    db: &Db,
    slug: &str,
) -> Result<Option<(Tenant, Vec<keys::PublishedKey>)>, Error> {
    let Some(tenant) = tenants::find_by_slug(db, slug).await? else {
        return Ok(None);
    };
    let mut tx = db.begin_tenant(tenant.id).await?;
    let keys = keys::published(&mut tx).await?;
    tx.commit().await?;
    Ok(Some((tenant, keys)))
}

/// The signed status list `list` of the territory `slug`, as a compact JWS; `None` if the
/// territory is unknown or has no credential in that list's range.
pub async fn status_list(
    db: &Db,
    sealing: &LinkKey,
    public_base_url: &str,
    slug: &str,
    list: u32,
) -> Result<Option<String>, Error> {
    let Some(tenant) = tenants::find_by_slug(db, slug).await? else {
        return Ok(None);
    };
    let urls = Urls::new(public_base_url, &tenant.slug);
    let start = i64::from(list) * i64::from(status_list::LIST_SIZE);
    let end = start + i64::from(status_list::LIST_SIZE);
    if end > i64::from(i32::MAX) {
        return Ok(None);
    }
    let mut tx = db.begin_tenant(tenant.id).await?;
    let in_range: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT status_index, revoked_at IS NOT NULL FROM credentials
          WHERE tenant_id = $1 AND status_index >= $2 AND status_index < $3",
    )
    .bind(tx.tenant_id())
    .bind(start as i32)
    .bind(end as i32)
    .fetch_all(&mut *tx)
    .await?;
    if in_range.is_empty() {
        tx.commit().await?;
        return Ok(None);
    }
    let Some(signing) = keys::current(&mut tx, sealing).await? else {
        tx.commit().await?;
        return Ok(None);
    };
    tx.commit().await?;
    let revoked = in_range
        .into_iter()
        .filter(|(_, revoked)| *revoked)
        .map(|(index, _)| status_list::Position::of(index as u32).bit);
    let payload = document::status_list_credential(&tenant, &urls, list, revoked, Utc::now());
    Ok(Some(jws::sign(
        &signing.key,
        &urls.key(signing.id),
        &payload,
    )))
}

/// What the public verification page finds about a credential.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The credential's JSON (the JWS payload), as signed.
    pub credential: Value,
    /// Signed by a key the territory publishes, and its claims agree with the credential.
    pub signature_holds: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub issuer_name: String,
}

/// Checks a compact JWS against the keys `tenant` publishes and its own status.
async fn verify_in(
    tx: &mut Tx,
    tenant: &Tenant,
    urls: &Urls,
    compact: &str,
) -> Result<Option<Verification>, Error> {
    let Ok(parsed) = jws::parse(compact) else {
        return Ok(None);
    };
    let keys = keys::published(tx).await?;
    let signed = keys
        .iter()
        .find(|k| urls.key(k.id) == parsed.header.kid)
        .and_then(keys::PublishedKey::verifying_key)
        .is_some_and(|key| parsed.verifies_with(&key));
    let credential = parsed.payload;
    let agrees = credential["iss"] == json!(urls.issuer())
        && credential["issuer"]["id"] == json!(urls.issuer())
        && credential["jti"] == credential["id"]
        && credential["validFrom"]
            .as_str()
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .is_some_and(|v| credential["nbf"] == json!(v.timestamp()));
    let id = credential["id"]
        .as_str()
        .and_then(|id| urls.credential_id(id));
    let revoked_at: Option<DateTime<Utc>> = match id {
        Some(id) => sqlx::query_scalar(
            "SELECT revoked_at FROM credentials WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tx.tenant_id())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .flatten(),
        None => None,
    };
    Ok(Some(Verification {
        credential,
        signature_holds: signed && agrees,
        revoked_at,
        issuer_name: tenant.shown_name().to_owned(),
    }))
}

/// What the verification link of a credential finds.
#[derive(Debug, Clone)]
pub enum Found {
    Verified(Verification),
    /// Issued here, but what was signed is forgotten: the person's data was erased. The copy
    /// they hold still verifies.
    Forgotten {
        issuer_name: String,
    },
}

/// The credential `id` of territory `slug`, verified as a stranger would: its stored JWS against
/// the published keys, and its status. `None` if there is no such credential there.
pub async fn verify_issued(
    db: &Db,
    public_base_url: &str,
    slug: &str,
    id: Uuid,
) -> Result<Option<Found>, Error> {
    let Some(tenant) = tenants::find_by_slug(db, slug).await? else {
        return Ok(None);
    };
    let urls = Urls::new(public_base_url, &tenant.slug);
    let mut tx = db.begin_tenant(tenant.id).await?;
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT compact_jws FROM credentials WHERE tenant_id = $1 AND id = $2")
            .bind(tx.tenant_id())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let found = match stored {
        Some(Some(compact)) => verify_in(&mut tx, &tenant, &urls, &compact)
            .await?
            .map(Found::Verified),
        Some(None) => Some(Found::Forgotten {
            issuer_name: tenant.shown_name().to_owned(),
        }),
        None => None,
    };
    tx.commit().await?;
    Ok(found)
}

/// A credential pasted by whoever holds it, verified against territory `slug`'s keys and status.
/// `None` if the territory is unknown or the text is not a compact JWS.
pub async fn verify_presented(
    db: &Db,
    public_base_url: &str,
    slug: &str,
    compact: &str,
) -> Result<Option<Verification>, Error> {
    let Some(tenant) = tenants::find_by_slug(db, slug).await? else {
        return Ok(None);
    };
    let urls = Urls::new(public_base_url, &tenant.slug);
    let mut tx = db.begin_tenant(tenant.id).await?;
    let verification = verify_in(&mut tx, &tenant, &urls, compact).await?;
    tx.commit().await?;
    Ok(verification)
}

/// The public description of an achievement of territory `slug`: what its `id` serves.
pub async fn achievement_document(
    db: &Db,
    public_base_url: &str,
    slug: &str,
    key: &AchievementKey,
) -> Result<Option<Value>, Error> {
    let Some(tenant) = tenants::find_by_slug(db, slug).await? else {
        return Ok(None);
    };
    let urls = Urls::new(public_base_url, &tenant.slug);
    let mut tx = db.begin_tenant(tenant.id).await?;
    let described: Option<(String, Option<String>)> =
        match key {
            AchievementKey::Competence { code, .. } => sqlx::query_as(
                "SELECT title, area FROM competences WHERE referential_code = 'crcn' AND code = $1",
            )
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?,
            AchievementKey::Completion { scheme_code } => {
                sqlx::query_as(
                    "SELECT name, NULL::text FROM schemes WHERE tenant_id = $1 AND code = $2",
                )
                .bind(tx.tenant_id())
                .bind(scheme_code)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
    tx.commit().await?;
    Ok(described.map(|(title, area)| {
        let mut document = Achievement {
            key: key.clone(),
            title,
            area,
        }
        .document(&urls.achievement(key), &document::issuer(&tenant, &urls));
        document["@context"] = json!([document::VC_CONTEXT, document::OB_CONTEXT]);
        document
    }))
}

#[derive(sqlx::FromRow)]
struct StoredCredential {
    achievement: String,
    name: String,
    compact_jws: String,
    issued_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

/// A credential of the holder's, as their space shows it.
#[derive(Debug, Clone)]
pub struct HolderCredential {
    pub issued: Issued,
    pub name: String,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The credential `id` if it was issued to the person `opened` opens; `None` otherwise (another
/// person's, or another territory's, look the same as none).
pub async fn issued_to(
    db: &Db,
    public_base_url: &str,
    opened: &Opened,
    id: Uuid,
) -> Result<Option<HolderCredential>, Error> {
    let urls = Urls::new(public_base_url, &opened.tenant.slug);
    let mut tx = db.begin_tenant(opened.tenant.id).await?;
    let row: Option<StoredCredential> = sqlx::query_as(
        "SELECT achievement, name, compact_jws, issued_at, revoked_at FROM credentials
          WHERE tenant_id = $1 AND id = $2 AND beneficiary_id = $3 AND compact_jws IS NOT NULL",
    )
    .bind(tx.tenant_id())
    .bind(id)
    .bind(opened.beneficiary_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(StoredCredential {
        achievement,
        name,
        compact_jws,
        issued_at,
        revoked_at,
    }) = row
    else {
        return Ok(None);
    };
    let achievement = achievement.parse().map_err(|()| {
        Error::Internal(format!("a stored achievement reads badly: {achievement}"))
    })?;
    Ok(Some(HolderCredential {
        issued: Issued {
            id,
            achievement,
            compact_jws,
            verification_url: urls.credential(id),
        },
        name,
        issued_at,
        revoked_at,
    }))
}
