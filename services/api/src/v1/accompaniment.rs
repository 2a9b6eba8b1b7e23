use chrono::{DateTime, Utc};
use passerelle_core::delivery::RequestChannel as DomainRequestChannel;
use passerelle_core::delivery::RequestStatus as DomainRequestStatus;
use passerelle_core::delivery::accompaniment::{
    self, Acceptance, AccompanimentRequest, PublicRequest, Scope, Wish,
};
use passerelle_core::tenancy::tenants;
use passerelle_core::vouchers::Holder;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::beneficiaries::{NewBeneficiaryDto, PublicCategory};
use super::schemas::{Page, PageCursor, PageLimit, page_request};
use super::vouchers::VoucherView;
use crate::access;
use crate::limits;
use crate::middleware::auth::BearerAuth;
use crate::problem::{ApiError, PublicError};
use crate::state::AppState;

/// Public accompaniment requests allowed per client address and minute.
const PUBLIC_REQUESTS_PER_MINUTE: u64 = 5;

/// A prescriber's request for the 2-hour accompaniment of a person at an EPN.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AccompanimentInput {
    pub scheme_id: Uuid,
    /// The EPN where the two hours will take place.
    pub epn_id: Uuid,
    /// A person already registered by the caller's organisation…
    pub beneficiary_id: Option<Uuid>,
    /// …or a new one (exactly one of the two).
    pub beneficiary: Option<NewBeneficiaryDto>,
    /// What the person needs, in a few words, for the EPN.
    #[oai(validator(max_length = 2000))]
    pub message: Option<String>,
}

/// The public form: « Je développe mes compétences numériques ».
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PublicAccompanimentInput {
    /// The territory's identifier, e.g. `auvergne-rhone-alpes`.
    #[oai(validator(min_length = 2, max_length = 63))]
    pub territory: String,
    /// The scheme's code, e.g. `pass-numerique`.
    #[oai(validator(min_length = 2, max_length = 63))]
    pub scheme: String,
    pub epn_id: Uuid,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: String,
    #[oai(validator(minimum(value = "1900"), maximum(value = "2100")))]
    pub birth_year: i16,
    /// The commune's INSEE code, when the form can look it up…
    #[oai(validator(min_length = 5, max_length = 5))]
    pub commune_insee: Option<String>,
    /// …or the postal code and the commune's name as the person types them (staff give the INSEE
    /// code when they accept).
    #[oai(validator(min_length = 5, max_length = 5))]
    pub postal_code: Option<String>,
    /// The commune's name, with `postal_code`.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub commune_name: Option<String>,
    pub public_category: Option<PublicCategory>,
    /// An email address or a phone number (at least one), so that the EPN can reach the person;
    /// with an address, a confirmation is sent at once.
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    /// See `email`.
    #[oai(validator(max_length = 30))]
    pub phone: Option<String>,
    #[oai(default)]
    pub email_consent: bool,
    /// What the person needs, in their words.
    #[oai(validator(max_length = 2000))]
    pub message: Option<String>,
}

/// A request for the 2-hour accompaniment, from a prescriber or from the public form.
#[derive(Debug, Object)]
pub struct AccompanimentView {
    pub id: Uuid,
    pub scheme_id: Uuid,
    pub epn_id: Uuid,
    pub channel: RequestChannel,
    #[oai(skip_serializing_if_is_none)]
    pub prescriber_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub beneficiary_id: Option<Uuid>,
    /// What the person needs, as the request says it.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    pub status: RequestStatus,
    #[oai(skip_serializing_if_is_none)]
    pub decision_reason: Option<String>,
    /// A pending request from the public form expires then, unanswered, and its details are wiped.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub voucher_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub type AccompanimentPage = Page<AccompanimentView>;

impl From<AccompanimentRequest> for AccompanimentView {
    fn from(r: AccompanimentRequest) -> Self {
        Self {
            id: r.id,
            scheme_id: r.scheme_id,
            epn_id: r.epn_id,
            channel: r.channel.into(),
            prescriber_id: r.prescriber_id,
            beneficiary_id: r.beneficiary_id,
            message: r.message,
            status: r.status.into(),
            decision_reason: r.decision_reason,
            expires_at: r.expires_at,
            voucher_id: r.voucher_id,
            created_at: r.created_at,
        }
    }
}

/// What the person who filled the public form is told.
#[derive(Debug, Object)]
pub struct PublicReceipt {
    pub id: Uuid,
    pub status: RequestStatus,
    /// What the person is told, in French.
    pub message: String,
}

/// What accepting an accompaniment request needs.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AcceptInput {
    /// For a request from the public form: the prescriber whose allocation funds the voucher
    /// (tenant admins only: EPN staff get 403). A prescriber's request is funded by that
    /// prescriber; another one here is refused.
    pub prescriber_id: Option<Uuid>,
    /// For a request whose person gave their postal code and commune's name: the commune's INSEE
    /// code, which the voucher's holder record needs.
    #[oai(validator(min_length = 5, max_length = 5))]
    pub commune_insee: Option<String>,
}

/// Why an accompaniment request is declined.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DeclineInput {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

mirror_enum! {
    /// How a request came: `prescriber` (an agent filed it) or `public_form` (the person filled
    /// the public form).
    #[oai(rename_all = "snake_case")]
    pub enum RequestChannel mirrors DomainRequestChannel {
        Prescriber,
        PublicForm,
    }
}

mirror_enum! {
    /// Where an accompaniment request stands: `pending` until the EPN accepts it (the voucher is
    /// issued) or declines it; `expired` when a public request waited 30 days unanswered.
    #[oai(rename_all = "snake_case")]
    pub enum RequestStatus mirrors DomainRequestStatus {
        Pending,
        Accepted,
        Declined,
        Expired,
    }
}

