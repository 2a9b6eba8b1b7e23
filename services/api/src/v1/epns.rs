use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::epns::{self, BankDetails, Epn, EpnChanges, EpnDetails, mask_iban};
use passerelle_core::imports::{self, Target};
use passerelle_core::tenancy::{Principal, Role};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::bank_changes::BankChangeView;
use super::imports::{ImportView, run_in_background};
use super::schemas::{PageCursor, PageLimit, page_request, patched};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// An EPN as the open-data format describes it (field names in French, as in the schema).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EpnInput {
    /// The place's name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub nom: String,
    /// SIRET or RNA.
    #[oai(validator(max_length = 14))]
    pub pivot: Option<String>,
    /// Street address.
    #[oai(validator(max_length = 300))]
    pub adresse: Option<String>,
    /// Postal code.
    #[oai(validator(max_length = 5))]
    pub code_postal: Option<String>,
    /// The commune's name.
    #[oai(validator(max_length = 100))]
    pub commune: Option<String>,
    /// The commune's INSEE code.
    #[oai(validator(max_length = 5))]
    pub code_insee: Option<String>,
    /// Latitude (WGS 84).
    pub latitude: Option<f64>,
    /// Longitude (WGS 84).
    pub longitude: Option<f64>,
    /// Contact email addresses.
    #[oai(default, validator(max_items = 10))]
    pub courriels: Vec<String>,
    /// Phone number.
    #[oai(validator(max_length = 30))]
    pub telephone: Option<String>,
    /// Web site.
    #[oai(validator(max_length = 500))]
    pub site_web: Option<String>,
    /// OSM `opening_hours`, e.g. `Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00`.
    #[oai(validator(max_length = 500))]
    pub horaires: Option<String>,
    /// Services offered, in the open-data schema's vocabulary.
    #[oai(default, validator(max_items = 50))]
    pub services: Vec<String>,
    /// The place's types, in the open-data schema's vocabulary (e.g. `TIERS_LIEUX`).
    #[oai(default, validator(max_items = 20))]
    pub typologie: Vec<String>,
}

/// What changes in an EPN's details (field names of the open-data schema): a field left out stays
/// as it is, `null` clears an optional one. The same rules as at creation.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EpnUpdate {
    /// The place's name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub nom: Option<String>,
    /// Street address.
    #[oai(validator(max_length = 300))]
    pub adresse: MaybeUndefined<String>,
    /// Postal code.
    #[oai(validator(max_length = 5))]
    pub code_postal: MaybeUndefined<String>,
    /// The commune's name.
    #[oai(validator(max_length = 100))]
    pub commune: MaybeUndefined<String>,
    /// The commune's INSEE code.
    #[oai(validator(max_length = 5))]
    pub code_insee: MaybeUndefined<String>,
    /// Contact email addresses (replace the list).
    #[oai(validator(max_items = 10))]
    pub courriels: Option<Vec<String>>,
    /// Phone number.
    #[oai(validator(max_length = 30))]
    pub telephone: MaybeUndefined<String>,
    /// Web site.
    #[oai(validator(max_length = 500))]
    pub site_web: MaybeUndefined<String>,
    /// OSM `opening_hours`, e.g. `Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00`.
    #[oai(validator(max_length = 500))]
    pub horaires: MaybeUndefined<String>,
}

/// A public internet space (EPN), with the fields of the national open-data schema of digital
/// mediation places.
#[derive(Debug, Object)]
pub struct EpnView {
    pub id: Uuid,
    /// The place's name.
    pub nom: String,
    /// The SIRET (or RNA number) of the structure that runs it.
    #[oai(skip_serializing_if_is_none)]
    pub pivot: Option<String>,
    /// Street address.
    #[oai(skip_serializing_if_is_none)]
    pub adresse: Option<String>,
    /// Postal code.
    #[oai(skip_serializing_if_is_none)]
    pub code_postal: Option<String>,
    /// The commune's name.
    #[oai(skip_serializing_if_is_none)]
    pub commune: Option<String>,
    /// The commune's INSEE code.
    #[oai(skip_serializing_if_is_none)]
    pub code_insee: Option<String>,
    /// Latitude (WGS 84).
    #[oai(skip_serializing_if_is_none)]
    pub latitude: Option<f64>,
    /// Longitude (WGS 84).
    #[oai(skip_serializing_if_is_none)]
    pub longitude: Option<f64>,
    /// Contact email addresses.
    pub courriels: Vec<String>,
    /// Phone number.
    #[oai(skip_serializing_if_is_none)]
    pub telephone: Option<String>,
    /// Web site.
    #[oai(skip_serializing_if_is_none)]
    pub site_web: Option<String>,
    /// Opening hours, in the OpenStreetMap `opening_hours` syntax.
    #[oai(skip_serializing_if_is_none)]
    pub horaires: Option<String>,
    /// Services offered, in the open-data schema's vocabulary.
    pub services: Vec<String>,
    /// The place's types, in the open-data schema's vocabulary.
    pub typologie: Vec<String>,
    /// Where the record comes from (the open-data file's producer).
    #[oai(skip_serializing_if_is_none)]
    pub source: Option<String>,
    /// Its identifier in its source; a re-import updates the place with the same source and id.
    #[oai(skip_serializing_if_is_none)]
    pub source_id: Option<String>,
    /// When its source last updated it.
    #[oai(skip_serializing_if_is_none)]
    pub date_maj: Option<NaiveDate>,
    /// In full for tenant admins and finance officers; masked (e.g. `FR76…0189`) for others.
    #[oai(skip_serializing_if_is_none)]
    pub iban: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub bic: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub account_holder: Option<String>,
    /// When it was last changed here.
    pub updated_at: DateTime<Utc>,
}

