//! The tenant admin's pages: the portal's users (create with an invitation by email, invite again,
//! disable), the email log and the audit log.

use std::collections::HashSet;

use passerelle_core::emails::outbox::{self, EmailFilter, EmailStatus};
use passerelle_core::pagination::PageRequest;
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_core::tenancy::{Role, account_links, accounts};
use passerelle_core::{Error, audit, epns, labels, prescribers};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::{Choice, option, optional, query_param};
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

/// Every page of a list, for a `<select>` (a tenant has at most a few thousand EPNs).
pub(super) async fn all<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, Error>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<passerelle_core::pagination::Page<T>, Error>>,
{
    let mut items = Vec::new();
    let mut after = None;
    for _ in 0..50 {
        let page = fetch(PageRequest::parse(Some(100), after.as_deref())?).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    Ok(items)
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct UserForm {
    #[serde(default)]
    pub(super) csrf_token: String,
    #[serde(default)]
    pub(super) display_name: String,
    #[serde(default)]
    pub(super) email: String,
    #[serde(default)]
    pub(super) role: String,
    #[serde(default)]
    pub(super) prescriber_id: String,
    #[serde(default)]
    pub(super) epn_id: String,
}
/// A user of the tenant as the users' page lists them.
#[derive(Serialize)]
struct UserRow {
    id: Uuid,
    name: String,
    email: String,
    role: &'static str,
    /// The prescriber organisation or the EPN the user works for.
    structure: Option<String>,
    state: &'static str,
    /// Not yet signed in: an invitation can be sent again.
    invitable: bool,
    active: bool,
    /// The signed-in admin: they cannot disable themselves.
    myself: bool,
}

/// The users' page, with the form to add one.
#[derive(Serialize)]
struct UsersView<'a> {
    users: Vec<UserRow>,
    roles: Vec<Choice>,
    prescribers: Vec<Choice>,
    epns: Vec<Choice>,
    form: &'a UserForm,
    errors: FormErrors,
    notice: Option<String>,
}

/// An email of the log.
#[derive(Serialize)]
struct EmailRow {
    created: String,
    kind: &'static str,
    recipient: Option<String>,
    status: &'static str,
    attempts: i32,
    error: Option<String>,
}

/// The email log with its filters.
#[derive(Serialize)]
struct EmailLogView {
    emails: Vec<EmailRow>,
    statuses: Vec<Choice>,
    status: &'static str,
    kinds: Vec<Choice>,
    kind: &'static str,
    next: Option<String>,
}

/// An entry of the audit log.
#[derive(Serialize)]
struct AuditRow {
    at: String,
    action: String,
    role: String,
    object: String,
    details: String,
}

/// The audit log with its filter.
#[derive(Serialize)]
struct AuditLogView {
    entries: Vec<AuditRow>,
    next: Option<String>,
    action: Option<String>,
}

async fn users_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    form: &UserForm,
    errors: &FormRefusal,
    notice: Option<String>,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let loaded = async {
        let accounts_list = all(|page| users::list(&state.db, tenant_id, page)).await?;
        let with_password: HashSet<Uuid> = accounts::users_with_password(&state.db, tenant_id)
            .await?
            .into_iter()
            .collect();
        let prescribers = all(|page| prescribers::list(&state.db, tenant_id, page)).await?;
        let epns = all(|page| epns::list(&state.db, tenant_id, page)).await?;
        Ok::<_, Error>((accounts_list, with_password, prescribers, epns))
    }
    .await;
    let (accounts_list, with_password, prescribers, epns) = loaded?;
    let structure = |user: &users::User| {
        user.prescriber_id
            .and_then(|id| {
                prescribers
                    .iter()
                    .find(|p| p.id == id)
                    .map(|p| p.name.clone())
            })
            .or_else(|| {
                user.epn_id
                    .and_then(|id| epns.iter().find(|e| e.id == id).map(|e| e.name.clone()))
            })
    };
    let rows: Vec<UserRow> = accounts_list
        .iter()
        .map(|u| {
            let (state, invitable) = match (u.disabled_at, with_password.contains(&u.id)) {
                (Some(_), _) => ("désactivé", false),
                (None, true) => ("actif", false),
                (None, false) => ("invité, mot de passe à choisir", true),
            };
            UserRow {
                id: u.id,
                name: u.display_name.clone(),
                email: u.email.clone(),
                role: u.role.0.title_fr(),
                structure: structure(u),
                state,
                invitable,
                active: u.disabled_at.is_none(),
                myself: Some(u.id) == portal.user_id(),
            }
        })
        .collect();
    let roles: Vec<Choice> = Role::TENANT
        .iter()
        .map(|r| option(r.as_str(), r.title_fr()))
        .collect();
    Ok(portal.page(
        status,
        "users.html",
        UsersView {
            users: rows,
            roles,
            prescribers: prescribers.iter().map(|p| option(p.id, &p.name)).collect(),
            epns: epns.iter().map(|e| option(e.id, &e.name)).collect(),
            form,
            errors: errors.to_view(),
            notice,
        },
    ))
}

#[handler]
pub(super) async fn user_list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_USERS).await?;
    let notice = req.uri().query().and_then(|q| {
        q.split('&').find_map(|p| {
            p.strip_prefix("invite=")
                .map(|_| "Invitation envoyée : la personne reçoit un courriel pour choisir son mot de passe.".to_owned())
                .or_else(|| p.strip_prefix("desactive=").map(|_| "Compte désactivé : ses sessions sont fermées.".to_owned()))
                .or_else(|| p.strip_prefix("modifie=").map(|_| "Compte modifié.".to_owned()))
        })
    });
    users_page(
        &state,
        &portal,
        StatusCode::OK,
        &UserForm::default(),
        &FormRefusal::default(),
        notice,
    )
    .await
}

