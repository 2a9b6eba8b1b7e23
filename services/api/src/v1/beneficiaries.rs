use chrono::{DateTime, Utc};
use passerelle_core::beneficiaries::{
    self, Beneficiary, NewBeneficiary, PublicCategory as DomainPublicCategory,
};
use passerelle_core::retention;
use passerelle_core::tenancy::tenants;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::audit::AuditEntryView;
use super::vouchers::VoucherView;
use super::{Tag, examples};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// The public a person belongs to, as the scheme's eligibility names it.
    #[oai(rename_all = "snake_case")]
    pub enum PublicCategory mirrors DomainPublicCategory {
        /// Allocataires de minima sociaux.
        MinimaSociaux,
        /// Femmes isolées avec enfants à charge.
        SingleParent,
        /// Retraités ou futurs retraités.
        Senior,
        /// Salariés peu qualifiés.
        LowQualifiedEmployee,
        /// Conjoints d'artisans, commerçants, agriculteurs.
        SpouseOfSelfEmployed,
        /// Parents d'élèves.
        ParentOfPupil,
        /// Assurés sociaux, allocataires, usagers des téléservices.
        SocialInsuranceUser,
        /// A public of none of the kinds above.
        Other,
    }
}

/// A person to register: the least data that makes a voucher nominative. Email and phone are
/// optional: many holders have neither.
#[derive(Debug, Clone, Object)]
#[oai(example, deny_unknown_fields)]
pub struct NewBeneficiaryDto {
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: String,
    /// The year only, never the date of birth.
    #[oai(validator(minimum(value = "1900"), maximum(value = "2100")))]
    pub birth_year: i16,
    /// INSEE commune code, e.g. 46102.
    #[oai(validator(min_length = 5, max_length = 5))]
    pub commune_insee: String,
    pub public_category: PublicCategory,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    #[oai(validator(max_length = 30))]
    pub phone: Option<String>,
    /// The person agreed to receive emails (the date is recorded).
    #[oai(default)]
    pub email_consent: bool,
    /// Create even though a person with the same names, birth year and commune exists.
    #[oai(default)]
    pub allow_duplicate: bool,
}

impl From<NewBeneficiaryDto> for NewBeneficiary {
    fn from(b: NewBeneficiaryDto) -> Self {
        Self {
            first_name: b.first_name,
            last_name: b.last_name,
            birth_year: b.birth_year,
            commune_insee: b.commune_insee,
            public_category: b.public_category.into(),
            email: b.email,
            phone: b.phone,
            email_consent: b.email_consent,
            allow_duplicate: b.allow_duplicate,
        }
    }
}

/// A person who holds (or held) vouchers.
#[derive(Debug, Object)]
#[oai(example)]
pub struct BeneficiaryView {
    pub id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub first_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub last_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub birth_year: Option<i16>,
    #[oai(skip_serializing_if_is_none)]
    pub commune_insee: Option<String>,
    pub public_category: PublicCategory,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub phone: Option<String>,
    pub email_consent: bool,
    /// When the person agreed to receive the scheme's emails.
    #[oai(skip_serializing_if_is_none)]
    pub email_consent_at: Option<DateTime<Utc>>,
    pub prescriber_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// When the person's data was erased (right to erasure); their vouchers remain, without a name.
    #[oai(skip_serializing_if_is_none)]
    pub erased_at: Option<DateTime<Utc>>,
}

impl From<Beneficiary> for BeneficiaryView {
    fn from(b: Beneficiary) -> Self {
        Self {
            id: b.id,
            first_name: b.first_name,
            last_name: b.last_name,
            birth_year: b.birth_year,
            commune_insee: b.commune_insee,
            public_category: b.public_category.into(),
            email: b.email,
            phone: b.phone,
            email_consent: b.email_consent,
            email_consent_at: b.email_consent_at,
            prescriber_id: b.prescriber_id,
            created_at: b.created_at,
            erased_at: b.erased_at,
        }
    }
}

/// Everything held about a person (GDPR right of access).
#[derive(Debug, Object)]
pub struct BeneficiaryExportView {
    /// When this export was made.
    pub exported_at: DateTime<Utc>,
    pub beneficiary: BeneficiaryView,
    /// Every voucher the person holds or held, with its history.
    pub vouchers: Vec<VoucherView>,
    /// Recorded changes concerning the person or their vouchers.
    pub audit: Vec<AuditEntryView>,
}