impl EpnView {
    fn new(e: Epn, principal: &Principal) -> Self {
        let full = matches!(principal.role(), Role::TenantAdmin | Role::Finance);
        Self {
            iban: e.iban.map(|i| if full { i } else { mask_iban(&i) }),
            id: e.id,
            nom: e.name,
            pivot: e.pivot,
            adresse: e.address,
            code_postal: e.postal_code,
            commune: e.commune,
            code_insee: e.commune_insee,
            latitude: e.latitude,
            longitude: e.longitude,
            courriels: e.emails,
            telephone: e.phone,
            site_web: e.website,
            horaires: e.opening_hours,
            services: e.services,
            typologie: e.typology,
            source: e.source,
            source_id: e.source_id,
            date_maj: e.source_updated_on,
            bic: e.bic,
            account_holder: e.account_holder,
            updated_at: e.updated_at,
        }
    }
}

pub type EpnPage = super::schemas::Page<EpnView>;

/// An EPN's bank details, for the SEPA transfers of its statements.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct BankDetailsInput {
    /// Checked by its checksum; spaces allowed.
    #[oai(validator(min_length = 15, max_length = 42))]
    pub iban: String,
    #[oai(validator(max_length = 11))]
    pub bic: Option<String>,
    #[oai(validator(min_length = 1, max_length = 140))]
    pub account_holder: String,
}

/// The modules of a scheme an EPN offers.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct OfferInput {
    pub scheme_id: Uuid,
    /// The scheme's module numbers this EPN delivers.
    #[oai(validator(max_items = 200))]
    pub modules: Vec<i32>,
}

/// The modules of a scheme an EPN offers.
#[derive(Debug, Object)]
pub struct OfferView {
    pub scheme_id: Uuid,
    pub modules: Vec<i32>,
}

/// A file in the national *lieux de médiation numérique* format (CSV, `|` between values).
#[derive(Debug, Multipart)]
pub struct EpnImportUpload {
    pub file: Upload,
}

