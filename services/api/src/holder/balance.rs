//! The holder's balance check as a French web page, the one emails and letters link to: the
//! same rules as the API's `checkBalance` (the same answer for an unknown reference and a wrong
//! name, the same limits), and a French page even when the database does not answer.

use passerelle_core::emails::french;
use passerelle_core::vouchers;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Form, Html};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};

use crate::pages;
use crate::problem::{FormRejected, QueryRejected};
use crate::state::AppState;
use crate::v1::Tag;
use crate::v1::public::check_balance_limits;

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
    /// What the holder pays toward it, when anything.
    fee: Option<String>,
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

pub struct BalancePages;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Public")]
impl BalancePages {
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
                    fee: (b.participation_fee_cents > 0)
                        .then(|| french::euros(b.participation_fee_cents)),
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
}
