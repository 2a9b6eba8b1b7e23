//! The EPN animator records where a person goes at the end of their journey: a certification
//! (PIX, PCIE, CléA numérique), a training body, another scheme, or nowhere for now, with a note
//! the person reads in their portfolio.

use passerelle_core::delivery::OrientationKind;
use passerelle_core::delivery::orientation;
use passerelle_core::delivery::portfolio;
use passerelle_core::emails::french;
use passerelle_core::labels;
use passerelle_core::vouchers::Visibility;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};

use super::forms::{Choice, option, optional, query_param};
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, see_other, unavailable};
use crate::access;
use crate::state::AppState;

#[derive(Serialize)]
struct OrientationView {
    reference: String,
    first_name: Option<String>,
    scheme: String,
    attended: String,
    left: String,
    kinds: Vec<Choice>,
    kind: String,
    note: String,
    recorded_on: Option<String>,
    saved: bool,
    errors: FormErrors,
}

async fn page(
    state: &AppState,
    portal: &Portal,
    reference: &str,
    status: StatusCode,
    form: Option<&OrientationForm>,
    errors: &FormRefusal,
    saved: bool,
) -> PageResult {
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let back = format!("{}/epn", portal.path());
    // Only the EPN that runs the journey orients the person: another EPN's voucher is not found.
    let ours = orientation::ran_by(&state.db, portal.tenant.id, reference, epn_id)
        .await
        .or_back(&back, "Revenir aux séances")?;
    if !ours {
        return Err(passerelle_core::Error::NotFound("voucher").into());
    }
    let found = portfolio::get(&state.db, portal.tenant.id, reference, Visibility::Tenant)
        .await
        .or_back(&back, "Revenir aux séances")?;
    let attended: i32 = found.sessions.iter().map(|s| s.minutes).sum();
    let recorded = found.orientation.as_ref();
    Ok(portal.page(
        status,
        "orientation.html",
        OrientationView {
            first_name: found.first_name.clone(),
            scheme: found.scheme_name.clone(),
            attended: french::duration(attended),
            left: french::duration(found.minutes_left),
            kinds: OrientationKind::all()
                .map(|k| option(k.as_str(), labels::orientation(k)))
                .collect(),
            kind: form
                .map(|f| f.kind.clone())
                .or_else(|| recorded.map(|o| o.kind.as_str().to_owned()))
                .unwrap_or_default(),
            note: form
                .map(|f| f.note.clone())
                .or_else(|| recorded.and_then(|o| o.note.clone()))
                .unwrap_or_default(),
            recorded_on: recorded.map(|o| {
                french::long_date(
                    o.recorded_at
                        .with_timezone(&portal.tenant.tz())
                        .date_naive(),
                )
            }),
            saved,
            errors: errors.to_view(),
            reference: found.reference,
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path((slug, reference)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::RECORD_ORIENTATION).await?;
    let saved = query_param(req, "enregistree").is_some();
    page(
        &state,
        &portal,
        &reference,
        StatusCode::OK,
        None,
        &FormRefusal::default(),
        saved,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct OrientationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    note: String,
}

#[handler]
pub(super) async fn record(
    Path((slug, reference)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<OrientationForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::RECORD_ORIENTATION,
        &form.csrf_token,
    )
    .await?;
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let Ok(kind) = form.kind.parse::<OrientationKind>() else {
        let errors =
            FormRefusal::default().field("kind", "Choisissez une orientation dans la liste.");
        return page(
            &state,
            &portal,
            &reference,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&form),
            &errors,
            false,
        )
        .await;
    };
    match orientation::record(
        &state.db,
        portal.tenant.id,
        epn_id,
        portal.actor(),
        &reference,
        kind,
        optional(&form.note).as_deref(),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!(
            "{}/epn/cheques/{reference}/orientation?enregistree=1",
            portal.path()
        ))),
        Err(e @ passerelle_core::Error::NotFound(_)) => Err(e.into()),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            page(
                &state,
                &portal,
                &reference,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&form),
                &errors,
                false,
            )
            .await
        }
    }
}