#[derive(ApiResponse)]
pub enum CreatedBeneficiary {
    #[oai(status = 201)]
    Created(Json<BeneficiaryView>, #[oai(header = "Location")] String),
}

pub struct BeneficiariesApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Beneficiaries")]
impl BeneficiariesApi {
    /// Registers a person with the caller's prescriber organisation. A probable duplicate (same
    /// names, birth year and commune) is refused with 409 naming the existing record.
    #[oai(
        path = "/beneficiaries",
        method = "post",
        operation_id = "createBeneficiary"
    )]
    async fn create_beneficiary(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<NewBeneficiaryDto>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedBeneficiary, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_BENEFICIARY)?;
        let prescriber_id = auth.prescriber_id()?;
        let beneficiary = beneficiaries::create(
            &state.db,
            tenant_id,
            prescriber_id,
            auth.actor(),
            &body.0.into(),
        )
        .await?;
        let location = format!("/v1/beneficiaries/{}", beneficiary.id);
        Ok(CreatedBeneficiary::Created(
            Json(beneficiary.into()),
            location,
        ))
    }

    /// One beneficiary (a prescriber agent sees only those of their organisation).
    #[oai(
        path = "/beneficiaries/:beneficiary_id",
        method = "get",
        operation_id = "getBeneficiary"
    )]
    async fn get_beneficiary(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        beneficiary_id: Path<Uuid>,
    ) -> Result<Json<BeneficiaryView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_BENEFICIARY)?;
        let scope = match auth.visibility() {
            passerelle_core::vouchers::Visibility::Prescriber(id) => Some(id),
            passerelle_core::vouchers::Visibility::Tenant => None,
        };
        Ok(Json(
            beneficiaries::get(&state.db, tenant_id, beneficiary_id.0, scope)
                .await?
                .into(),
        ))
    }

    /// Everything held about the person, as JSON (GDPR right of access). The export is audited.
    #[oai(
        path = "/beneficiaries/:beneficiary_id/export",
        method = "get",
        operation_id = "exportBeneficiary"
    )]
    async fn export_beneficiary(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        beneficiary_id: Path<Uuid>,
    ) -> Result<Json<BeneficiaryExportView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::EXPORT_BENEFICIARY)?;
        let export =
            beneficiaries::export(&state.db, tenant_id, auth.actor(), beneficiary_id.0).await?;
        let tenant = tenants::get(&state.db, tenant_id).await?;
        Ok(Json(BeneficiaryExportView {
            exported_at: Utc::now(),
            beneficiary: export.beneficiary.into(),
            vouchers: export
                .vouchers
                .into_iter()
                .map(|v| VoucherView::new(v, &tenant))
                .collect(),
            audit: export.audit.into_iter().map(Into::into).collect(),
        }))
    }

    /// Erases the person for good (GDPR right to erasure): names, birth year, commune, email and
    /// phone are removed; vouchers, attendance and payments stay, identified by ids only. Audited.
    #[oai(
        path = "/beneficiaries/:beneficiary_id/erase",
        method = "post",
        operation_id = "eraseBeneficiary"
    )]
    async fn erase_beneficiary(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        beneficiary_id: Path<Uuid>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<BeneficiaryView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::ERASE_BENEFICIARY)?;
        Ok(Json(
            beneficiaries::erase(&state.db, tenant_id, auth.actor(), beneficiary_id.0)
                .await?
                .into(),
        ))
    }

    /// Sets how long a holder's personal data is kept after their last voucher ended: 1 to 10
    /// years (3 by default). Each day the worker erases, as `eraseBeneficiary` does, the people past
    /// it, and writes one audit entry per purge. Audited.
    #[oai(
        path = "/tenant/retention",
        method = "put",
        operation_id = "setRetention"
    )]
    async fn set_retention(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<RetentionInput>,
    ) -> Result<RetentionSet, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_RETENTION)?;
        retention::set_years(&state.db, tenant_id, auth.actor(), body.0.years).await?;
        Ok(RetentionSet::NoContent)
    }
}

/// How long personal data is kept after a voucher ends.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RetentionInput {
    /// Years after the end of a holder's last voucher.
    #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
    pub years: i32,
}

#[derive(ApiResponse)]
pub enum RetentionSet {
    #[oai(status = 204)]
    NoContent,
}

impl Example for NewBeneficiaryDto {
    fn example() -> Self {
        Self {
            first_name: "Paul".into(),
            last_name: "Lacombe".into(),
            birth_year: 1954,
            commune_insee: "46102".into(),
            public_category: PublicCategory::Senior,
            email: Some("paul.lacombe@example.org".into()),
            phone: None,
            email_consent: true,
            allow_duplicate: false,
        }
    }
}

impl Example for BeneficiaryView {
    fn example() -> Self {
        Self {
            id: examples::BENEFICIARY_ID,
            first_name: Some("Paul".into()),
            last_name: Some("Lacombe".into()),
            birth_year: Some(1954),
            commune_insee: Some("46102".into()),
            public_category: PublicCategory::Senior,
            email: Some("paul.lacombe@example.org".into()),
            phone: None,
            email_consent: true,
            email_consent_at: Some(examples::issued_at()),
            prescriber_id: examples::PRESCRIBER_ID,
            created_at: examples::issued_at(),
            erased_at: None,
        }
    }
}
