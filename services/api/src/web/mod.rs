//! The portal for people who use a browser, under `/portail/<tenant slug>/`: server-rendered
//! French pages that call the domain code directly, never the API over HTTP.
//!
//! Sessions: the cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when the service is reached over
//! HTTPS, scoped to the tenant's path) carries only the session's secret. Forgery: every `POST`
//! must come from a page of this service (its `Origin`, or failing that its `Referer`, names the
//! host the request was sent to), and every form of a signed-in page also sends back the
//! session's CSRF token.

use passerelle_core::tenancy::Principal;
use passerelle_core::tenancy::accounts::{SessionOrigin, SessionUser};
use passerelle_core::tenancy::tenants::Tenant;
use poem::http::StatusCode;
use poem::{Request, Response, Route, get};

use crate::pages;
use crate::state::AppState;

mod admin;
mod archive;
mod bank;
mod branding;
mod catalogue;
mod credentials;
mod epn;
mod epn_details;
mod epn_statements;
mod forms;
mod french;
mod funder;
mod funding;
mod home;
mod imports;
mod network;
mod orientation;
mod passwords;
mod phone;
mod prescriber;
mod prescriber_edit;
mod prescribers;
mod project_form;
mod projects;
mod provider_sign_in;
pub mod public;
mod requests;
mod responses;
mod schemes;
mod second_factor;
mod session;
mod sign_in;
mod statement_print;
mod statements;
mod user_edit;

pub(crate) use responses::PortalPage;
use responses::*;
use session::*;
use sign_in::*;