/// An import accepted: it runs in the background; follow it at `Location`.
#[derive(ApiResponse)]
pub enum ImportAccepted {
    #[oai(status = 202)]
    Accepted(Json<ImportView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum CreatedEpn {
    #[oai(status = 201)]
    Created(Json<EpnView>, #[oai(header = "Location")] String),
}

pub struct EpnsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Epns")]
impl EpnsApi {
    /// Registers an EPN by hand.
    #[oai(path = "/epns", method = "post", operation_id = "createEpn")]
    async fn create_epn(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<EpnInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedEpn, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_EPN)?;
        let b = body.0;
        let details = EpnDetails {
            name: b.nom,
            pivot: b.pivot,
            address: b.adresse,
            postal_code: b.code_postal,
            commune: b.commune,
            commune_insee: b.code_insee,
            latitude: b.latitude,
            longitude: b.longitude,
            emails: b.courriels,
            phone: b.telephone,
            website: b.site_web,
            opening_hours: b.horaires,
            services: b.services,
            typology: b.typologie,
            ..EpnDetails::default()
        };
        let epn = epns::create(&state.db, tenant_id, auth.actor(), &details).await?;
        let location = format!("/v1/epns/{}", epn.id);
        Ok(CreatedEpn::Created(
            Json(EpnView::new(epn, &auth.0)),
            location,
        ))
    }

    /// Lists the tenant's EPNs, oldest first.
    #[oai(path = "/epns", method = "get", operation_id = "listEpns")]
    async fn list_epns(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<EpnPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_EPNS)?;
        let page = page_request(limit.0, cursor.0)?;
        let page = epns::list(&state.db, tenant_id, page).await?;
        Ok(Json(EpnPage {
            items: page
                .items
                .into_iter()
                .map(|e| EpnView::new(e, &auth.0))
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// One EPN.
    #[oai(path = "/epns/:epn_id", method = "get", operation_id = "getEpn")]
    async fn get_epn(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        epn_id: Path<Uuid>,
    ) -> Result<Json<EpnView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_EPN)?;
        Ok(Json(EpnView::new(
            epns::get(&state.db, tenant_id, epn_id.0).await?,
            &auth.0,
        )))
    }

    /// Corrects an EPN's details outside an import (a later import of the same place brings the
    /// published details back). A tenant admin corrects any EPN, an EPN's staff their own.
    /// Audited with each changed field before and after.
    #[oai(path = "/epns/:epn_id", method = "patch", operation_id = "updateEpn")]
    async fn update_epn(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        epn_id: Path<Uuid>,
        body: Json<EpnUpdate>,
    ) -> Result<Json<EpnView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::UPDATE_EPN)?;
        if auth.epn_scope().is_some_and(|own| own != epn_id.0) {
            return Err(passerelle_core::Error::NotFound("epn").into());
        }
        let b = body.0;
        let changes = EpnChanges {
            name: b.nom,
            address: patched(b.adresse),
            postal_code: patched(b.code_postal),
            commune: patched(b.commune),
            commune_insee: patched(b.code_insee),
            emails: b.courriels,
            phone: patched(b.telephone),
            website: patched(b.site_web),
            opening_hours: patched(b.horaires),
        };
        let epn = epns::update(&state.db, tenant_id, auth.actor(), epn_id.0, changes).await?;
        Ok(Json(EpnView::new(epn, &auth.0)))
    }

    /// Imports EPNs from a *lieux de médiation numérique* open-data file (the national schema's
    /// 32 fields, up to 50 MB). The file is checked and stored as it streams in, then imported in
    /// the background: the answer (202) is the import, to follow at `/v1/imports/{id}` and whose
    /// report is at `/v1/imports/{id}/lines`. Re-importing updates each place by (`source`, `id`),
    /// so sending a file twice is harmless; this operation takes no Idempotency-Key.
    #[oai(path = "/epns/import", method = "post", operation_id = "importEpns")]
    async fn import_epns(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        form: EpnImportUpload,
    ) -> Result<ImportAccepted, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::IMPORT_EPNS)?;
        let file_name = form.file.file_name().map(str::to_owned);
        let import = imports::receive(
            &state.db,
            tenant_id,
            auth.actor(),
            Target::Epns,
            file_name,
            form.file.into_async_read(),
            imports::MAX_UPLOAD_BYTES,
        )
        .await?;
        run_in_background(state.db.clone(), tenant_id, import.id);
        let view = ImportView::from(import);
        let location = view.location.clone();
        Ok(ImportAccepted::Accepted(Json(view), location))
    }

    /// Submits the bank details the EPN is to be paid to (IBAN checked by its checksum): they take
    /// effect when a tenant admin or finance officer other than the submitter confirms them
    /// (`confirmBankChange`); until then the EPN keeps its confirmed account. A change already
    /// waiting for this EPN is superseded. An EPN's staff submit their own EPN's only. Audited.
    #[oai(
        path = "/epns/:epn_id/bank-details",
        method = "post",
        operation_id = "setEpnBankDetails"
    )]
    async fn set_bank_details(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        epn_id: Path<Uuid>,
        body: Json<BankDetailsInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<BankChangeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_EPN_BANK_DETAILS)?;
        let bank = BankDetails {
            iban: body.0.iban,
            bic: body.0.bic,
            account_holder: body.0.account_holder,
        };
        let change = epns::bank::submit(
            &state.db,
            tenant_id,
            auth.actor(),
            epn_id.0,
            auth.epn_scope(),
            &bank,
        )
        .await?;
        Ok(Json(BankChangeView::new(change, &auth.0)))
    }

    /// Makes the EPN take part in a scheme with the modules it delivers (replaces the previous list).
    #[oai(
        path = "/epns/:epn_id/offers",
        method = "post",
        operation_id = "setEpnOffer"
    )]
    async fn set_offer(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        epn_id: Path<Uuid>,
        body: Json<OfferInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<OfferView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_EPN_OFFER)?;
        let modules = epns::set_offer(
            &state.db,
            tenant_id,
            auth.actor(),
            epn_id.0,
            body.0.scheme_id,
            &body.0.modules,
        )
        .await?;
        Ok(Json(OfferView {
            scheme_id: body.0.scheme_id,
            modules,
        }))
    }
}
