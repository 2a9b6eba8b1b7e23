//! The second factor of a browser sign-in: a time-based code (TOTP, RFC 6238: SHA-1, six
//! digits, thirty seconds — what every authenticator app reads from an `otpauth://` address),
//! and single-use recovery codes for a lost phone.
//!
//! A code is accepted within one step of the server's clock either way (a phone a little late or
//! early), and once only: the step of the last code accepted is kept, and a code of that step or
//! an earlier one is refused. Five wrong codes in a session end it, so that the code cannot be
//! found by trying them all: the password is asked again, and password failures are slowed down.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::refusal::Refusal;
use crate::storage::{Change, Tx};
use crate::tenancy::Role;
use crate::{Db, Error};

/// The name authenticator apps show beside the account.
pub const ISSUER: &str = "Passerelle";
pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;
/// Recovery codes given at enrolment, each good once.
pub const RECOVERY_CODES: usize = 10;
/// Wrong codes a session may type before it is ended.
pub const FAILURES_PER_SESSION: i32 = 5;
/// A money-moving action asks for a code again when the last one is older than this.
pub const FRESH_FOR_MINUTES: i64 = 15;

/// Whether a user of this role must use a second factor: finance officers and tenant admins
/// always (they approve and pay statements, hold the territory's data), every role when the
/// territory asks for it.
pub fn required(role: Role, every_role: bool) -> bool {
    every_role || matches!(role, Role::Finance | Role::TenantAdmin)
}

/// Extends the second factor to every role of the territory's portal, or back to finance
/// officers and tenant admins only. Audited.
pub async fn set_every_role(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    every_role: bool,
) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query("UPDATE tenants SET second_factor_for_all = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(every_role)
        .execute(&mut *tx)
        .await?;
    tx.changed(Change::Tenant(tenant_id)).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.second_factor_policy_set",
        "tenant",
        tenant_id,
        json!({ "every_role": every_role }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Takes a user's second factor away (a lost phone, no recovery code left): the user's sessions
/// end, and the next sign-in sets up a new authenticator (required roles) or goes on with the
/// password alone. Audited; refused when the user has none.
pub async fn reset(db: &Db, tenant_id: Uuid, actor: Actor, user_id: Uuid) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let exists: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM users WHERE tenant_id = $2 AND id = $1")
            .bind(user_id)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(Error::NotFound("user"));
    }
    let removed = sqlx::query("DELETE FROM totp_factors WHERE tenant_id = $2 AND user_id = $1")
        .bind(user_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(Refusal::SecondFactorNotEnrolled.into());
    }
    sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $2 AND user_id = $1")
        .bind(user_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE web_sessions SET ended_at = now() WHERE tenant_id = $2 AND user_id = $1 AND ended_at IS NULL")
        .bind(user_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "user.second_factor_reset",
        "user",
        user_id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Where a user stands with the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolled {
    No,
    /// A secret was shown, no code typed back yet: it protects nothing.
    Pending,
    Yes,
}

/// What the enrolment page shows: the secret as the app reads it (a QR code of the address), and
/// typed by hand.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_url: String,
}

fn totp(secret: Vec<u8>, account: &str) -> Result<TOTP, Error> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS,
        secret,
        Some(ISSUER.to_owned()),
        account.replace(':', " "),
    )
    .map_err(|e| Error::Internal(format!("second factor secret refused: {e:?}")))
}

/// The time step a code typed now is checked against, among the current one and its neighbours,
/// after `last_step`; `None` when the code matches none of them.
fn matching_step(
    secret: &[u8],
    code: &str,
    now: DateTime<Utc>,
    last_step: Option<i64>,
) -> Result<Option<i64>, Error> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let generator = totp(secret.to_vec(), "")?;
    let current = now.timestamp().max(0) / STEP_SECONDS as i64;
    for step in [current - 1, current, current + 1] {
        if last_step.is_some_and(|last| step <= last) || step < 0 {
            continue;
        }
        let expected = generator.generate(step as u64 * STEP_SECONDS);
        // Compared in full whatever the first difference: no timing tells a digit.
        let same = expected
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// A recovery code as printed: two groups of five from an alphabet without look-alikes.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A recovery code as typed: any case, with or without its dash or spaces.
fn recovery_hash(code: &str) -> Vec<u8> {
    let normalised: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normalised.as_bytes()).to_vec()
}

