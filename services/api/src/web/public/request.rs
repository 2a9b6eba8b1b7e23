//! « Je développe mes compétences numériques »: the request for the personalised accompaniment, as
//! a French form for a person on a phone, and its receipt. The domain's rule is the API's
//! (`accompaniment::request_public`); this page adds what a form open to anyone needs against
//! robots, without a third-party CAPTCHA: a field hidden from people that robots fill in (the
//! request is then silently dropped), a token that proves the form was opened a few seconds
//! before and is sent once, and limits per address (5 a minute, 20 a day).

use passerelle_core::beneficiaries::{NewBeneficiary, PublicCategory};
use passerelle_core::delivery::accompaniment::{self, PUBLIC_REQUEST_DAYS, PublicRequest};
use passerelle_core::epns::{self, Epn};
use passerelle_core::schemes::SchemeDetail;
use passerelle_core::tenancy::tenants::Tenant;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::super::forms::{Choice, option, optional, query_param, ticked};
use super::super::french::{FormErrors, FormRefusal};
use super::super::responses::{PageResult, french_delay, html, message, retry_after, see_other};
use super::{public_path, public_scheme};
use crate::limits::{self, form_token};
use crate::pages;
use crate::state::AppState;

/// Requests allowed per client address and minute, counted with the API's public form.
const PER_MINUTE: u64 = 5;
/// Requests allowed per client address and day.
const PER_DAY: u64 = 20;
/// The most EPNs the form's list offers.
const MAX_EPNS: i64 = 500;

/// The form as the browser sends it. `site_web` is the field people do not see.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(in crate::web) struct RequestForm {
    #[serde(default)]
    jeton: String,
    #[serde(default, skip_serializing)]
    site_web: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    birth_year: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    commune_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    email_consent: Option<String>,
    #[serde(default)]
    public_category: String,
    #[serde(default)]
    epn_id: String,
    #[serde(default)]
    message: String,
}

#[derive(Serialize)]
struct RequestView<'a> {
    tenant_name: &'a str,
    brand: super::super::Brand,
    scheme_name: &'a str,
    path: String,
    hours: String,
    form: &'a RequestForm,
    token: String,
    epns: Vec<Choice>,
    publics: Vec<Choice>,
    errors: FormErrors,
    days: i64,
}

fn epn_label(epn: &Epn) -> String {
    match (&epn.commune, &epn.postal_code) {
        (Some(commune), Some(code)) => format!("{} — {code} {commune}", epn.name),
        (Some(commune), None) => format!("{} — {commune}", epn.name),
        _ => epn.name.clone(),
    }
}

/// The scheme's public request form, or the 404 when it offers no accompaniment.
async fn offered(
    state: &AppState,
    slug: &str,
    code: &str,
) -> PageResult<(Tenant, SchemeDetail, String)> {
    let (tenant, detail) = public_scheme(state, slug, code).await?;
    match super::accompaniment_hours(&detail) {
        Some(hours) => Ok((tenant, detail, hours)),
        None => Err(message(
            StatusCode::NOT_FOUND,
            "Page introuvable",
            "Ce dispositif ne propose pas d’accompagnement personnalisé.",
            Some((
                &public_path(&tenant, code),
                "Voir le kit de sensibilisation",
            )),
        )
        .into()),
    }
}

async fn form_page(
    state: &AppState,
    (tenant, detail, hours): &(Tenant, SchemeDetail, String),
    status: StatusCode,
    form: &RequestForm,
    errors: &FormRefusal,
) -> PageResult {
    let places = epns::nearest(
        &state.db,
        tenant.id,
        detail.scheme.id,
        Some(form.postal_code.trim()).filter(|c| c.len() == 5),
        MAX_EPNS,
    )
    .await?;
    let eligible = detail
        .current
        .as_ref()
        .map(|v| v.rules.0.eligible_categories.clone())
        .unwrap_or_default();
    let view = RequestView {
        tenant_name: tenant.shown_name(),
        brand: super::super::Brand::of(tenant),
        scheme_name: &detail.scheme.name,
        path: public_path(tenant, &detail.scheme.code),
        hours: hours.clone(),
        form,
        token: form_token::issue(state).await,
        epns: places.iter().map(|e| option(e.id, epn_label(e))).collect(),
        publics: eligible
            .into_iter()
            .map(|c| option(c.as_str(), passerelle_core::labels::public_category(c)))
            .collect(),
        errors: errors.to_view(),
        days: PUBLIC_REQUEST_DAYS,
    };
    Ok(html(status, pages::render("request.html", view)))
}

