//! The inbox of accompaniment requests, for an EPN's animators (their EPN's) and the tenant admin
//! (all): newest first, a page at a time, so a person's request is never buried under older ones
//! or spam. A pending request is accepted (a voucher for the accompaniment time, registered at the
//! EPN) or declined with a reason, which the person who asked through the public form receives by
//! email.

use std::collections::HashMap;

use passerelle_core::delivery::RequestChannel;
use passerelle_core::delivery::RequestStatus;
use passerelle_core::delivery::accompaniment::{self, Acceptance, RequestDetails, Scope};
use passerelle_core::emails::french;
use passerelle_core::pagination::PageRequest;
use passerelle_core::{epns, labels, schemes};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::{Choice, option, optional, query_param};
use super::french::{FormErrors, FormRefusal};
use super::{PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

/// Requests per page.
const PER_PAGE: u32 = 20;

#[derive(Serialize)]
struct RequestRow {
    id: Uuid,
    received: String,
    status: &'static str,
    pending: bool,
    from_public: bool,
    epn: String,
    scheme: String,
    message: Option<String>,
    decision_reason: Option<String>,
    /// The person, as they gave their details (none once decided).
    person: Option<PersonView>,
    expires: Option<String>,
    /// Accepting needs the commune's INSEE code: the person gave a postal code.
    needs_commune_code: bool,
    /// Accepting needs the funder chosen here: a public request, a tenant admin, no designated
    /// funder for the scheme (preselected when there is one).
    funders: Vec<Choice>,
    funder: String,
    errors: Option<FormErrors>,
}

#[derive(Serialize)]
struct PersonView {
    name: String,
    birth_year: Option<i16>,
    place: String,
    phone: Option<String>,
    email: Option<String>,
}

#[derive(Serialize)]
struct InboxView {
    rows: Vec<RequestRow>,
    next: Option<String>,
    first_page: bool,
    notice: Option<String>,
}

/// Who the signed-in user answers for: their EPN, or the whole tenant.
fn scope(portal: &Portal) -> Scope {
    match portal.epn_id() {
        Some(epn) => Scope::Epn(epn),
        None => Scope::Tenant,
    }
}

fn person(details: &RequestDetails) -> Option<PersonView> {
    let name = [details.first_name.as_deref(), details.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        return None;
    }
    let place = match (
        &details.postal_code,
        &details.commune_name,
        &details.commune_insee,
    ) {
        (Some(code), Some(commune), _) => format!("{code} {commune}"),
        (_, _, Some(insee)) => format!("commune {insee} (code INSEE)"),
        _ => String::new(),
    };
    Some(PersonView {
        name,
        birth_year: details.birth_year,
        place,
        phone: details.phone.clone(),
        email: details.email.clone(),
    })
}

/// The refusal of one request's form, shown next to it.
struct Refused<'a> {
    id: Uuid,
    errors: &'a FormRefusal,
}

