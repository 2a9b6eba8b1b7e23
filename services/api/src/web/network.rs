//! The tenant admin's EPN network: the list, the import of the open-data file of *lieux de
//! médiation numérique* with its row report, and one EPN's offer (the modules it delivers in each
//! scheme) and bank details for its reimbursements.

use passerelle_core::Error;
use passerelle_core::epns::{self, BankDetails, mask_iban};
use passerelle_core::imports::{self, ImportKind, ImportStatus, Target};
use passerelle_core::pagination::PageRequest;
use passerelle_core::schemes;
use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::optional;
use super::french::{FormErrors, FormRefusal};
use super::imports::Received;
use super::{OrBack, PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

/// "46100 Figeac", from a place's postal code and commune when it has them.
fn town(postal_code: Option<&str>, commune: Option<&str>) -> String {
    format!(
        "{} {}",
        postal_code.unwrap_or_default(),
        commune.unwrap_or_default()
    )
    .trim()
    .to_owned()
}

/// An EPN as a line of the network's list; its IBAN masked.
#[derive(Serialize)]
struct PlaceRow {
    id: Uuid,
    name: String,
    town: String,
    phone: Option<String>,
    iban: Option<String>,
}

/// The network's page: the places, the import form and the latest imports.
#[derive(Serialize)]
struct NetworkView {
    places: Vec<PlaceRow>,
    /// Where the list goes on, when more places follow.
    next: Option<String>,
    errors: FormErrors,
    imports: Vec<RecentImport>,
}

/// An import of the open-data file, as the network's page lists it.
#[derive(Serialize)]
struct RecentImport {
    id: Uuid,
    file_name: Option<String>,
    requested_at: String,
    status: &'static str,
    created: i32,
    updated: i32,
    refused: i32,
}

/// A module of a scheme, ticked when the EPN delivers it.
#[derive(Serialize)]
struct OfferedModule {
    number: i32,
    title: String,
    checked: bool,
}

/// A scheme the EPN may take part in, with its modules.
#[derive(Serialize)]
struct Offer {
    id: Uuid,
    name: String,
    modules: Vec<OfferedModule>,
}

/// One EPN's details as its page shows them; the IBAN masked.
#[derive(Serialize)]
struct EpnDetailsView {
    id: Uuid,
    name: String,
    address: Option<String>,
    town: String,
    phone: Option<String>,
    iban: Option<String>,
    bic: Option<String>,
    account_holder: Option<String>,
}

/// One EPN's page: its details, its offer per scheme and its bank details form.
#[derive(Serialize)]
struct EpnView<'a> {
    epn: EpnDetailsView,
    /// The latest change of its bank details, when one waits for a second person.
    bank_change: Option<super::bank::ChangeRow>,
    offers: Vec<Offer>,
    errors: FormErrors,
    notice: Option<&'a str>,
}

/// Places shown per page: a national file holds tens of thousands.
const PLACES_PER_PAGE: u32 = 100;

async fn list_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    errors: &FormRefusal,
    after: Option<&str>,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let request = PageRequest::parse(Some(PLACES_PER_PAGE), after)?;
    let listed = epns::list(&state.db, tenant_id, request)
        .await
        .map_err(|e| super::failed(&e, None))?;
    let next = listed.next_cursor.clone();
    let places: Vec<PlaceRow> = listed
        .items
        .iter()
        .map(|e| PlaceRow {
            id: e.id,
            name: e.name.clone(),
            town: town(e.postal_code.as_deref(), e.commune.as_deref()),
            phone: e.phone.clone(),
            iban: e.iban.as_deref().map(mask_iban),
        })
        .collect();
    let imports = imports::recent(&state.db, tenant_id, ImportKind::Epns, None, 5)
        .await
        .map_err(|e| super::failed(&e, None))?
        .into_iter()
        .map(|i| RecentImport {
            id: i.id,
            file_name: i.file_name,
            requested_at: i
                .requested_at
                .with_timezone(&portal.tenant.tz())
                .format("%d/%m/%Y %H:%M")
                .to_string(),
            status: match i.status {
                ImportStatus::Queued => "en attente",
                ImportStatus::Running => "en cours",
                ImportStatus::Succeeded => "terminé",
                ImportStatus::Failed => "interrompu",
            },
            created: i.created,
            updated: i.updated,
            refused: i.refused,
        })
        .collect();
    Ok(portal.page(
        status,
        "network.html",
        NetworkView {
            places,
            next,
            errors: errors.to_view(),
            imports,
        },
    ))
}

#[handler]
pub(super) async fn list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::IMPORT_EPNS).await?;
    let after = super::forms::query_param(req, "suite");
    list_page(
        &state,
        &portal,
        StatusCode::OK,
        &FormRefusal::default(),
        after.as_deref(),
    )
    .await
}