pub(super) fn read_user_form(form: &UserForm) -> Result<NewUser, FormRefusal> {
    let mut refusal = FormRefusal::default();
    let role = form
        .role
        .parse::<Role>()
        .ok()
        .filter(|r| *r != Role::PlatformAdmin);
    if role.is_none() {
        refusal = refusal.field("role", "Choisissez un rôle dans la liste.");
    }
    let id = |text: &str| optional(text).map(|t| Uuid::parse_str(&t));
    let prescriber_id = id(&form.prescriber_id).transpose();
    let epn_id = id(&form.epn_id).transpose();
    match (role, prescriber_id, epn_id) {
        (Some(role), Ok(prescriber_id), Ok(epn_id)) if refusal.is_empty() => Ok(NewUser {
            email: form.email.trim().to_owned(),
            display_name: form.display_name.trim().to_owned(),
            role,
            // Only the structure the role needs is kept: a form may carry both selects' choices.
            prescriber_id: prescriber_id.filter(|_| role == Role::Prescriber),
            epn_id: epn_id.filter(|_| role == Role::Epn),
        }),
        _ => Err(refusal),
    }
}

#[handler]
pub(super) async fn create_user(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<UserForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::CREATE_USER, &form.csrf_token).await?;
    let new = match read_user_form(&form) {
        Ok(new) => new,
        Err(errors) => {
            return users_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
                None,
            )
            .await;
        }
    };
    let created = users::create(&state.db, portal.tenant.id, &new).await;
    let invited = match created {
        Ok(user) => {
            account_links::invite(&state.db, portal.tenant.id, portal.actor(), user.id).await
        }
        Err(e) => Err(e),
    };
    match invited {
        Ok(()) => Ok(see_other(&format!(
            "{}/utilisateurs?invite=1",
            portal.path()
        ))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            users_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    #[serde(default)]
    csrf_token: String,
}

#[handler]
pub(super) async fn invite(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::CREATE_USER, &form.csrf_token).await?;
    let user_id = super::path_id(&id, "user")?;
    let users_page = format!("{}/utilisateurs", portal.path());
    account_links::invite(&state.db, portal.tenant.id, portal.actor(), user_id)
        .await
        .or_back(&users_page, "Revenir aux utilisateurs")?;
    Ok(see_other(&format!("{users_page}?invite=1")))
}

#[handler]
pub(super) async fn disable(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::DISABLE_USER, &form.csrf_token).await?;
    let user_id = super::path_id(&id, "user")?;
    let users_page = format!("{}/utilisateurs", portal.path());
    users::disable(&state.db, portal.tenant.id, user_id)
        .await
        .or_back(&users_page, "Revenir aux utilisateurs")?;
    Ok(see_other(&format!("{users_page}?desactive=1")))
}

/// The email log, newest first, filtered by state and kind.
#[handler]
pub(super) async fn email_log(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_EMAILS).await?;
    let param = |name: &str| query_param(req, name);
    let filter = EmailFilter {
        status: param("etat").and_then(|s| s.parse().ok()),
        kind: param("nature").and_then(|k| k.parse().ok()),
        voucher_id: None,
        newest_first: true,
    };
    let page = PageRequest::parse(Some(100), param("suite").as_deref())?;
    let listed = outbox::list(&state.db, portal.tenant.id, &filter, page).await?;
    let tz = portal.tenant.tz();
    let rows: Vec<EmailRow> = listed
        .items
        .iter()
        .map(|m| EmailRow {
            created: m
                .created_at
                .with_timezone(&tz)
                .format("%d/%m/%Y %H:%M")
                .to_string(),
            kind: labels::email_kind(m.kind),
            recipient: m.recipient.clone(),
            status: labels::email_status(m.status),
            attempts: m.attempts,
            error: m.last_error.clone(),
        })
        .collect();
    let statuses: Vec<Choice> = EmailStatus::all()
        .map(|s| option(s.as_str(), labels::email_status(s)))
        .collect();
    let kinds: Vec<Choice> = outbox::Kind::all()
        .map(|k| option(k.as_str(), labels::email_kind(k)))
        .collect();
    Ok(portal.page(
        StatusCode::OK,
        "emails.html",
        EmailLogView {
            emails: rows,
            statuses,
            status: filter.status.map(EmailStatus::as_str).unwrap_or_default(),
            kinds,
            kind: filter.kind.map(outbox::Kind::as_str).unwrap_or_default(),
            next: listed.next_cursor,
        },
    ))
}

/// The audit log, newest first, filtered by action.
#[handler]
pub(super) async fn audit_log(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_AUDIT).await?;
    let page = PageRequest::parse(Some(100), query_param(req, "suite").as_deref())?;
    let filter = audit::AuditFilter {
        action: query_param(req, "action"),
        newest_first: true,
        ..audit::AuditFilter::default()
    };
    let listed = audit::list(&state.db, portal.tenant.id, &filter, page).await?;
    let tz = portal.tenant.tz();
    let rows: Vec<AuditRow> = listed
        .items
        .iter()
        .map(|entry| AuditRow {
            at: entry
                .occurred_at
                .with_timezone(&tz)
                .format("%d/%m/%Y %H:%M:%S")
                .to_string(),
            action: entry.action.clone(),
            role: entry.actor_role.clone(),
            object: format!("{} {}", entry.object_type, entry.object_id),
            details: entry.details.to_string(),
        })
        .collect();
    Ok(portal.page(
        StatusCode::OK,
        "journal.html",
        AuditLogView {
            entries: rows,
            next: listed.next_cursor,
            action: filter.action,
        },
    ))
}