#[derive(ApiResponse)]
pub enum CreatedAccompaniment {
    #[oai(status = 201)]
    Created(Json<AccompanimentView>),
}

#[derive(ApiResponse)]
pub enum PublicAccepted {
    /// The request is recorded; the EPN or the territory will answer.
    #[oai(status = 202)]
    Accepted(Json<PublicReceipt>),
}

fn scope(auth: &BearerAuth) -> Scope {
    match (auth.epn_scope(), auth.visibility()) {
        (Some(epn), _) => Scope::Epn(epn),
        (None, passerelle_core::vouchers::Visibility::Prescriber(p)) => Scope::Prescriber(p),
        _ => Scope::Tenant,
    }
}

pub struct AccompanimentApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl AccompanimentApi {
    /// A prescriber asks for a two-hour personalised accompaniment at an EPN for a person.
    #[oai(
        path = "/accompaniment-requests",
        method = "post",
        operation_id = "requestAccompaniment"
    )]
    async fn request(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<AccompanimentInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedAccompaniment, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REQUEST_ACCOMPANIMENT)?;
        let prescriber_id = auth.prescriber_id()?;
        let b = body.0;
        let holder =
            Holder::one_of(b.beneficiary_id, b.beneficiary.map(Into::into)).ok_or_else(|| {
                passerelle_core::Error::invalid(
                    "beneficiary",
                    "give exactly one of beneficiary_id and beneficiary",
                )
            })?;
        let wish = Wish {
            scheme_id: b.scheme_id,
            epn_id: b.epn_id,
            message: b.message,
        };
        let request = accompaniment::request_by_prescriber(
            &state.db,
            tenant_id,
            prescriber_id,
            auth.actor(),
            &wish,
            &holder,
        )
        .await?;
        Ok(CreatedAccompaniment::Created(Json(request.into())))
    }

    /// Requests, newest first, a page at a time: an EPN sees its own, a prescriber the ones it made.
    #[oai(
        path = "/accompaniment-requests",
        method = "get",
        operation_id = "listAccompanimentRequests"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Only the requests in this status.
        status: Query<Option<RequestStatus>>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<AccompanimentPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_ACCOMPANIMENT_REQUESTS)?;
        let status = status.0.map(Into::into);
        let page = page_request(limit.0, cursor.0)?;
        let page = accompaniment::list(&state.db, tenant_id, scope(&auth), status, page)
            .await?
            .map(AccompanimentView::from);
        Ok(Json(AccompanimentPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// Accepts a request: a voucher for the accompaniment time is issued, registered at the EPN.
    #[oai(
        path = "/accompaniment-requests/:request_id/accept",
        method = "post",
        operation_id = "acceptAccompaniment"
    )]
    async fn accept(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        request_id: Path<Uuid>,
        body: Json<AcceptInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<VoucherView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::ACCEPT_ACCOMPANIMENT)?;
        let voucher = accompaniment::accept(
            &state.db,
            tenant_id,
            scope(&auth),
            auth.actor(),
            request_id.0,
            &Acceptance {
                prescriber_id: body.0.prescriber_id,
                commune_insee: body.0.commune_insee,
            },
        )
        .await?;
        let tenant = tenants::get(&state.db, tenant_id).await?;
        Ok(Json(VoucherView::new(voucher, &tenant)))
    }

    /// Declines a request, with the reason.
    #[oai(
        path = "/accompaniment-requests/:request_id/decline",
        method = "post",
        operation_id = "declineAccompaniment"
    )]
    async fn decline(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        request_id: Path<Uuid>,
        body: Json<DeclineInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<AccompanimentView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::DECLINE_ACCOMPANIMENT)?;
        Ok(Json(
            accompaniment::decline(
                &state.db,
                tenant_id,
                scope(&auth),
                auth.actor(),
                request_id.0,
                &body.0.reason,
            )
            .await?
            .into(),
        ))
    }

    /// The public form, without a token: a person asks for two hours of accompaniment at an EPN.
    /// Limited to 5 requests a minute per address.
    #[oai(
        path = "/public/accompaniment-requests",
        method = "post",
        operation_id = "publicAccompanimentRequest"
    )]
    async fn public_request(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<PublicAccompanimentInput>,
    ) -> Result<PublicAccepted, PublicError> {
        limits::rate::hit(
            &state,
            "accompaniment",
            &limits::client::of(req, &state),
            PUBLIC_REQUESTS_PER_MINUTE,
        )
        .await?;
        let b = body.0;
        let request = PublicRequest {
            epn_id: b.epn_id,
            person: passerelle_core::beneficiaries::NewBeneficiary {
                first_name: b.first_name,
                last_name: b.last_name,
                birth_year: b.birth_year,
                commune_insee: b.commune_insee.unwrap_or_default(),
                public_category: b.public_category.unwrap_or(PublicCategory::Other).into(),
                email: b.email,
                phone: b.phone,
                email_consent: b.email_consent,
                allow_duplicate: true,
            },
            postal_code: b.postal_code,
            commune_name: b.commune_name,
            message: b.message,
        };
        let receipt =
            accompaniment::request_public(&state.db, &b.territory, &b.scheme, &request).await?;
        let request = receipt.request;
        Ok(PublicAccepted::Accepted(Json(PublicReceipt {
            id: request.id,
            status: request.status.into(),
            message: "Votre demande est enregistrée. L'espace numérique vous contactera pour fixer vos deux heures d'accompagnement.".into(),
        })))
    }
}
