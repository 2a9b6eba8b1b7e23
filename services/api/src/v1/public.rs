use chrono::NaiveDate;
use passerelle_core::emails::{french, unsubscribe};
use passerelle_core::vouchers;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Form, Html, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Tag, examples};
use crate::limits;
use crate::pages;
use crate::problem::{ApiError, FormRejected, PublicError, QueryRejected};
use crate::state::AppState;
use crate::v1::vouchers::VoucherStatusDto;

/// Balance checks allowed per client address and minute.
pub const BALANCE_CHECKS_PER_MINUTE: u64 = 10;
/// Balance checks allowed per voucher reference and minute, from any addresses: someone holding a
/// letter cannot try names from many addresses to learn the holder's.
pub const BALANCE_CHECKS_PER_REFERENCE_PER_MINUTE: u64 = 5;

/// Both limits of the balance check, the address's first.
async fn check_balance_limits(
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
            })),
            None => {
                Err(passerelle_core::Error::NotFound("voucher with this reference and name").into())
            }
        }
    }
}

/// The balance form as a browser sends it.
#[derive(Debug, Object, Deserialize)]
pub struct BalanceForm {
    #[oai(validator(max_length = 40))]
    pub reference: String,
    #[oai(validator(max_length = 100))]
    pub last_name: String,
}

#[derive(ApiResponse)]
pub enum BalancePage {
    /// The form, with the balance when it was found.
    #[oai(status = 200)]
    Ok(Html<String>),
    /// The form again, with the reason in French: no such reference and name.
    #[oai(status = 404)]
    NotFound(Html<String>),
    /// The form again: too many checks from this address; try again in a minute.
    #[oai(status = 429)]
    TooMany(Html<String>),
    /// The form again: the service cannot answer for now (its database is unreachable).
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

/// The empty balance form: the GET answers nothing else.
#[derive(ApiResponse)]
pub enum BalanceFormPage {
    /// The form, pre-filled with the reference when one is given.
    #[oai(status = 200)]
    Ok(Html<String>),
}

#[derive(Serialize)]
struct BalanceResult {
    status_label: &'static str,
    hours_left: String,
    valid_until: String,
}

fn balance_page(
    reference: &str,
    result: Option<BalanceResult>,
    error: Option<&str>,
) -> Html<String> {
    Html(pages::render(
        "balance.html",
        serde_json::json!({ "reference": reference, "result": result, "error": error }),
    ))
}

#[derive(ApiResponse)]
pub enum UnsubscribePage {
    /// A French page: what the link does (GET), or that it was done (POST).
    #[oai(status = 200)]
    Ok(Html<String>),
}

fn unsubscribe_page(s: &unsubscribe::Subscription, done: bool) -> Html<String> {
    Html(pages::render(
        "unsubscribe.html",
        serde_json::json!({
            "tenant_name": s.tenant_name,
            "scheme_name": s.scheme_name,
            "masked_address": s.masked_address,
            "consenting": s.consenting,
            "done": done,
        }),
    ))
}

pub struct PublicPagesApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Public")]
impl PublicPagesApi {
    /// The holder's balance check as a French web page, the one emails link to.
    #[oai(
        path = "/public/balance-page",
        method = "get",
        operation_id = "balancePage"
    )]
    async fn balance_page(
        &self,
        /// Pre-fills the form.
        #[oai(validator(max_length = 40))]
        reference: Query<Option<String>>,
    ) -> Result<BalanceFormPage, QueryRejected> {
        Ok(BalanceFormPage::Ok(balance_page(
            reference.0.as_deref().unwrap_or(""),
            None,
            None,
        )))
    }

    /// The balance form's answer. Same rules as `checkBalance`: the same 404 for an unknown
    /// reference and a wrong name, 10 checks a minute per address.
    #[oai(
        path = "/public/balance-page",
        method = "post",
        operation_id = "balancePageCheck"
    )]
    async fn balance_page_check(
        &self,
        state: Data<&AppState>,
        req: &Request,
        form: Form<BalanceForm>,
    ) -> Result<BalancePage, FormRejected> {
        let reference = form.0.reference.trim().to_uppercase();
        if check_balance_limits(&state, req, &reference).await.is_err() {
            return Ok(BalancePage::TooMany(balance_page(
                &reference,
                None,
                Some("Trop de vérifications depuis cette connexion. Réessayez dans une minute."),
            )));
        }
        // A holder's page answers in French and in HTML even when the database does not.
        let found = match vouchers::public_balance(&state.db, &reference, &form.0.last_name).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = %err, "balance page unavailable");
                return Ok(BalancePage::Unavailable(balance_page(
                    &reference,
                    None,
                    Some(
                        "Le service est momentanément indisponible. Réessayez dans quelques minutes.",
                    ),
                )));
            }
        };
        Ok(match found {
            Some(b) => BalancePage::Ok(balance_page(
                &reference,
                Some(BalanceResult {
                    status_label: passerelle_core::labels::voucher_status_for_holder(b.status),
                    hours_left: french::duration(b.minutes_left),
                    valid_until: french::long_date(b.valid_until),
                }),
                None,
            )),
            None => BalancePage::NotFound(balance_page(
                &reference,
                None,
                Some(
                    "Aucun chèque ne correspond à cette référence et à ce nom. Vérifiez la référence sur votre courrier, et le nom de famille du titulaire.",
                ),
            )),
        })
    }

    /// What an email's unsubscribe link does; nothing changes until the button is pressed.
    #[oai(
        path = "/public/unsubscribe/:tenant/:key",
        method = "get",
        operation_id = "unsubscribePage"
    )]
    async fn unsubscribe_page(
        &self,
        state: Data<&AppState>,
        /// The tenant's identifier, as in the email's link.
        tenant: Path<Uuid>,
        /// The unsubscribe key of the email's link.
        key: Path<Uuid>,
    ) -> Result<UnsubscribePage, PublicError> {
        let subscription = unsubscribe::find(&state.db, tenant.0, key.0).await?;
        Ok(UnsubscribePage::Ok(unsubscribe_page(&subscription, false)))
    }

    /// Withdraws the holder's consent to emails: the one-click POST of RFC 8058 (body
    /// `List-Unsubscribe=One-Click`) or the page's button. Idempotent.
    #[oai(
        path = "/public/unsubscribe/:tenant/:key",
        method = "post",
        operation_id = "unsubscribe"
    )]
    async fn unsubscribe(
        &self,
        state: Data<&AppState>,
        /// The tenant's identifier, as in the email's link.
        tenant: Path<Uuid>,
        /// The unsubscribe key of the email's link.
        key: Path<Uuid>,
    ) -> Result<UnsubscribePage, PublicError> {
        let subscription = unsubscribe::withdraw(&state.db, tenant.0, key.0).await?;
        Ok(UnsubscribePage::Ok(unsubscribe_page(&subscription, true)))
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
        }
    }
}