pub fn routes() -> Route {
    Route::new()
        .at("/:tenant", get(home::home))
        .at("/:tenant/", get(home::home))
        .at("/:tenant/connexion", get(sign_in_form).post(sign_in))
        .at("/:tenant/deconnexion", poem::post(sign_out))
        .at("/:tenant/releves", get(statements::list))
        .at("/:tenant/remboursements", get(epn_statements::year))
        .at(
            "/:tenant/epn/banque",
            get(bank::epn_show).post(bank::epn_submit),
        )
        .at("/:tenant/banque/:id/confirmer", poem::post(bank::confirm))
        .at("/:tenant/banque/:id/refuser", poem::post(bank::reject))
        .at("/:tenant/releves/:month/csv", get(statements::month_csv))
        .at("/:tenant/financeurs", get(funding::page))
        .at(
            "/:tenant/financeurs/rapprochement/:scheme/:month",
            get(funding::reconciliation_csv),
        )
        .at(
            "/:tenant/financeurs/:funder/demande/:from/:to",
            get(funding::claims_csv),
        )
        .at("/:tenant/releves/:month/sepa", get(statements::month_sepa))
        .at("/:tenant/releve/:id", get(statements::show))
        .at("/:tenant/releve/:id/csv", get(statements::statement_csv))
        .at("/:tenant/releve/:id/imprimer", get(statement_print::print))
        .at(
            "/:tenant/releve/:id/valider",
            poem::post(statements::approve),
        )
        .at(
            "/:tenant/releve/:id/payer",
            poem::post(statements::mark_paid),
        )
        .at(
            "/:tenant/cheques/nouveau",
            get(prescriber::new_voucher_form).post(prescriber::issue),
        )
        .at("/:tenant/cheques", get(prescriber::list))
        .at("/:tenant/cheques/:reference", get(prescriber::show))
        .at(
            "/:tenant/cheques/:reference/attestations/:id/revoquer",
            poem::post(credentials::revoke),
        )
        .at(
            "/:tenant/cheques/:reference/courrier",
            get(prescriber::letter),
        )
        .at(
            "/:tenant/cheques/import",
            get(prescriber::import_form).post(prescriber::import),
        )
        .at("/:tenant/cheques/imports/:id", get(imports::vouchers))
        .at("/:tenant/epn", get(epn::home))
        .at(
            "/:tenant/epn/inscription",
            get(epn::find_form).post(epn::register),
        )
        .at("/:tenant/epn/seances", poem::post(epn::plan_session))
        .at("/:tenant/epn/telephone", get(phone::shell::page))
        .at("/:tenant/epn/telephone/", get(phone::shell::page))
        .at(
            "/:tenant/epn/telephone/manifest.webmanifest",
            get(phone::shell::manifest),
        )
        .at(
            "/:tenant/epn/telephone/sw.js",
            get(phone::shell::service_worker),
        )
        .at("/:tenant/epn/telephone/semaine", get(phone::week::show))
        .at(
            "/:tenant/epn/telephone/courrier",
            get(phone::letter::look_up),
        )
        .at(
            "/:tenant/epn/telephone/feuilles",
            poem::post(phone::sheets::send),
        )
        .at(
            "/:tenant/epn/seances/:id",
            get(epn::sheet).post(epn::record_sheet),
        )
        .at(
            "/:tenant/epn/cheques/:reference/orientation",
            get(orientation::show).post(orientation::record),
        )
        .at(
            "/:tenant/mot-de-passe-oublie",
            get(passwords::forgotten_form).post(passwords::forgotten),
        )
        .at(
            "/:tenant/mot-de-passe/:secret",
            get(passwords::choose_form).post(passwords::choose),
        )
        .at(
            "/:tenant/utilisateurs",
            get(admin::user_list).post(admin::create_user),
        )
        .at(
            "/:tenant/utilisateurs/:id",
            get(user_edit::show).post(user_edit::save),
        )
        .at(
            "/:tenant/utilisateurs/:id/double-authentification",
            poem::post(user_edit::reset_second_factor),
        )
        .at(
            "/:tenant/utilisateurs/:id/identite",
            poem::post(user_edit::unlink_identity),
        )
        .at(
            "/:tenant/utilisateurs/:id/invitation",
            poem::post(admin::invite),
        )
        .at(
            "/:tenant/utilisateurs/:id/desactivation",
            poem::post(admin::disable),
        )
        .at(
            "/:tenant/dispositifs",
            get(schemes::list).post(schemes::create),
        )
        .at("/:tenant/dispositifs/:id", get(schemes::show))
        .at("/:tenant/dispositifs/:id/nom", poem::post(schemes::rename))
        .at(
            "/:tenant/dispositifs/:id/etat",
            poem::post(schemes::set_status),
        )
        .at(
            "/:tenant/dispositifs/:id/regles",
            poem::post(schemes::change_rules),
        )
        .at(
            "/:tenant/dispositifs/:id/financement",
            poem::post(schemes::set_funding),
        )
        .at(
            "/:tenant/dispositifs/:id/modules",
            poem::post(catalogue::add),
        )
        .at(
            "/:tenant/dispositifs/:id/modules/:number",
            poem::post(catalogue::change),
        )
        .at(
            "/:tenant/dispositifs/:id/modules/:number/retrait",
            poem::post(catalogue::remove),
        )
        .at(
            "/:tenant/double-authentification",
            get(second_factor::show).post(second_factor::verify),
        )
        .at(
            "/:tenant/double-authentification/activation",
            poem::post(second_factor::activate),
        )
        .at("/:tenant/oidc/connexion", get(provider_sign_in::begin))
        .at("/:tenant/oidc/retour", get(provider_sign_in::callback))
        .at(
            "/:tenant/oidc/deconnexion",
            get(provider_sign_in::signed_out),
        )
        .at("/:tenant/archive", get(archive::show).post(archive::ask))
        .at("/:tenant/archive/:id/fichier", get(archive::download))
        .at(
            "/:tenant/identite",
            get(branding::show).post(branding::save),
        )
        .at("/:tenant/identite/logo", poem::post(branding::save_logo))
        .at(
            "/:tenant/identite/logo/retrait",
            poem::post(branding::remove_logo),
        )
        .at(
            "/:tenant/prescripteurs",
            get(prescribers::list).post(prescribers::create),
        )
        .at(
            "/:tenant/prescripteurs/:id",
            get(prescriber_edit::show).post(prescriber_edit::save),
        )
        .at(
            "/:tenant/prescripteurs/dotations",
            poem::post(prescribers::allocate),
        )
        .at(
            "/:tenant/prescripteurs/:id/dotations/:allocation",
            poem::post(prescribers::set_quantity),
        )
        .at("/:tenant/epns", get(network::list))
        .at("/:tenant/epns/import", poem::post(network::import_file))
        .at("/:tenant/epns/imports/:id", get(imports::places))
        .at("/:tenant/epns/:id", get(network::show))
        .at(
            "/:tenant/epns/:id/coordonnees",
            get(epn_details::show).post(epn_details::save),
        )
        .at("/:tenant/epns/:id/offre", poem::post(network::set_offer))
        .at(
            "/:tenant/epns/:id/banque",
            poem::post(network::set_bank_details),
        )
        .at("/:tenant/demandes", get(requests::list))
        .at(
            "/:tenant/demandes/:id/accepter",
            poem::post(requests::accept),
        )
        .at(
            "/:tenant/demandes/:id/decliner",
            poem::post(requests::decline),
        )
        .at("/:tenant/projets", get(projects::list))
        .at(
            "/:tenant/projets/nouveau",
            get(project_form::new_form).post(project_form::submit),
        )
        .at("/:tenant/projets/:id", get(projects::show))
        .at(
            "/:tenant/projets/:id/approbation",
            poem::post(projects::approve),
        )
        .at("/:tenant/projets/:id/refus", poem::post(projects::reject))
        .at(
            "/:tenant/projets/:id/seance",
            poem::post(projects::record_session),
        )
        .at("/:tenant/courriels", get(admin::email_log))
        .at("/:tenant/journal", get(admin::audit_log))
        .at("/:tenant/statistiques", get(funder::exports))
        .at("/:tenant/statistiques/tableau", get(funder::charts))
        .at("/:tenant/statistiques/:id/:name", get(funder::download))
}