#[handler]
pub(super) async fn show(
    Path((slug, code)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let offer = offered(&state, &slug, &code).await?;
    let form = RequestForm {
        epn_id: query_param(req, "epn").unwrap_or_default(),
        postal_code: query_param(req, "code_postal").unwrap_or_default(),
        ..RequestForm::default()
    };
    form_page(
        &state,
        &offer,
        StatusCode::OK,
        &form,
        &FormRefusal::default(),
    )
    .await
}

/// The request the form describes, or what to correct. Fields the domain checks as well (names,
/// contacts) are left to it; this reads what only a form can get wrong.
fn read(form: &RequestForm) -> Result<PublicRequest, FormRefusal> {
    let mut refusal = FormRefusal::default();
    let birth_year = form.birth_year.trim().parse::<i16>().ok();
    if birth_year.is_none() {
        refusal = refusal.field(
            "birth_year",
            "Saisissez votre année de naissance sur 4 chiffres, par exemple 1958.",
        );
    }
    let epn_id = Uuid::parse_str(form.epn_id.trim()).ok();
    if epn_id.is_none() {
        refusal = refusal.field(
            "epn_id",
            "Choisissez le lieu où vous souhaitez être accompagné(e).",
        );
    }
    let public_category = match optional(&form.public_category) {
        None => Some(PublicCategory::Other),
        Some(text) => text.parse().ok(),
    };
    if public_category.is_none() {
        refusal = refusal.field(
            "public_category",
            "Choisissez votre situation dans la liste.",
        );
    }
    match (birth_year, epn_id, public_category) {
        (Some(birth_year), Some(epn_id), Some(public_category)) if refusal.is_empty() => {
            let email = optional(&form.email);
            Ok(PublicRequest {
                epn_id,
                person: NewBeneficiary {
                    first_name: form.first_name.trim().to_owned(),
                    last_name: form.last_name.trim().to_owned(),
                    birth_year,
                    commune_insee: String::new(),
                    public_category,
                    email_consent: email.is_some() && ticked(&form.email_consent),
                    email,
                    phone: optional(&form.phone),
                    allow_duplicate: true,
                },
                postal_code: Some(form.postal_code.split_whitespace().collect()),
                commune_name: optional(&form.commune_name),
                message: optional(&form.message),
            })
        }
        _ => Err(refusal),
    }
}

/// The domain's refusal as this form says it: where its field names or words differ.
fn for_this_form(mut refusal: FormRefusal) -> FormRefusal {
    if refusal.fields.contains_key("epn_id") {
        refusal.fields.insert(
            "epn_id".into(),
            "Ce lieu ne propose pas cet accompagnement : choisissez-en un autre dans la liste."
                .into(),
        );
    }
    refusal
}

#[handler]
pub(super) async fn send(
    Path((slug, code)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<RequestForm>,
) -> PageResult {
    let offer = offered(&state, &slug, &code).await?;
    let (tenant, detail, _) = &offer;
    let receipt_path = format!("{}/demande/recue", public_path(tenant, &detail.scheme.code));
    // A robot that fills in the hidden field is told its request went through, and nothing is kept.
    if !form.site_web.trim().is_empty() {
        tracing::info!(tenant = %tenant.slug, "public request dropped: hidden field filled");
        return Ok(see_other(&receipt_path));
    }
    let refused = |text: &str| FormRefusal {
        form: Some(text.to_owned()),
        ..FormRefusal::default()
    };
    match form_token::spend(&state, &form.jeton).await {
        form_token::Verdict::Fresh => {}
        form_token::Verdict::TooFast => {
            let errors = refused(
                "Votre demande n’est pas encore partie : relisez vos informations, puis envoyez-la à nouveau.",
            );
            return form_page(
                &state,
                &offer,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
            )
            .await;
        }
        form_token::Verdict::Unknown => {
            let errors = refused(
                "Ce formulaire a expiré ou a déjà été envoyé : vérifiez vos informations, puis envoyez-le à nouveau.",
            );
            return form_page(
                &state,
                &offer,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
            )
            .await;
        }
    }
    if let Some(page) = too_many(&state, req).await {
        return Ok(page);
    }
    let request = match read(&form) {
        Ok(request) => request,
        Err(errors) => {
            return form_page(
                &state,
                &offer,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
            )
            .await;
        }
    };
    match accompaniment::request_public(&state.db, &tenant.slug, &detail.scheme.code, &request)
        .await
    {
        Ok(done) => Ok(see_other(&format!(
            "{receipt_path}?epn={}{}",
            request.epn_id,
            if done.confirmation_sent {
                "&courriel=1"
            } else {
                ""
            }
        ))),
        Err(e) => {
            let errors = for_this_form(super::super::refusal_of(&e)?);
            form_page(
                &state,
                &offer,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
            )
            .await
        }
    }
}

/// The page to answer when this address sent too many requests, with the time to wait.
async fn too_many(state: &AppState, req: &Request) -> Option<Response> {
    let client = limits::client::of(req, state);
    let limited = match limits::rate::hit(state, "accompaniment", &client, PER_MINUTE).await {
        Err(e) => Some(e),
        Ok(()) => limits::rate::hit_per(state, "accompaniment-day", &client, PER_DAY, 86_400)
            .await
            .err(),
    };
    let seconds = match limited? {
        crate::problem::ApiError::TooManyRequests { retry_after } => retry_after,
        _ => 60,
    };
    Some(retry_after(
        message(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de demandes",
            &format!(
                "Trop de demandes sont parties de cette connexion. Réessayez dans {}, ou appelez directement un lieu de la liste.",
                french_delay(seconds)
            ),
            None,
        ),
        seconds,
    ))
}

#[derive(Serialize)]
struct ReceiptView<'a> {
    tenant_name: &'a str,
    brand: super::super::Brand,
    scheme_name: &'a str,
    path: String,
    epn: Option<ReceiptEpn>,
    confirmation_sent: bool,
    days: i64,
}

#[derive(Serialize)]
struct ReceiptEpn {
    name: String,
    address: Option<String>,
    postal_code: Option<String>,
    commune: Option<String>,
    phone: Option<String>,
}

/// The receipt: what happens next. It names only the chosen place (from the address), nothing
/// about the person.
#[handler]
pub(super) async fn receipt(
    Path((slug, code)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let (tenant, detail, _) = offered(&state, &slug, &code).await?;
    let chosen = query_param(req, "epn").and_then(|id| Uuid::parse_str(&id).ok());
    let epn = match chosen {
        Some(id) => match epns::get(&state.db, tenant.id, id).await {
            Ok(epn) => Some(epn),
            Err(passerelle_core::Error::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        }
        .map(|e| ReceiptEpn {
            name: e.name,
            address: e.address,
            postal_code: e.postal_code,
            commune: e.commune,
            phone: e.phone,
        }),
        None => None,
    };
    let view = ReceiptView {
        tenant_name: tenant.shown_name(),
        brand: super::super::Brand::of(&tenant),
        scheme_name: &detail.scheme.name,
        path: public_path(&tenant, &detail.scheme.code),
        epn,
        confirmation_sent: query_param(req, "courriel").is_some(),
        days: PUBLIC_REQUEST_DAYS,
    };
    Ok(html(
        StatusCode::OK,
        pages::render("request_receipt.html", view),
    ))
}
