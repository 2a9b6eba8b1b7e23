//! Bank details under four eyes, in the portal: the EPN's staff submit their account on « Mes
//! coordonnées bancaires »; the territory's finance officers and admins see each waiting change,
//! with the new IBAN in full, on the month's statements page (where the SEPA file is downloaded),
//! and confirm or reject it — never the person who submitted it.

use chrono::NaiveDate;
use passerelle_core::emails::french;
use passerelle_core::epns::bank::{self, BankChange};
use passerelle_core::epns::{self, BankDetails, mask_iban};
use passerelle_core::labels;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::optional;
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

/// A change as the EPN's page shows it (the IBAN masked) or as finance checks it (in full).
#[derive(Serialize)]
pub(super) struct ChangeRow {
    id: Uuid,
    epn: String,
    iban: String,
    bic: Option<String>,
    account_holder: String,
    current: Option<String>,
    status: &'static str,
    submitted_on: String,
    submitted_by: Option<String>,
    decided_on: Option<String>,
    reason: Option<String>,
}

impl ChangeRow {
    pub(super) fn new(change: BankChange, in_full: bool, tz: chrono_tz::Tz) -> Self {
        let day =
            |t: chrono::DateTime<chrono::Utc>| -> NaiveDate { t.with_timezone(&tz).date_naive() };
        Self {
            id: change.id,
            epn: change.epn_name,
            iban: if in_full {
                spaced(&change.iban)
            } else {
                mask_iban(&change.iban)
            },
            bic: change.bic,
            account_holder: change.account_holder,
            current: change.current_iban.as_deref().map(mask_iban),
            status: labels::bank_change_status(change.status),
            submitted_on: french::long_date(day(change.submitted_at)),
            submitted_by: change.submitted_by_name,
            decided_on: change.decided_at.map(|t| french::long_date(day(t))),
            reason: change.reason,
        }
    }
}

/// "FR7630006000011234567890189" as the bank's document prints it: groups of four.
fn spaced(iban: &str) -> String {
    iban.as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The changes a finance officer or admin may decide, for the month's statements page.
pub(super) async fn waiting(state: &AppState, portal: &Portal) -> PageResult<Vec<ChangeRow>> {
    if !portal.may(&access::CONFIRM_BANK_CHANGE) {
        return Ok(Vec::new());
    }
    let tz = portal.tenant.tz();
    Ok(bank::pending(&state.db, portal.tenant.id, None)
        .await?
        .into_iter()
        .map(|c| ChangeRow::new(c, true, tz))
        .collect())
}

#[derive(Serialize)]
struct EpnBankView {
    epn: String,
    current: Option<String>,
    holder: Option<String>,
    change: Option<ChangeRow>,
    submitted: bool,
    iban: String,
    bic: String,
    account_holder: String,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub(super) struct BankForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    iban: String,
    #[serde(default)]
    bic: String,
    #[serde(default)]
    account_holder: String,
}

async fn epn_page(
    state: &AppState,
    portal: &Portal,
    epn_id: Uuid,
    status: StatusCode,
    form: &BankForm,
    errors: &FormRefusal,
    submitted: bool,
) -> PageResult {
    let epn = epns::get(&state.db, portal.tenant.id, epn_id).await?;
    let change = bank::latest(&state.db, portal.tenant.id, epn_id).await?;
    Ok(portal.page(
        status,
        "epn_bank.html",
        EpnBankView {
            current: epn.iban.as_deref().map(mask_iban),
            holder: epn.account_holder.clone(),
            epn: epn.name,
            change: change.map(|c| ChangeRow::new(c, false, portal.tenant.tz())),
            submitted,
            iban: form.iban.clone(),
            bic: form.bic.clone(),
            account_holder: if form.account_holder.is_empty() {
                epn.account_holder.unwrap_or_default()
            } else {
                form.account_holder.clone()
            },
            errors: errors.to_view(),
        },
    ))
}

/// « Mes coordonnées bancaires »: the EPN's account, its latest change and the form to submit one.
#[handler]
pub(super) async fn epn_show(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SET_EPN_BANK_DETAILS).await?;
    let Some(epn_id) = portal.epn_id() else {
        // A tenant admin submits from the EPN's page in the network.
        return Ok(see_other(&format!("{}/epns", portal.path())));
    };
    let submitted = req.uri().query() == Some("envoye=1");
    epn_page(
        &state,
        &portal,
        epn_id,
        StatusCode::OK,
        &BankForm::default(),
        &FormRefusal::default(),
        submitted,
    )
    .await
}

#[handler]
pub(super) async fn epn_submit(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<BankForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::SET_EPN_BANK_DETAILS,
        &form.csrf_token,
    )
    .await?;
    let Some(epn_id) = portal.epn_id() else {
        return Ok(see_other(&format!("{}/epns", portal.path())));
    };
    let details = BankDetails {
        iban: form.iban.clone(),
        bic: optional(&form.bic),
        account_holder: form.account_holder.trim().to_owned(),
    };
    match bank::submit(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        epn_id,
        Some(epn_id),
        &details,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("{}/epn/banque?envoye=1", portal.path()))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            epn_page(
                &state,
                &portal,
                epn_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
                false,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf_token: String,
    /// The month page the decision was taken from, to go back to it.
    #[serde(default)]
    mois: String,
    #[serde(default)]
    reason: String,
}

fn month_page(portal: &Portal, month: &str, outcome: &str) -> String {
    let month = month
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '-')
        .take(7)
        .collect::<String>();
    format!("{}/releves?mois={month}&banque={outcome}", portal.path())
}

#[handler]
pub(super) async fn confirm(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::CONFIRM_BANK_CHANGE,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "bank change")?;
    let back = month_page(&portal, &form.mois, "");
    bank::confirm(&state.db, portal.tenant.id, portal.actor(), id)
        .await
        .or_back(&back, "Revenir aux relevés")?;
    Ok(see_other(&month_page(&portal, &form.mois, "confirme")))
}

#[handler]
pub(super) async fn reject(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::REJECT_BANK_CHANGE,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "bank change")?;
    let back = month_page(&portal, &form.mois, "");
    bank::reject(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        id,
        &form.reason,
    )
    .await
    .or_back(&back, "Revenir aux relevés")?;
    Ok(see_other(&month_page(&portal, &form.mois, "refuse")))
}