/// How a territory's pages show it in their header: its name and its logo.
#[derive(serde::Serialize)]
pub(super) struct Brand {
    name: String,
    logo_path: Option<String>,
}

impl Brand {
    pub(super) fn of(tenant: &Tenant) -> Self {
        Self {
            name: tenant.shown_name().to_owned(),
            logo_path: tenant.logo_path(),
        }
    }
}

/// What every signed-in page's layout shows: the tenant, the user, and the CSRF token of its forms.
#[derive(serde::Serialize)]
struct PortalContext<'a> {
    tenant_name: &'a str,
    /// The tenant's slug, for links to its public pages.
    tenant_slug: &'a str,
    path: String,
    display_name: &'a str,
    csrf_token: &'a str,
}

/// A page's view with the portal's context beside its own fields.
#[derive(serde::Serialize)]
struct WithPortal<'a, T> {
    portal: PortalContext<'a>,
    brand: Brand,
    #[serde(flatten)]
    page: T,
}

/// A signed-in page: its tenant and who is signed in.
struct Portal {
    tenant: Tenant,
    user: SessionUser,
}

impl Portal {
    /// The portal of `slug` with its signed-in user, or the page to answer instead: the sign-in
    /// page when nobody is signed in to this tenant.
    async fn signed_in(state: &AppState, req: &Request, slug: &str) -> PageResult<Self> {
        let portal = Self::signed_in_with_password(state, req, slug).await?;
        if portal.user.awaits_second_factor() {
            return Err(see_other(&format!("{}/double-authentification", portal.path())).into());
        }
        Ok(portal)
    }

    /// `signed_in`, before the second factor: for its own pages, which the password alone opens.
    async fn signed_in_with_password(
        state: &AppState,
        req: &Request,
        slug: &str,
    ) -> PageResult<Self> {
        let tenant = portal(state, slug).await?;
        match signed_in(state, req, &tenant).await? {
            Some(user) => Ok(Self { tenant, user }),
            None => Err(see_other(&format!("{}/connexion", cookie_path(&tenant))).into()),
        }
    }

    fn path(&self) -> String {
        cookie_path(&self.tenant)
    }

    /// Whether the signed-in user's role may call `operation` (the API's role table).
    fn may(&self, operation: &crate::access::Operation) -> bool {
        operation.roles.contains(&self.user.principal.role())
    }

    /// The signed-in portal of `slug` when its user may call `operation`, or the page to answer:
    /// sign-in when nobody is signed in, a French 403 for another role.
    async fn allowed(
        state: &AppState,
        req: &Request,
        slug: &str,
        operation: &crate::access::Operation,
    ) -> PageResult<Self> {
        let portal = Self::signed_in(state, req, slug).await?;
        if portal.may(operation) {
            Ok(portal)
        } else {
            Err(message(
                StatusCode::FORBIDDEN,
                "Accès réservé",
                &format!(
                    "Cette page n’est pas ouverte à votre rôle ({}).",
                    role_fr(&portal.user.principal)
                ),
                Some((&format!("{}/", portal.path()), "Revenir à l’accueil")),
            )
            .into())
        }
    }

