use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::delivery::portfolio::link::{self, Opened};
use passerelle_core::delivery::portfolio::{self, CompetenceReached, PersonPortfolio, Portfolio};
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
    /// What the holder pays toward the voucher, in cents (0: free for them).
    pub participation_fee_cents: i64,
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
            participation_fee_cents: p.participation_fee_cents,
            epn: p.epn_name,
            sessions,
            orientation: p.orientation.map(Into::into),
        }
    }
}

/// A competence as far as the person got with it across all their vouchers: `level` is the
/// highest recorded.
#[derive(Debug, Object)]
pub struct CompetenceReachedView {
    /// e.g. `2.1` in the CRCN.
    pub code: String,
    /// The referential's area the competence belongs to.
    pub area: String,
    /// The competence's title in the referential.
    pub title: String,
    pub level: Level,
    /// When that level was first recorded.
    pub reached_at: DateTime<Utc>,
}

impl From<CompetenceReached> for CompetenceReachedView {
    fn from(c: CompetenceReached) -> Self {
        Self {
            code: c.code,
            area: c.area,
            title: c.title,
            level: c.level.into(),
            reached_at: c.reached_at,
        }
    }
}

/// A person's portfolio across every voucher they were given (a Ticket Net, a Pass Numérique
/// project, an accompaniment…): what their private link opens, and what they download to keep
/// or take elsewhere (data portability, GDPR art. 20).
#[derive(Debug, Object)]
pub struct HolderPortfolioView {
    /// The territory that gave the vouchers.
    pub territory: String,
    #[oai(skip_serializing_if_is_none)]
    pub first_name: Option<String>,
    /// Each competence once, at the highest level reached, in the referential's order.
    pub competences: Vec<CompetenceReachedView>,
    /// Every voucher, oldest first, with its sessions and the competences worked in them.
    pub vouchers: Vec<PortfolioView>,
    /// When this copy was made.
    pub generated_at: DateTime<Utc>,
}

impl From<PersonPortfolio> for HolderPortfolioView {
    fn from(p: PersonPortfolio) -> Self {
        Self {
            competences: p
                .competences_reached()
                .into_iter()
                .map(Into::into)
                .collect(),
            territory: p.tenant_name,
            first_name: p.first_name,
            vouchers: p.vouchers.into_iter().map(Into::into).collect(),
            generated_at: Utc::now(),
        }
    }
}

/// The holder's private link: give it to the holder only (the voucher's letter prints it too).
#[derive(Debug, Object)]
pub struct PortfolioLinkView {
    /// The holder's code, as the letter prints it (`K7M2-QX9D-4HTR-B3WE`).
    pub token: String,
    /// The holder's page, relative to the API's address (`/p/<territory>/<code>`).
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

    /// Creates the holder's private link to their portfolio (the person's, across all their
    /// vouchers); any previous link of the person stops working.
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
        let link = portfolio::renew_link(
            &state.db,
            &state.links.portfolio_key,
            tenant_id,
            auth.actor(),
            &reference.0,
            auth.visibility(),
        )
        .await?;
        Ok(PortfolioLinkCreated::Created(Json(PortfolioLinkView {
            url: link.path(),
            token: link.code.grouped(),
        })))
    }

    /// Revokes the holder's links: every link of the person stops working.
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

    /// The person's portfolio as JSON, through a link made before codes (`pf_…`).
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
    ) -> Result<Json<HolderPortfolioView>, PublicError> {
        let opened = open_token(&state, req, &token.0).await?;
        Ok(Json(portfolio::of_person(&state.db, &opened).await?.into()))
    }
}

/// Counts a look at a holder's page against the address's budget.
async fn count_view(state: &AppState, req: &Request) -> Result<(), ApiError> {
    limits::rate::hit(
        state,
        "portfolio",
        &limits::client::of(req, state),
        PORTFOLIO_VIEWS_PER_MINUTE,
    )
    .await
}

/// Whose portfolio a link made before codes opens.
pub(crate) async fn open_token(
    state: &AppState,
    req: &Request,
    token: &str,
) -> Result<Opened, ApiError> {
    count_view(state, req).await?;
    portfolio::open_token(&state.db, token)
        .await?
        .ok_or_else(|| {
            passerelle_core::Error::NotFound(
                "portfolio (the link may have been revoked or renewed)",
            )
            .into()
        })
}

/// Whose portfolio a holder's code opens in a territory.
pub(crate) async fn open_code(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
) -> Result<Option<Opened>, ApiError> {
    count_view(state, req).await?;
    Ok(link::open(&state.db, tenant, code).await?)
}
