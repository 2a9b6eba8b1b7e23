//! The public pages of a territory, for people without an account, under
//! `/territoires/<tenant slug>/<scheme code>`: the awareness kit (`kit.rs`) and the request for a
//! personalised accompaniment (`request.rs`); and the territory's logo (`logo.rs`). A draft or closed
//! scheme, or an unknown territory, is a French 404.

use passerelle_core::schemes::{self, SchemeDetail};
use passerelle_core::tenancy::tenants::Tenant;
use poem::http::StatusCode;
use poem::{Route, get};

use super::responses::{PageResult, message};
use super::session::portal;
use crate::state::AppState;

mod kit;
mod logo;
mod request;

pub fn routes() -> Route {
    Route::new()
        .at("/:tenant/logo", get(logo::logo))
        .at("/:tenant/:scheme", get(kit::kit))
        .at("/:tenant/:scheme/ma-liste", get(kit::my_list))
        .at(
            "/:tenant/:scheme/demande",
            get(request::show).post(request::send),
        )
        .at("/:tenant/:scheme/demande/recue", get(request::receipt))
}

/// The tenant and active scheme a public address names, or the French 404.
async fn public_scheme(
    state: &AppState,
    slug: &str,
    code: &str,
) -> PageResult<(Tenant, SchemeDetail)> {
    let tenant = portal(state, slug).await?;
    match schemes::find_active(&state.db, &tenant, code).await? {
        Some(detail) => Ok((tenant, detail)),
        None => Err(message(
            StatusCode::NOT_FOUND,
            "Page introuvable",
            "Ce dispositif n’existe pas dans ce territoire, ou il n’est pas ouvert en ce moment.",
            None,
        )
        .into()),
    }
}

/// The address of a scheme's public pages.
fn public_path(tenant: &Tenant, code: &str) -> String {
    format!("/territoires/{}/{code}", tenant.slug)
}

/// The length of the scheme's personalised accompaniment in words ("2 heures"), when it offers
/// one: the kit then links to the request form.
fn accompaniment_hours(detail: &SchemeDetail) -> Option<String> {
    let minutes = detail
        .current
        .as_ref()?
        .rules
        .0
        .delivery_modes
        .accompaniment_minutes?;
    Some(passerelle_core::emails::french::duration(
        i32::try_from(minutes).unwrap_or(i32::MAX),
    ))
}
