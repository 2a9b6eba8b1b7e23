//! A voucher's Open Badges credentials in the portal, for the territory's admins: the ones its
//! holder took, and the revocation of one issued by mistake (its bit is set in the published
//! status list, and its verification page says it is revoked).

use passerelle_core::delivery::credentials::{self, SubjectKind};
use passerelle_core::emails::french;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{OrBack, PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

/// A credential as the voucher's page lists it.
#[derive(Serialize)]
pub(super) struct CredentialLine {
    id: Uuid,
    name: String,
    subject: &'static str,
    issued_on: String,
    revoked_on: Option<String>,
    revoked_reason: Option<String>,
    verification_url: String,
}

fn subject(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::Pseudonym => "sans nom",
        SubjectKind::Email => "adresse e-mail masquée",
        SubjectKind::Name => "nom et prénom",
    }
}

/// The credentials of the voucher's holder, for a user who may list them; `None` for others.
pub(super) async fn of_voucher(
    state: &AppState,
    portal: &Portal,
    reference: &str,
) -> PageResult<Option<Vec<CredentialLine>>> {
    if !portal.may(&access::LIST_CREDENTIALS) {
        return Ok(None);
    }
    let tz = portal.tenant.tz();
    let urls = credentials::document::Urls::new(&state.links.public_base_url, &portal.tenant.slug);
    let records = credentials::of_voucher(
        &state.db,
        portal.tenant.id,
        reference,
        passerelle_core::vouchers::Visibility::Tenant,
    )
    .await
    .or_back(&format!("{}/cheques", portal.path()), "Revenir aux chèques")?;
    Ok(Some(
        records
            .into_iter()
            .map(|r| CredentialLine {
                verification_url: urls.credential(r.id),
                id: r.id,
                name: r.name,
                subject: subject(r.subject_kind),
                issued_on: french::long_date(r.issued_at.with_timezone(&tz).date_naive()),
                revoked_on: r
                    .revoked_at
                    .map(|t| french::long_date(t.with_timezone(&tz).date_naive())),
                revoked_reason: r.revoked_reason,
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(super) struct RevocationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

#[handler]
pub(super) async fn revoke(
    Path((slug, reference, id)): Path<(String, String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<RevocationForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::REVOKE_CREDENTIAL,
        &form.csrf_token,
    )
    .await?;
    let voucher_page = format!("{}/cheques/{reference}", portal.path());
    let id = super::path_id(&id, "credential")?;
    credentials::revoke(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        id,
        &form.reason,
    )
    .await
    .or_back(&voucher_page, "Revenir au chèque")?;
    Ok(see_other(&format!("{voucher_page}?attestation=revoquee")))
}
