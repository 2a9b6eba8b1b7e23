use chrono::{DateTime, Utc};
use passerelle_core::delivery::OrientationKind;
use passerelle_core::delivery::orientation::{self, Orientation};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::Tag;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// Where the EPN orients the person at the end of the journey: toward a certification
    /// (`pix`, `pcie`, `clea_numerique`), a `training_body`, an `other_scheme`, or
    /// `no_orientation` for now.
    #[oai(rename = "OrientationKind", rename_all = "snake_case")]
    pub enum OrientationKindDto mirrors OrientationKind {
        Pix,
        Pcie,
        CleaNumerique,
        TrainingBody,
        OtherScheme,
        NoOrientation,
    }
}

/// Where the person was oriented at the end of the journey.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct OrientationInput {
    pub kind: OrientationKindDto,
    /// A note for the person and the next professional (a contact, a date, a test to take).
    #[oai(validator(max_length = 1000))]
    pub note: Option<String>,
}

/// An orientation as recorded.
#[derive(Debug, Object)]
pub struct OrientationView {
    pub kind: OrientationKindDto,
    /// The EPN's note for the person and the next professional.
    #[oai(skip_serializing_if_is_none)]
    pub note: Option<String>,
    /// When the EPN recorded it (again, if it was changed).
    pub recorded_at: DateTime<Utc>,
}

impl From<Orientation> for OrientationView {
    fn from(o: Orientation) -> Self {
        Self {
            kind: o.kind.into(),
            note: o.note,
            recorded_at: o.recorded_at,
        }
    }
}

pub struct OrientationApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl OrientationApi {
    /// Records where the EPN orients the holder at the end of the journey (once some of the
    /// voucher's time is used); recording again replaces it. Only the EPN the voucher is (or was
    /// last) registered at.
    #[oai(
        path = "/vouchers/:reference/orientation",
        method = "put",
        operation_id = "recordOrientation"
    )]
    async fn record(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
        body: Json<OrientationInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<OrientationView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RECORD_ORIENTATION)?;
        let epn_id = auth.epn_id()?;
        let b = body.0;
        Ok(Json(
            orientation::record(
                &state.db,
                tenant_id,
                epn_id,
                auth.actor(),
                &reference.0,
                b.kind.into(),
                b.note.as_deref(),
            )
            .await?
            .into(),
        ))
    }
}
