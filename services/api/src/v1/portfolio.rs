use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::delivery::portfolio::{self, Portfolio};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::Tag;
use crate::access;
use crate::limits;
use crate::middleware::auth::BearerAuth;
use crate::problem::{ApiError, PublicError};
use crate::state::AppState;
use crate::v1::attendance::Level;
use crate::v1::vouchers::VoucherStatusDto;

/// Portfolio pages allowed per client address and minute.
const PORTFOLIO_VIEWS_PER_MINUTE: u64 = 60;

/// A competence the holder worked in a session, with the level reached.
#[derive(Debug, Object)]
pub struct CompetenceView {
    /// e.g. `2.1` in the CRCN.
    pub code: String,
    /// The referential's area the competence belongs to (CRCN: e.g. `Communication et
    /// collaboration`).
    pub area: String,
    /// The competence's title in the referential.
    pub title: String,
    pub level: Level,
    /// When the animator recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// A session the holder attended, with the competences worked.
#[derive(Debug, Object)]
pub struct PortfolioSessionView {
    /// When the session started.
    pub date: DateTime<Utc>,
    /// Minutes attended.
    pub minutes: i32,
    #[oai(skip_serializing_if_is_none)]
    pub module_number: Option<i32>,
    /// The module's title.
    #[oai(skip_serializing_if_is_none)]
    pub module_title: Option<String>,
    /// The EPN's name.
    pub epn: String,
    /// The competences worked in it.
    pub competences: Vec<CompetenceView>,
}

/// What a holder did and learnt.
#[derive(Debug, Object)]
pub struct PortfolioView {
    pub reference: String,
    #[oai(skip_serializing_if_is_none)]
    pub first_name: Option<String>,
    /// The scheme's name.
    pub scheme: String,
    pub status: VoucherStatusDto,
    pub issued_on: NaiveDate,
    pub valid_until: NaiveDate,
    pub minutes_total: i32,
    pub minutes_left: i32,
    /// Minutes of sessions attended so far.
    pub minutes_attended: i32,
    /// The EPN the voucher is registered at.
    #[oai(skip_serializing_if_is_none)]
    pub epn: Option<String>,
    /// The sessions attended, oldest first.
    pub sessions: Vec<PortfolioSessionView>,
    /// Where the EPN oriented the holder at the end of the journey.
    #[oai(skip_serializing_if_is_none)]
    pub orientation: Option<crate::v1::orientation::OrientationView>,
}

impl From<Portfolio> for PortfolioView {
    fn from(p: Portfolio) -> Self {
        let sessions: Vec<PortfolioSessionView> = p
            .sessions
            .iter()
            .map(|s| PortfolioSessionView {
                date: s.starts_at,
                minutes: s.minutes,
                module_number: s.module_number,
                module_title: s.module_title.clone(),
                epn: s.epn_name.clone(),
                competences: p
                    .competences
                    .iter()
                    .filter(|c| c.attendance_id == s.attendance_id)
                    .map(|c| CompetenceView {
                        code: c.code.clone(),
                        area: c.area.clone(),
                        title: c.title.clone(),
                        level: c.level.into(),
                        recorded_at: c.recorded_at,
                    })
                    .collect(),
            })
            .collect();
        Self {
            minutes_attended: sessions.iter().map(|s| s.minutes).sum(),
            reference: p.reference,
            first_name: p.first_name,
            scheme: p.scheme_name,
            status: p.status.into(),
            issued_on: p.issued_on,
            valid_until: p.valid_until,
            minutes_total: p.minutes_total,
            minutes_left: p.minutes_left,
            epn: p.epn_name,
            sessions,
            orientation: p.orientation.map(Into::into),
        }
    }
}

/// The holder's private link. Give it to the holder: it is shown only now.
#[derive(Debug, Object)]
pub struct PortfolioLinkView {
    /// The secret part of the holder's private link: give the whole link to the holder only.
    pub token: String,
    /// The page, relative to the API's address.
    pub url: String,
}

#[derive(ApiResponse)]
pub enum PortfolioLinkCreated {
    #[oai(status = 201)]
    Created(Json<PortfolioLinkView>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    /// The link no longer works.
    #[oai(status = 204)]
    NoContent,
}

pub struct PortfolioApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl PortfolioApi {
    /// A voucher's e-portfolio: sessions, modules, hours, competencies with levels and dates.
    #[oai(
        path = "/vouchers/:reference/portfolio",
        method = "get",
        operation_id = "getPortfolio"
    )]
    async fn get_portfolio(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
    ) -> Result<Json<PortfolioView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_PORTFOLIO)?;
        Ok(Json(
            portfolio::get(&state.db, tenant_id, &reference.0, auth.visibility())
                .await?
                .into(),
        ))
    }

    /// Creates the holder's private link to their portfolio; any previous link stops working.
    #[oai(
        path = "/vouchers/:reference/portfolio-link",
        method = "post",
        operation_id = "renewPortfolioLink"
    )]
    async fn renew_link(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<PortfolioLinkCreated, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RENEW_PORTFOLIO_LINK)?;
        let token = portfolio::renew_link(
            &state.db,
            tenant_id,
            auth.actor(),
            &reference.0,
            auth.visibility(),
        )
        .await?;
        Ok(PortfolioLinkCreated::Created(Json(PortfolioLinkView {
            url: format!("/v1/public/portfolio/{token}"),
            token,
        })))
    }

    /// Revokes the holder's link.
    #[oai(
        path = "/vouchers/:reference/portfolio-link",
        method = "delete",
        operation_id = "revokePortfolioLink"
    )]
    async fn revoke_link(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
    ) -> Result<Revoked, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REVOKE_PORTFOLIO_LINK)?;
        portfolio::revoke_link(
            &state.db,
            tenant_id,
            auth.actor(),
            &reference.0,
            auth.visibility(),
        )
        .await?;
        Ok(Revoked::NoContent)
    }

    /// The same portfolio as JSON.
    #[oai(
        path = "/public/portfolio/:token/data",
        method = "get",
        operation_id = "publicPortfolioData"
    )]
    async fn public_data(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The secret of the holder's private link.
        token: Path<String>,
    ) -> Result<Json<PortfolioView>, PublicError> {
        Ok(Json(public_view(&state, req, &token.0).await?))
    }
}

pub(crate) async fn public_view(
    state: &AppState,
    req: &Request,
    token: &str,
) -> Result<PortfolioView, ApiError> {
    limits::rate::hit(
        state,
        "portfolio",
        &limits::client::of(req, state),
        PORTFOLIO_VIEWS_PER_MINUTE,
    )
    .await?;
    portfolio::by_link(&state.db, token)
        .await?
        .map(PortfolioView::from)
        .ok_or_else(|| {
            passerelle_core::Error::NotFound(
                "portfolio (the link may have been revoked or renewed)",
            )
            .into()
        })
}
