//! An EPN's details corrected outside an import (`epns/<id>/coordonnees`): by the territory's
//! admin for any EPN, by the EPN's own staff for theirs. Field names are the open-data schema's.

use passerelle_core::Error;
use passerelle_core::epns::{self, EpnChanges};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct DetailsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    nom: String,
    #[serde(default)]
    adresse: String,
    #[serde(default)]
    code_postal: String,
    #[serde(default)]
    commune: String,
    #[serde(default)]
    code_insee: String,
    /// Addresses separated by `|`, as the open-data file writes them.
    #[serde(default)]
    courriels: String,
    #[serde(default)]
    telephone: String,
    #[serde(default)]
    site_web: String,
    #[serde(default)]
    horaires: String,
}

#[derive(Serialize)]
struct DetailsView<'a> {
    id: Uuid,
    form: &'a DetailsForm,
    /// Where to go back: the territory's EPN page, or the EPN's own.
    back: String,
    errors: FormErrors,
}

/// The portal of an admin or of the EPN's own staff; another EPN's is not found.
async fn allowed(
    state: &AppState,
    req: &Request,
    slug: &str,
    id: &str,
) -> PageResult<(Portal, Uuid)> {
    let portal = Portal::allowed(state, req, slug, &access::UPDATE_EPN).await?;
    let id = super::path_id(id, "epn")?;
    if portal.epn_id().is_some_and(|own| own != id) {
        return Err(Error::NotFound("epn").into());
    }
    Ok((portal, id))
}

fn back(portal: &Portal, id: Uuid) -> String {
    match portal.epn_id() {
        Some(_) => format!("{}/epn", portal.path()),
        None => format!("{}/epns/{id}", portal.path()),
    }
}

#[handler]
pub(super) async fn show(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let (portal, id) = allowed(&state, req, &slug, &id).await?;
    let back = back(&portal, id);
    let epn = epns::get(&state.db, portal.tenant.id, id)
        .await
        .or_back(&back, "Revenir")?;
    let form = DetailsForm {
        csrf_token: String::new(),
        nom: epn.name,
        adresse: epn.address.unwrap_or_default(),
        code_postal: epn.postal_code.unwrap_or_default(),
        commune: epn.commune.unwrap_or_default(),
        code_insee: epn.commune_insee.unwrap_or_default(),
        courriels: epn.emails.join(" | "),
        telephone: epn.phone.unwrap_or_default(),
        site_web: epn.website.unwrap_or_default(),
        horaires: epn.opening_hours.unwrap_or_default(),
    };
    Ok(portal.page(
        StatusCode::OK,
        "epn_details.html",
        DetailsView {
            id,
            form: &form,
            back,
            errors: FormRefusal::default().to_view(),
        },
    ))
}

#[handler]
pub(super) async fn save(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DetailsForm>,
) -> PageResult {
    let (portal, id) = allowed(&state, req, &slug, &id).await?;
    if let Some(page) = portal.form_refused(req, &form.csrf_token) {
        return Ok(page);
    }
    let back = back(&portal, id);
    // Every field of the form is sent: an emptied one is cleared.
    let text = |value: &str| Some(Some(value.to_owned()));
    let changes = EpnChanges {
        name: Some(form.nom.clone()),
        address: text(&form.adresse),
        postal_code: text(&form.code_postal),
        commune: text(&form.commune),
        commune_insee: text(&form.code_insee),
        emails: Some(
            form.courriels
                .split(['|', ';', ','])
                .map(str::to_owned)
                .collect(),
        ),
        phone: text(&form.telephone),
        website: text(&form.site_web),
        opening_hours: text(&form.horaires),
    };
    match epns::update(&state.db, portal.tenant.id, portal.actor(), id, changes).await {
        Ok(_) => Ok(see_other(&format!("{back}?coordonnees=1"))),
        Err(Error::NotFound(what)) => Err(Error::NotFound(what).into()),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            Ok(portal.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "epn_details.html",
                DetailsView {
                    id,
                    form: &form,
                    back,
                    errors: errors.to_view(),
                },
            ))
        }
    }
}
