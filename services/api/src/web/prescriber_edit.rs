//! The tenant admin corrects a prescriber organisation: its name, kind, SIRET and contacts, with
//! the rules of its creation (`prescripteurs/<id>`).

use passerelle_core::prescribers::{self, PrescriberChanges, PrescriberKind};
use passerelle_core::{Error, labels};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::Serialize;

use super::forms::{Choice, option};
use super::french::{FormErrors, FormRefusal};
use super::prescribers::OrganisationForm;
use super::{OrBack, PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

#[derive(Serialize)]
struct EditView<'a> {
    id: uuid::Uuid,
    form: &'a OrganisationForm,
    kinds: Vec<Choice>,
    errors: FormErrors,
}

fn kinds() -> Vec<Choice> {
    PrescriberKind::all()
        .map(|k| option(k.as_str(), labels::prescriber_kind(k)))
        .collect()
}

#[handler]
pub(super) async fn show(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::UPDATE_PRESCRIBER).await?;
    let id = super::path_id(&id, "prescriber")?;
    let back = format!("{}/prescripteurs", portal.path());
    let prescriber = prescribers::get(&state.db, portal.tenant.id, id)
        .await
        .or_back(&back, "Revenir aux structures")?;
    let form = OrganisationForm {
        csrf_token: String::new(),
        name: prescriber.name,
        kind: prescriber.kind.as_str().to_owned(),
        siret: prescriber.siret.unwrap_or_default(),
        contact_email: prescriber.contact_email.unwrap_or_default(),
        contact_phone: prescriber.contact_phone.unwrap_or_default(),
    };
    Ok(portal.page(
        StatusCode::OK,
        "prescriber_edit.html",
        EditView {
            id,
            form: &form,
            kinds: kinds(),
            errors: FormRefusal::default().to_view(),
        },
    ))
}

#[handler]
pub(super) async fn save(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<OrganisationForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::UPDATE_PRESCRIBER,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "prescriber")?;
    let saved = match form.kind.parse::<PrescriberKind>() {
        Ok(kind) => {
            // Every field of the form is sent: an emptied one is cleared.
            let changes = PrescriberChanges {
                name: Some(form.name.clone()),
                kind: Some(kind),
                siret: Some(Some(form.siret.replace(' ', ""))),
                contact_email: Some(Some(form.contact_email.clone())),
                contact_phone: Some(Some(form.contact_phone.clone())),
            };
            prescribers::update(&state.db, portal.tenant.id, portal.actor(), id, changes).await
        }
        Err(_) => Err(Error::invalid("kind", "a kind of the list")),
    };
    match saved {
        Ok(_) => Ok(see_other(&format!(
            "{}/prescripteurs?modifie=1",
            portal.path()
        ))),
        Err(Error::NotFound(what)) => Err(Error::NotFound(what).into()),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            Ok(portal.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "prescriber_edit.html",
                EditView {
                    id,
                    form: &form,
                    kinds: kinds(),
                    errors: errors.to_view(),
                },
            ))
        }
    }
}