fn looks_like_recovery_code(code: &str) -> bool {
    code.chars().filter(char::is_ascii_alphanumeric).count() == 10
}

pub async fn enrolled(db: &Db, tenant_id: Uuid, user_id: Uuid) -> Result<Enrolled, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let confirmed: Option<bool> = sqlx::query_scalar(
        "SELECT confirmed_at IS NOT NULL FROM totp_factors WHERE tenant_id = $2 AND user_id = $1",
    )
    .bind(user_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match confirmed {
        None => Enrolled::No,
        Some(false) => Enrolled::Pending,
        Some(true) => Enrolled::Yes,
    })
}

/// The user's secret and whether it is confirmed, the row locked for the enrolment's decision.
async fn factor_locked(tx: &mut Tx, user_id: Uuid) -> Result<Option<(Vec<u8>, bool)>, Error> {
    Ok(sqlx::query_as(
        "SELECT secret, confirmed_at IS NOT NULL FROM totp_factors WHERE tenant_id = $2 AND user_id = $1 FOR UPDATE",
    )
    .bind(user_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

/// The secret to show on the enrolment page: the one already shown if it was not confirmed yet
/// (the person may have scanned it before reloading), else a new one.
pub async fn begin_enrolment(
    db: &Db,
    tenant_id: Uuid,
    user_id: Uuid,
    account: &str,
) -> Result<Enrolment, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let existing = factor_locked(&mut tx, user_id).await?;
    let secret = match existing {
        Some((_, true)) => return Err(Refusal::SecondFactorAlreadyEnrolled.into()),
        Some((secret, false)) => secret,
        None => {
            let mut secret = vec![0u8; 20];
            rand::rng().fill_bytes(&mut secret);
            sqlx::query(
                "INSERT INTO totp_factors (tenant_id, user_id, secret) VALUES ($1, $2, $3)",
            )
            .bind(tenant_id)
            .bind(user_id)
            .bind(&secret)
            .execute(&mut *tx)
            .await?;
            secret
        }
    };
    tx.commit().await?;
    let generator = totp(secret, account)?;
    Ok(Enrolment {
        secret_base32: generator.get_secret_base32(),
        otpauth_url: generator.get_url(),
    })
}

/// Confirms the enrolment with a code computed from the secret shown: the factor protects the
/// account from now on, the session counts as proven, and the recovery codes are returned, in
/// clear, this once (only their hashes are kept). Audited.
pub async fn confirm_enrolment(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
    session_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let factor = factor_locked(&mut tx, user_id).await?;
    let secret = match factor {
        None => return Err(Refusal::SecondFactorNotEnrolled.into()),
        Some((_, true)) => return Err(Refusal::SecondFactorAlreadyEnrolled.into()),
        Some((secret, false)) => secret,
    };
    let Some(step) = matching_step(&secret, code, now, None)? else {
        let attempts_left = count_failure(&mut tx, tenant_id, session_id).await?;
        tx.commit().await?;
        return Err(Refusal::SecondFactorCodeWrong { attempts_left }.into());
    };
    sqlx::query("UPDATE totp_factors SET confirmed_at = $2, last_step = $3 WHERE tenant_id = $4 AND user_id = $1")
        .bind(user_id)
        .bind(now)
        .bind(step)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $2 AND user_id = $1")
        .bind(user_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    for code in &codes {
        sqlx::query(
            "INSERT INTO recovery_codes (tenant_id, user_id, code_hash) VALUES ($1, $2, $3)",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(recovery_hash(code))
        .execute(&mut *tx)
        .await?;
    }
    mark_proven(&mut tx, session_id, now).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "user.second_factor_enrolled",
        "user",
        user_id,
        json!({ "recovery_codes": RECOVERY_CODES }),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// How the session proved the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Code,
    /// A recovery code, used up; this many are left.
    RecoveryCode {
        left: i64,
    },
}

/// Checks a code typed at sign-in (or before a money-moving action): the authenticator's code,
/// once, or an unused recovery code. A wrong one counts against the session, which ends at the
/// fifth.
pub async fn verify(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
    session_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Proof, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let factor: Option<(Vec<u8>, Option<i64>)> = sqlx::query_as(
        "SELECT secret, last_step FROM totp_factors
          WHERE tenant_id = $2 AND user_id = $1 AND confirmed_at IS NOT NULL FOR UPDATE",
    )
    .bind(user_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((secret, last_step)) = factor else {
        return Err(Refusal::SecondFactorNotEnrolled.into());
    };
    let proof = if looks_like_recovery_code(code) {
        let used = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3
              WHERE tenant_id = $4 AND user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(recovery_hash(code))
        .bind(now)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 1 {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM recovery_codes WHERE tenant_id = $2 AND user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                tenant_id,
                actor,
                "user.recovery_code_used",
                "user",
                user_id,
                json!({ "left": left }),
            )
            .await?;
            Some(Proof::RecoveryCode { left })
        } else {
            None
        }
    } else {
        match matching_step(&secret, code, now, last_step)? {
            Some(step) => {
                sqlx::query(
                    "UPDATE totp_factors SET last_step = $2 WHERE tenant_id = $3 AND user_id = $1",
                )
                .bind(user_id)
                .bind(step)
                .bind(tx.tenant_id())
                .execute(&mut *tx)
                .await?;
                Some(Proof::Code)
            }
            None => None,
        }
    };
    let Some(proof) = proof else {
        let attempts_left = count_failure(&mut tx, tenant_id, session_id).await?;
        tx.commit().await?;
        return Err(Refusal::SecondFactorCodeWrong { attempts_left }.into());
    };
    mark_proven(&mut tx, session_id, now).await?;
    tx.commit().await?;
    Ok(proof)
}

async fn mark_proven(tx: &mut Tx, session_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query(
        "UPDATE web_sessions SET second_factor_at = $2, second_factor_failures = 0 WHERE tenant_id = $3 AND id = $1",
    )
    .bind(session_id)
    .bind(now)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts a wrong code against the session and ends it at the last allowed; the attempts left.
async fn count_failure(tx: &mut Tx, tenant_id: Uuid, session_id: Uuid) -> Result<i32, Error> {
    let failures: Option<i32> = sqlx::query_scalar(
        "UPDATE web_sessions SET second_factor_failures = second_factor_failures + 1
          WHERE tenant_id = $2 AND id = $1
          RETURNING second_factor_failures",
    )
    .bind(session_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    let failures = failures.unwrap_or(FAILURES_PER_SESSION);
    if failures >= FAILURES_PER_SESSION {
        sqlx::query(
            "UPDATE web_sessions SET ended_at = least(ended_at, now()) WHERE tenant_id = $2 AND id = $1",
        )
        .bind(session_id)
        .bind(tx.tenant_id())
        .execute(&mut **tx)
        .await?;
        audit::record(
            tx,
            tenant_id,
            Actor::SYSTEM,
            "session.ended_after_wrong_codes",
            "session",
            session_id,
            json!({ "failures": failures }),
        )
        .await?;
    }
    Ok((FAILURES_PER_SESSION - failures).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's test secret for SHA-1 ("12345678901234567890") and its published codes, the
    /// last six digits of its eight-digit table.
    #[test]
    fn codes_follow_rfc_6238_and_are_good_once() {
        let secret = b"12345678901234567890";
        let at = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).expect("time");
        assert_eq!(
            matching_step(secret, "287082", at(59), None).expect("check"),
            Some(1)
        );
        assert_eq!(
            matching_step(secret, "081804", at(1_111_111_109), None).expect("check"),
            Some(37_037_036)
        );
        // A neighbour step is accepted (a phone a little late), not two steps away.
        assert_eq!(
            matching_step(secret, "287082", at(89), None).expect("check"),
            Some(1)
        );
        assert_eq!(
            matching_step(secret, "287082", at(120), None).expect("check"),
            None
        );
        // Once accepted, the same code (or an older one) is refused.
        assert_eq!(
            matching_step(secret, "287082", at(59), Some(1)).expect("check"),
            None
        );
        for malformed in ["", "28708", "2870822", "28708a", "2870 82x"] {
            assert_eq!(
                matching_step(secret, malformed, at(59), None).expect("check"),
                None,
                "{malformed}"
            );
        }
        assert_eq!(
            matching_step(secret, " 287 082 ", at(59), None).expect("check"),
            Some(1)
        );
    }

    #[test]
    fn recovery_codes_are_typed_in_any_case_with_or_without_their_dash() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert!(looks_like_recovery_code(&code));
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_lowercase().replace('-', " "))
        );
        assert!(!looks_like_recovery_code("287082"));
    }
}