    /// `allowed`, for a posted form: it must also come from a page of this service and carry the
    /// session's CSRF token.
    async fn allowed_form(
        state: &AppState,
        req: &Request,
        slug: &str,
        operation: &crate::access::Operation,
        csrf_token: &str,
    ) -> PageResult<Self> {
        let portal = Self::allowed(state, req, slug, operation).await?;
        match portal.form_refused(req, csrf_token) {
            Some(page) => Err(page.into()),
            None => Ok(portal),
        }
    }

    /// The refusal page for a signed-in form that does not come from a page of this service or
    /// does not carry the session's token; `None` for a good form.
    fn form_refused(&self, req: &Request, csrf_token: &str) -> Option<Response> {
        (!same_origin(req) || !same_token(csrf_token, &self.user.csrf_token)).then(forbidden_form)
    }

    /// Renders a signed-in page from its view: the template also receives `portal` (the
    /// tenant's name, the portal's path, the user's name and the CSRF token for its forms).
    fn page(&self, status: StatusCode, template: &str, view: impl serde::Serialize) -> Response {
        let context = WithPortal {
            portal: PortalContext {
                tenant_name: self.tenant.shown_name(),
                tenant_slug: &self.tenant.slug,
                path: self.path(),
                display_name: &self.user.display_name,
                csrf_token: &self.user.csrf_token,
            },
            brand: Brand::of(&self.tenant),
            page: view,
        };
        html(status, pages::render(template, context))
    }

    /// The prescriber organisation of a prescriber agent, the EPN of an animator.
    fn prescriber_id(&self) -> Option<uuid::Uuid> {
        match self.user.principal {
            Principal::Tenant { prescriber_id, .. } => prescriber_id,
            Principal::Platform { .. } => None,
        }
    }

    fn epn_id(&self) -> Option<uuid::Uuid> {
        match self.user.principal {
            Principal::Tenant { epn_id, .. } => epn_id,
            Principal::Platform { .. } => None,
        }
    }

    fn user_id(&self) -> Option<uuid::Uuid> {
        match self.user.principal {
            Principal::Tenant { user_id, .. } => Some(user_id),
            Principal::Platform { .. } => None,
        }
    }

    fn actor(&self) -> passerelle_core::audit::Actor {
        passerelle_core::audit::Actor::from(&self.user.principal)
    }

    /// Money moves on this request (a statement approved, a transfer file taken): a session
    /// whose second factor is older than a quarter of an hour, or that never typed one, types a
    /// code first and then comes back to the page `back` (a form is not replayed: it is sent
    /// again from there). A session opened through the provider counts the provider's
    /// authentication as its proof, and asks the provider again.
    fn money_moves(&self, back: &str) -> PageResult<()> {
        if self.user.second_factor_fresh(chrono::Utc::now()) {
            return Ok(());
        }
        let encoded: String = back
            .chars()
            .map(|c| match c {
                '%' => "%25".to_owned(),
                '&' => "%26".to_owned(),
                '?' => "%3F".to_owned(),
                '=' => "%3D".to_owned(),
                '#' => "%23".to_owned(),
                '+' => "%2B".to_owned(),
                ' ' => "%20".to_owned(),
                c => c.to_string(),
            })
            .collect();
        // A session the provider opened, without an authenticator here, proves itself again at
        // the provider.
        if self.user.opened_by == SessionOrigin::IdentityProvider
            && !self.user.second_factor_enrolled
        {
            return Err(see_other(&format!(
                "{}/oidc/connexion?reauthentifier=1&retour={encoded}",
                self.path()
            ))
            .into());
        }
        Err(see_other(&format!(
            "{}/double-authentification?retour={encoded}",
            self.path()
        ))
        .into())
    }
}

/// An id in a page's address; a malformed one is not found, like an unknown one.
fn path_id(text: &str, what: &'static str) -> PageResult<uuid::Uuid> {
    uuid::Uuid::parse_str(text).map_err(|_| passerelle_core::Error::NotFound(what).into())
}
