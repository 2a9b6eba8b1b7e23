//! The tenant admin's prescriber organisations and their quotas: add an organisation, give it an
//! allocation of vouchers for a scheme over a period, and change an allocation's quantity.

use chrono::{Datelike, NaiveDate};
use passerelle_core::emails::french;
use passerelle_core::pagination::PageRequest;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber, PrescriberKind};
use passerelle_core::schemes;
use passerelle_core::{Error, labels};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::{Choice, option, optional};
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, failed, see_other};
use crate::access;
use crate::state::AppState;

/// What was typed in one of the page's two forms, and why it was refused.
#[derive(Default)]
struct Typed {
    organisation: Option<OrganisationForm>,
    allocation: Option<AllocationForm>,
    errors: FormRefusal,
}

/// An allocation of a prescriber, with what is left of it.
#[derive(Serialize)]
struct AllocationRow {
    id: Uuid,
    scheme: String,
    period: String,
    quantity: i32,
    issued: i32,
    remaining: i32,
}

/// A prescriber organisation with its contact and allocations.
#[derive(Serialize)]
struct OrganisationRow {
    id: Uuid,
    name: String,
    kind: &'static str,
    siret: Option<String>,
    contact: String,
    allocations: Vec<AllocationRow>,
}

/// The prescribers' page: the organisations, and the two forms with what was typed in them.
#[derive(Serialize)]
struct PrescribersView<'a> {
    organisations: Vec<OrganisationRow>,
    options: Vec<Choice>,
    kinds: Vec<Choice>,
    schemes: Vec<Choice>,
    organisation: Option<OrganisationForm>,
    allocation: AllocationForm,
    errors: FormErrors,
    notice: Option<&'a str>,
}

async fn page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    typed: Typed,
    notice: Option<&str>,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let loaded = async {
        let organisations =
            super::admin::all(|page| prescribers::list(&state.db, tenant_id, page)).await?;
        let schemes =
            schemes::list(&state.db, tenant_id, PageRequest::parse(Some(100), None)?).await?;
        let allocations = prescribers::tenant_allocations(&state.db, tenant_id).await?;
        let rows: Vec<_> = organisations
            .into_iter()
            .map(|organisation| {
                let own: Vec<_> = allocations
                    .iter()
                    .filter(|a| a.prescriber_id == organisation.id)
                    .cloned()
                    .collect();
                (organisation, own)
            })
            .collect();
        Ok::<_, Error>((rows, schemes.items))
    }
    .await;
    let (rows, schemes) = loaded?;
    let scheme_name = |id: Uuid| {
        schemes
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    let organisations: Vec<OrganisationRow> = rows
        .iter()
        .map(|(p, allocations)| {
            let contact = [p.contact_email.as_deref(), p.contact_phone.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            OrganisationRow {
                id: p.id,
                name: p.name.clone(),
                kind: labels::prescriber_kind(p.kind),
                siret: p.siret.clone(),
                contact,
                allocations: allocations
                    .iter()
                    .map(|a| AllocationRow {
                        id: a.id,
                        scheme: scheme_name(a.scheme_id),
                        period: format!(
                            "du {} au {}",
                            french::long_date(a.period_start),
                            french::long_date(a.period_end)
                        ),
                        quantity: a.quantity,
                        issued: a.issued,
                        remaining: a.remaining(),
                    })
                    .collect(),
            }
        })
        .collect();
    let today = portal.tenant.today();
    Ok(portal.page(
        status,
        "prescribers.html",
        PrescribersView {
            organisations,
            options: rows.iter().map(|(p, _)| option(p.id, &p.name)).collect(),
            kinds: PrescriberKind::all()
                .map(|k| option(k.as_str(), labels::prescriber_kind(k)))
                .collect(),
            schemes: schemes
                .iter()
                .filter(|s| s.status != passerelle_core::schemes::SchemeStatus::Closed)
                .map(|s| option(s.id, &s.name))
                .collect(),
            organisation: typed.organisation,
            // By default an allocation runs from today to the end of the year.
            allocation: typed.allocation.unwrap_or_else(|| AllocationForm {
                period_start: today.format("%Y-%m-%d").to_string(),
                period_end: today
                    .with_month(12)
                    .and_then(|d| d.with_day(31))
                    .unwrap_or(today)
                    .format("%Y-%m-%d")
                    .to_string(),
                ..AllocationForm::default()
            }),
            errors: typed.errors.to_view(),
            notice,
        },
    ))
}

#[handler]
pub(super) async fn list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_PRESCRIBERS).await?;
    let notice = match req.uri().query() {
        Some("ajoute=1") => Some("Structure prescriptrice ajoutée."),
        Some("dotation=1") => Some("Dotation enregistrée."),
        Some("modifie=1") => Some("Structure prescriptrice modifiée."),
        _ => None,
    };
    page(&state, &portal, StatusCode::OK, Typed::default(), notice).await
}