async fn inbox(
    state: &AppState,
    portal: &Portal,
    req: &Request,
    status: StatusCode,
    refused: Option<Refused<'_>>,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let after = query_param(req, "apres");
    let page = PageRequest::parse(Some(PER_PAGE), after.as_deref())?;
    let found = accompaniment::list(&state.db, tenant_id, scope(portal), None, page).await?;
    let ids: Vec<Uuid> = found.items.iter().map(|r| r.id).collect();
    let details: HashMap<Uuid, RequestDetails> = accompaniment::details(&state.db, tenant_id, &ids)
        .await?
        .into_iter()
        .collect();
    let mut epn_names: HashMap<Uuid, String> = HashMap::new();
    for request in &found.items {
        if !epn_names.contains_key(&request.epn_id) {
            let epn = epns::get(&state.db, tenant_id, request.epn_id).await?;
            epn_names.insert(epn.id, epn.name);
        }
    }
    let scheme_list = schemes::list(&state.db, tenant_id, PageRequest::parse(Some(100), None)?)
        .await?
        .items;
    let admin = matches!(scope(portal), Scope::Tenant);
    let funders: Vec<Choice> = if admin {
        super::admin::all(|page| passerelle_core::prescribers::list(&state.db, tenant_id, page))
            .await?
            .into_iter()
            .map(|p| option(p.id, p.name))
            .collect()
    } else {
        Vec::new()
    };
    let tz = portal.tenant.tz();
    let rows = found
        .items
        .into_iter()
        .map(|r| {
            let scheme = scheme_list.iter().find(|s| s.id == r.scheme_id);
            let details = details.get(&r.id);
            let pending = r.status == RequestStatus::Pending;
            let from_public = r.channel == RequestChannel::PublicForm;
            let designated = scheme.and_then(|s| s.public_requests_funded_by);
            RequestRow {
                id: r.id,
                received: french::long_date(r.created_at.with_timezone(&tz).date_naive()),
                status: labels::request_status(r.status),
                pending,
                from_public,
                epn: epn_names.get(&r.epn_id).cloned().unwrap_or_default(),
                scheme: scheme.map(|s| s.name.clone()).unwrap_or_default(),
                message: r.message,
                decision_reason: r.decision_reason,
                person: details.and_then(person),
                expires: r
                    .expires_at
                    .filter(|_| pending)
                    .map(|at| french::long_date(at.with_timezone(&tz).date_naive())),
                needs_commune_code: pending
                    && from_public
                    && details.is_some_and(|d| d.commune_insee.is_none()),
                funders: if pending && from_public && admin {
                    funders.clone()
                } else {
                    Vec::new()
                },
                funder: designated.map(|id| id.to_string()).unwrap_or_default(),
                errors: refused
                    .as_ref()
                    .filter(|f| f.id == r.id)
                    .map(|f| f.errors.to_view()),
            }
        })
        .collect();
    let notice = query_param(req, "acceptee")
        .map(|reference| {
            format!("Demande acceptée : le chèque {reference} est émis et inscrit dans l’EPN.")
        })
        .or_else(|| query_param(req, "declinee").map(|_| "Demande déclinée.".to_owned()));
    Ok(portal.page(
        status,
        "requests.html",
        InboxView {
            rows,
            next: found.next_cursor,
            first_page: after.is_none(),
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
    let portal = Portal::allowed(&state, req, &slug, &access::ACCEPT_ACCOMPANIMENT).await?;
    inbox(&state, &portal, req, StatusCode::OK, None).await
}

/// A refusal to show next to the request's form; a request the user may not answer (another
/// EPN's) is not in their inbox, so its refusal is the "not found" page, like an unknown one.
fn refusal_next_to_request(err: passerelle_core::Error) -> PageResult<FormRefusal> {
    match err {
        passerelle_core::Error::NotFound("accompaniment request") => Err(err.into()),
        err => super::refusal_of(&err),
    }
}

#[derive(Deserialize)]
pub(super) struct AcceptForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    commune_insee: String,
    #[serde(default)]
    prescriber_id: String,
}

#[handler]
pub(super) async fn accept(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<AcceptForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::ACCEPT_ACCOMPANIMENT,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "accompaniment request")?;
    let acceptance = Acceptance {
        prescriber_id: optional(&form.prescriber_id).and_then(|p| Uuid::parse_str(&p).ok()),
        commune_insee: optional(&form.commune_insee),
    };
    match accompaniment::accept(
        &state.db,
        portal.tenant.id,
        scope(&portal),
        portal.actor(),
        id,
        &acceptance,
    )
    .await
    {
        Ok(voucher) => Ok(see_other(&format!(
            "{}/demandes?acceptee={}",
            portal.path(),
            voucher.reference
        ))),
        Err(e) => {
            let errors = refusal_next_to_request(e)?;
            inbox(
                &state,
                &portal,
                req,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(Refused {
                    id,
                    errors: &errors,
                }),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct DeclineForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

#[handler]
pub(super) async fn decline(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DeclineForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::DECLINE_ACCOMPANIMENT,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "accompaniment request")?;
    match accompaniment::decline(
        &state.db,
        portal.tenant.id,
        scope(&portal),
        portal.actor(),
        id,
        &form.reason,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("{}/demandes?declinee=1", portal.path()))),
        Err(e) => {
            let errors = refusal_next_to_request(e)?;
            inbox(
                &state,
                &portal,
                req,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(Refused {
                    id,
                    errors: &errors,
                }),
            )
            .await
        }
    }
}
