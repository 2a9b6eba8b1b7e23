//! A public form's token, against robots without a third-party CAPTCHA: issued with the form, it
//! proves the form was opened on this service at least `MIN_FILL_SECONDS` before it was sent (a
//! person reads and types; a robot posts at once), within `LIFETIME_SECONDS`, and only once. The
//! token is a random value kept in the limits' store (Redis, or this process's memory when Redis
//! does not answer), where its counter says how often it was sent.

use super::store;
use crate::state::AppState;

/// The least time a person takes to fill in the request form.
pub const MIN_FILL_SECONDS: u64 = 3;
/// How long an opened form can be sent.
pub const LIFETIME_SECONDS: u64 = 2 * 3600;

/// What a token sent with a form says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Opened long enough ago, and sent for the first time.
    Fresh,
    /// Sent less than `MIN_FILL_SECONDS` after the form was opened.
    TooFast,
    /// Never issued, expired, or already sent: the form must be opened again.
    Unknown,
}

fn key(token: &str) -> String {
    format!("form:{token}")
}

/// A new token for a form being shown.
pub async fn issue(state: &AppState) -> String {
    let token = uuid::Uuid::new_v4().simple().to_string();
    store::hit(state, &key(&token), LIFETIME_SECONDS).await;
    token
}

/// Spends a token sent with a form. Its counter goes up by one atomically: only the first send
/// finds it at two.
pub async fn spend(state: &AppState, token: &str) -> Verdict {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Verdict::Unknown;
    }
    let Some(issued) = store::read(state, &key(token)).await else {
        return Verdict::Unknown;
    };
    let spent = store::hit(state, &key(token), LIFETIME_SECONDS).await;
    if spent.count != 2 {
        return Verdict::Unknown;
    }
    if store::now_ms().saturating_sub(issued.last_ms) < MIN_FILL_SECONDS * 1_000 {
        return Verdict::TooFast;
    }
    Verdict::Fresh
}
