use chrono::NaiveDate;
use passerelle_core::vouchers;
use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};

use super::{Tag, examples};
use crate::limits;
use crate::problem::{ApiError, PublicError};
use crate::state::AppState;
use crate::v1::vouchers::VoucherStatusDto;

/// Balance checks allowed per client address and minute.
pub const BALANCE_CHECKS_PER_MINUTE: u64 = 10;
/// Balance checks allowed per voucher reference and minute, from any addresses: someone holding a
/// letter cannot try names from many addresses to learn the holder's.
pub const BALANCE_CHECKS_PER_REFERENCE_PER_MINUTE: u64 = 5;

/// Both limits of the balance check, the address's first.
pub(crate) async fn check_balance_limits(
    state: &AppState,
    req: &Request,
    reference: &str,
) -> Result<(), ApiError> {
    let client = limits::client::of(req, state);
    limits::rate::hit(state, "balance", &client, BALANCE_CHECKS_PER_MINUTE).await?;
    let reference = reference.trim().to_uppercase();
    limits::rate::hit(
        state,
        "balance-reference",
        &reference,
        BALANCE_CHECKS_PER_REFERENCE_PER_MINUTE,
    )
    .await
}

/// What the holder types to check their balance: the reference and their last name.
#[derive(Debug, Object)]
#[oai(example, deny_unknown_fields)]
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
#[oai(example)]
pub struct BalanceView {
    pub status: VoucherStatusDto,
    pub minutes_left: i32,
    /// The last valid day.
    pub valid_until: NaiveDate,
    /// What the holder pays toward the voucher, in cents (0: free for them).
    pub participation_fee_cents: i64,
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
        req: &Request,
        body: Json<BalanceQuery>,
    ) -> Result<Json<BalanceView>, PublicError> {
        check_balance_limits(&state, req, &body.0.reference).await?;
        match vouchers::public_balance(&state.db, &body.0.reference, &body.0.last_name).await? {
            Some(b) => Ok(Json(BalanceView {
                status: b.status.into(),
                minutes_left: b.minutes_left,
                valid_until: b.valid_until,
                participation_fee_cents: b.participation_fee_cents,
            })),
            None => {
                Err(passerelle_core::Error::NotFound("voucher with this reference and name").into())
            }
        }
    }
}

impl Example for BalanceQuery {
    fn example() -> Self {
        Self {
            reference: examples::REFERENCE.to_lowercase(),
            last_name: "lacombe".into(),
        }
    }
}

impl Example for BalanceView {
    fn example() -> Self {
        Self {
            status: VoucherStatusDto::InProgress,
            minutes_left: 1080,
            valid_until: examples::valid_until(),
            participation_fee_cents: 0,
        }
    }
}