#[handler]
pub(super) async fn import_file(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    multipart: Multipart,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::IMPORT_EPNS).await?;
    let received = super::imports::receive(
        &state,
        &portal,
        req,
        multipart,
        |_| Ok(Target::Epns),
        imports::MAX_UPLOAD_BYTES,
    )
    .await?;
    match received {
        Received::Forbidden(page) => Ok(page),
        Received::Started(import) => Ok(see_other(&format!(
            "{}/epns/imports/{}",
            portal.path(),
            import.id
        ))),
        Received::Invalid { errors, .. } => {
            list_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                &errors,
                None,
            )
            .await
        }
    }
}

async fn epn_page(
    state: &AppState,
    portal: &Portal,
    id: Uuid,
    status: StatusCode,
    errors: &FormRefusal,
    notice: Option<&str>,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let back = format!("{}/epns", portal.path());
    let loaded = async {
        let epn = epns::get(&state.db, tenant_id, id).await?;
        let found =
            schemes::list(&state.db, tenant_id, PageRequest::parse(Some(100), None)?).await?;
        let mut offers = Vec::new();
        for scheme in found
            .items
            .iter()
            .filter(|s| s.status != passerelle_core::schemes::SchemeStatus::Closed)
        {
            let detail = schemes::get(&state.db, tenant_id, scheme.id).await?;
            let offered = epns::offered_module_titles(&state.db, tenant_id, id, scheme.id).await?;
            let numbers: Vec<i32> = offered.iter().map(|m| m.number).collect();
            offers.push(Offer {
                id: scheme.id,
                name: scheme.name.clone(),
                modules: detail
                    .modules
                    .iter()
                    .map(|m| OfferedModule {
                        number: m.number,
                        title: m.title.clone(),
                        checked: numbers.contains(&m.number),
                    })
                    .collect(),
            });
        }
        let pending = epns::bank::pending(&state.db, tenant_id, Some(id)).await?;
        Ok::<_, Error>((epn, offers, pending))
    }
    .await;
    let (epn, offers, pending) = loaded.or_back(&back, "Revenir aux EPN")?;
    Ok(portal.page(
        status,
        "network_epn.html",
        EpnView {
            epn: EpnDetailsView {
                id: epn.id,
                town: town(epn.postal_code.as_deref(), epn.commune.as_deref()),
                iban: epn.iban.as_deref().map(mask_iban),
                name: epn.name,
                address: epn.address,
                phone: epn.phone,
                bic: epn.bic,
                account_holder: epn.account_holder,
            },
            bank_change: pending
                .into_iter()
                .next()
                .map(|c| super::bank::ChangeRow::new(c, false, portal.tenant.tz())),
            offers,
            errors: errors.to_view(),
            notice,
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SET_EPN_OFFER).await?;
    let id = super::path_id(&id, "epn")?;
    let notice = match req.uri().query() {
        Some("offre=1") => Some("Offre enregistrée."),
        Some("coordonnees=1") => Some("Coordonnées enregistrées."),
        Some("banque=1") => Some(
            "Coordonnées bancaires enregistrées : elles prendront effet quand un agent du service financier ou un autre administrateur les aura confirmées.",
        ),
        _ => None,
    };
    epn_page(
        &state,
        &portal,
        id,
        StatusCode::OK,
        &FormRefusal::default(),
        notice,
    )
    .await
}

#[handler]
pub(super) async fn set_offer(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SET_EPN_OFFER).await?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    if let Some(refused) = portal.form_refused(req, field("csrf_token")) {
        return Ok(refused);
    }
    let (Ok(id), Ok(scheme_id)) = (Uuid::parse_str(&id), Uuid::parse_str(field("scheme_id")))
    else {
        return Err(Error::NotFound("epn").into());
    };
    let modules: Vec<i32> = pairs
        .iter()
        .filter(|(k, _)| k == "modules")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    match epns::set_offer(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        id,
        scheme_id,
        &modules,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("{}/epns/{id}?offre=1", portal.path()))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            epn_page(
                &state,
                &portal,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                &errors,
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct BankForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    iban: String,
    #[serde(default)]
    bic: String,
    #[serde(default)]
    account_holder: String,
}

#[handler]
pub(super) async fn set_bank_details(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<BankForm>,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SET_EPN_BANK_DETAILS).await?;
    if let Some(refused) = portal.form_refused(req, &form.csrf_token) {
        return Ok(refused);
    }
    let id = super::path_id(&id, "epn")?;
    let bank = BankDetails {
        iban: form.iban.clone(),
        bic: optional(&form.bic),
        account_holder: form.account_holder.trim().to_owned(),
    };
    match epns::bank::submit(&state.db, portal.tenant.id, portal.actor(), id, None, &bank).await {
        Ok(_) => Ok(see_other(&format!("{}/epns/{id}?banque=1", portal.path()))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            epn_page(
                &state,
                &portal,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                &errors,
                None,
            )
            .await
        }
    }
}
