use chrono::NaiveDate;
use passerelle_core::vouchers;
use poem::web::{Data, RemoteAddr};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::Tag;
use crate::problem::ApiError;
use crate::rate_limit;
use crate::state::AppState;

/// Balance checks allowed per client address and minute.
pub const BALANCE_CHECKS_PER_MINUTE: u64 = 10;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct BalanceQuery {
    /// As printed on the letter, e.g. LOT-7K3F-9QX2-M.
    #[oai(validator(min_length = 1, max_length = 40))]
    pub reference: String,
    /// The holder's last name (case and accents do not matter).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: String,
}

/// What the holder of a voucher may learn: nothing about the person, only the time left.
#[derive(Debug, Object)]
pub struct BalanceView {
    pub status: String,
    pub minutes_left: i32,
    /// The last valid day.
    pub valid_until: NaiveDate,
}

pub struct PublicApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Public")]
impl PublicApi {
    /// Public balance check, without a token: the reference and the holder's last name. An unknown
    /// reference and a wrong name get the same 404. Limited to 10 checks a minute per address
    /// (429 with Retry-After). The name travels in the body so that it stays out of access logs.
    #[oai(
        path = "/public/balance",
        method = "post",
        operation_id = "checkBalance"
    )]
    async fn check_balance(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        body: Json<BalanceQuery>,
    ) -> Result<Json<BalanceView>, ApiError> {
        let client = remote.as_socket_addr().map(|a| a.ip());
        rate_limit::hit(&state, "balance", client, BALANCE_CHECKS_PER_MINUTE).await?;
        match vouchers::public_balance(&state.db, &body.0.reference, &body.0.last_name).await? {
            Some(b) => Ok(Json(BalanceView {
                status: b.status,
                minutes_left: b.minutes_left,
                valid_until: b.valid_until,
            })),
            None => {
                Err(passerelle_core::Error::NotFound("voucher with this reference and name").into())
            }
        }
    }
}