/// A prescriber organisation's form, to add one or to correct it (`prescriber_edit`).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct OrganisationForm {
    #[serde(default)]
    pub(super) csrf_token: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) siret: String,
    #[serde(default)]
    pub(super) contact_email: String,
    #[serde(default)]
    pub(super) contact_phone: String,
}

#[handler]
pub(super) async fn create(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<OrganisationForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::CREATE_PRESCRIBER,
        &form.csrf_token,
    )
    .await?;
    let created = match form.kind.parse::<PrescriberKind>() {
        Ok(kind) => {
            let new = NewPrescriber {
                name: form.name.trim().to_owned(),
                kind,
                siret: optional(&form.siret).map(|s| s.replace(' ', "")),
                contact_email: optional(&form.contact_email),
                contact_phone: optional(&form.contact_phone),
            };
            prescribers::create(&state.db, portal.tenant.id, portal.actor(), &new).await
        }
        Err(_) => Err(Error::invalid("kind", "a kind of the list")),
    };
    match created {
        Ok(_) => Ok(see_other(&format!(
            "{}/prescripteurs?ajoute=1",
            portal.path()
        ))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            let typed = Typed {
                organisation: Some(form),
                allocation: None,
                errors,
            };
            page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed,
                None,
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct AllocationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    prescriber_id: String,
    #[serde(default)]
    scheme_id: String,
    #[serde(default)]
    period_start: String,
    #[serde(default)]
    period_end: String,
    #[serde(default)]
    quantity: String,
}

fn read_allocation(form: &AllocationForm) -> Result<(Uuid, NewAllocation), FormRefusal> {
    let mut refusal = FormRefusal::default();
    let prescriber = Uuid::parse_str(form.prescriber_id.trim()).ok();
    if prescriber.is_none() {
        refusal = refusal.field("prescriber_id", "Choisissez une structure dans la liste.");
    }
    let scheme = Uuid::parse_str(form.scheme_id.trim()).ok();
    if scheme.is_none() {
        refusal = refusal.field("scheme_id", "Choisissez un dispositif dans la liste.");
    }
    let date = |text: &str| NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok();
    let (start, end) = (date(&form.period_start), date(&form.period_end));
    if start.is_none() {
        refusal = refusal.field(
            "period_start",
            "Saisissez le premier jour, par exemple 2027-01-01.",
        );
    }
    if end.is_none() {
        refusal = refusal.field(
            "period_end",
            "Saisissez le dernier jour, par exemple 2027-12-31.",
        );
    }
    let quantity = form.quantity.trim().parse::<i32>().ok();
    if quantity.is_none() {
        refusal = refusal.field(
            "quantity",
            "Saisissez un nombre de chèques, par exemple 40.",
        );
    }
    match (prescriber, scheme, start, end, quantity) {
        (Some(p), Some(scheme_id), Some(period_start), Some(period_end), Some(quantity))
            if refusal.is_empty() =>
        {
            Ok((
                p,
                NewAllocation {
                    scheme_id,
                    period_start,
                    period_end,
                    quantity,
                },
            ))
        }
        _ => Err(refusal),
    }
}

#[handler]
pub(super) async fn allocate(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<AllocationForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::CREATE_ALLOCATION,
        &form.csrf_token,
    )
    .await?;
    let errors = match read_allocation(&form) {
        Ok((prescriber_id, new)) => {
            match prescribers::allocate(
                &state.db,
                portal.tenant.id,
                portal.actor(),
                prescriber_id,
                &new,
            )
            .await
            {
                Ok(_) => {
                    return Ok(see_other(&format!(
                        "{}/prescripteurs?dotation=1",
                        portal.path()
                    )));
                }
                Err(e) => super::refusal_of(&e)?,
            }
        }
        Err(errors) => errors,
    };
    let typed = Typed {
        organisation: None,
        allocation: Some(form),
        errors,
    };
    page(
        &state,
        &portal,
        StatusCode::UNPROCESSABLE_ENTITY,
        typed,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct QuantityForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    quantity: String,
}

#[handler]
pub(super) async fn set_quantity(
    Path((slug, prescriber_id, allocation_id)): Path<(String, String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<QuantityForm>,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SET_ALLOCATION_QUANTITY).await?;
    if let Some(refused) = portal.form_refused(req, &form.csrf_token) {
        return Ok(refused);
    }
    let back = format!("{}/prescripteurs", portal.path());
    let prescriber_id = super::path_id(&prescriber_id, "allocation")?;
    let allocation_id = super::path_id(&allocation_id, "allocation")?;
    let Ok(quantity) = form.quantity.trim().parse::<i32>() else {
        return Err(failed(
            &Error::invalid("quantity", "a number"),
            Some((&back, "Revenir aux structures prescriptrices")),
        )
        .into());
    };
    prescribers::set_quantity(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        prescriber_id,
        allocation_id,
        quantity,
    )
    .await
    .or_back(&back, "Revenir aux structures prescriptrices")?;
    Ok(see_other(&format!("{back}?dotation=1")))
}
