//! The tenant admin corrects a user: name, address, role and its organisation or EPN, with the
//! rules of the invitation form (`utilisateurs/<id>`).

use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::users::{self, RoleColumn, UserChanges};
use passerelle_core::{Error, epns, prescribers};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::Serialize;
use uuid::Uuid;

use super::admin::{UserForm, all, read_user_form};
use super::forms::{Choice, option};
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;
use passerelle_core::tenancy::provider_sign_in;
use passerelle_core::tenancy::second_factor::{self, Enrolled};

#[derive(Serialize)]
struct EditView<'a> {
    id: Uuid,
    form: &'a UserForm,
    roles: Vec<Choice>,
    prescribers: Vec<Choice>,
    epns: Vec<Choice>,
    errors: FormErrors,
    /// The user set up a second factor: the admin can reset it (a lost phone).
    second_factor: bool,
    /// The territory's provider, if it has one, and when the user's identity there was linked.
    provider_label: Option<String>,
    identity_linked_on: Option<String>,
}

async fn page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    id: Uuid,
    form: &UserForm,
    errors: &FormRefusal,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let back = format!("{}/utilisateurs", portal.path());
    let loaded = async {
        let prescribers = all(|page| prescribers::list(&state.db, tenant_id, page)).await?;
        let epns = all(|page| epns::list(&state.db, tenant_id, page)).await?;
        Ok::<_, Error>((prescribers, epns))
    }
    .await;
    let (prescribers, epns) = loaded.or_back(&back, "Revenir aux utilisateurs")?;
    let second_factor = second_factor::enrolled(&state.db, tenant_id, id).await?;
    let provider = provider_sign_in::client(&state.db, tenant_id).await?;
    let linked = provider_sign_in::linked_identity(&state.db, tenant_id, id).await?;
    Ok(portal.page(
        status,
        "user_edit.html",
        EditView {
            id,
            form,
            roles: Role::TENANT
                .iter()
                .map(|r| option(r.as_str(), r.title_fr()))
                .collect(),
            prescribers: prescribers.iter().map(|p| option(p.id, &p.name)).collect(),
            epns: epns.iter().map(|e| option(e.id, &e.name)).collect(),
            errors: errors.to_view(),
            second_factor: second_factor != Enrolled::No,
            provider_label: provider.map(|p| p.label),
            identity_linked_on: linked.map(|l| {
                l.linked_at
                    .with_timezone(&portal.tenant.tz())
                    .format("%d/%m/%Y")
                    .to_string()
            }),
        },
    ))
}

#[derive(serde::Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    csrf_token: String,
}

/// A button of the admin's page of a user: its form checked, `act` done on the user, back to the
/// page with `done` in its address.
async fn user_action(
    state: &AppState,
    req: &Request,
    (slug, id): (String, String),
    form: ResetForm,
    operation: &access::Operation,
    done: &str,
    act: impl AsyncFnOnce(Uuid, passerelle_core::audit::Actor, Uuid) -> Result<(), Error>,
) -> PageResult {
    let portal = Portal::allowed_form(state, req, &slug, operation, &form.csrf_token).await?;
    let id = super::path_id(&id, "user")?;
    let back = format!("{}/utilisateurs/{id}", portal.path());
    act(portal.tenant.id, portal.actor(), id)
        .await
        .or_back(&back, "Revenir au compte")?;
    Ok(see_other(&format!("{back}?{done}")))
}

/// The admin takes a user's second factor away (a lost phone, no recovery code left).
#[handler]
pub(super) async fn reset_second_factor(
    Path(path): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ResetForm>,
) -> PageResult {
    let reset =
        async |tenant_id, actor, id| second_factor::reset(&state.db, tenant_id, actor, id).await;
    user_action(
        &state,
        req,
        path,
        form,
        &access::RESET_SECOND_FACTOR,
        "reinitialise=1",
        reset,
    )
    .await
}

/// The admin unlinks the user's identity at the provider (linked by mistake, or changed there).
#[handler]
pub(super) async fn unlink_identity(
    Path(path): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ResetForm>,
) -> PageResult {
    let unlink = async |tenant_id, actor, id| {
        provider_sign_in::unlink(&state.db, tenant_id, actor, id).await
    };
    user_action(
        &state,
        req,
        path,
        form,
        &access::UNLINK_IDENTITY,
        "delie=1",
        unlink,
    )
    .await
}

#[handler]
pub(super) async fn show(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::UPDATE_USER).await?;
    let id = super::path_id(&id, "user")?;
    let back = format!("{}/utilisateurs", portal.path());
    let user = users::get(&state.db, portal.tenant.id, id)
        .await
        .or_back(&back, "Revenir aux utilisateurs")?;
    let RoleColumn(role) = user.role;
    let form = UserForm {
        csrf_token: String::new(),
        display_name: user.display_name,
        email: user.email,
        role: role.as_str().to_owned(),
        prescriber_id: user
            .prescriber_id
            .map(|i| i.to_string())
            .unwrap_or_default(),
        epn_id: user.epn_id.map(|i| i.to_string()).unwrap_or_default(),
    };
    page(
        &state,
        &portal,
        StatusCode::OK,
        id,
        &form,
        &FormRefusal::default(),
    )
    .await
}

#[handler]
pub(super) async fn save(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<UserForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::UPDATE_USER, &form.csrf_token).await?;
    let id = super::path_id(&id, "user")?;
    let read = match read_user_form(&form) {
        Ok(read) => read,
        Err(refusal) => {
            return page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                id,
                &form,
                &refusal,
            )
            .await;
        }
    };
    let changes = UserChanges {
        email: Some(read.email),
        display_name: Some(read.display_name),
        role: Some(read.role),
        prescriber_id: Some(read.prescriber_id),
        epn_id: Some(read.epn_id),
    };
    match users::update(&state.db, portal.tenant.id, portal.actor(), id, changes).await {
        Ok(_) => Ok(see_other(&format!(
            "{}/utilisateurs?modifie=1",
            portal.path()
        ))),
        Err(Error::NotFound(what)) => Err(Error::NotFound(what).into()),
        Err(e) => {
            let refusal = super::refusal_of(&e)?;
            page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                id,
                &form,
                &refusal,
            )
            .await
        }
    }
}
