//! Fixed windows: at most `limit` hits of a scope per key and minute (or per any window).

use super::store;
use crate::problem::ApiError;
use crate::state::AppState;

const WINDOW_SECONDS: u64 = 60;

/// Counts one hit of `scope` by `key` (a client's key, a voucher reference…); refuses it past
/// `limit` in the current minute, with the seconds left in the window.
pub async fn hit(state: &AppState, scope: &str, key: &str, limit: u64) -> Result<(), ApiError> {
    hit_per(state, scope, key, limit, WINDOW_SECONDS).await
}

/// As `hit`, with windows of `window_seconds`.
pub async fn hit_per(
    state: &AppState,
    scope: &str,
    key: &str,
    limit: u64,
    window_seconds: u64,
) -> Result<(), ApiError> {
    let now = store::now();
    let window = now / window_seconds;
    let counter = store::hit(
        state,
        &format!("rate:{scope}:{key}:{window}"),
        window_seconds + 1,
    )
    .await;
    if counter.count > limit {
        return Err(ApiError::TooManyRequests {
            retry_after: ((window + 1) * window_seconds - now).max(1),
        });
    }
    Ok(())
}
