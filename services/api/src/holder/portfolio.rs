//! The holder's own space, in French: their portfolio across every voucher they were given, the
//! balance of each, a copy to print or save as PDF and one as JSON (data portability), and their
//! private link, which they can revoke or renew themselves. It is reached without staff, from
//! the QR code or the short address on the voucher letter (`/p/<territory>/<code>`), or from
//! the welcome email; the links made before codes keep their `/v1/public/portfolio/` address.

use chrono::Utc;
use passerelle_core::delivery::CompetenceLevel;
use passerelle_core::delivery::credentials;
use passerelle_core::delivery::portfolio::link::{self, HolderCode, HolderLink, Opened};
use passerelle_core::delivery::portfolio::{self, PersonPortfolio, Portfolio};
use passerelle_core::emails::french;
use passerelle_core::labels;
use passerelle_core::tenancy::tenants;
use poem::Request;
use poem::error::ResponseError;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Form, Html, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::{Deserialize, Serialize};

use super::{message, page, too_many_page};
use crate::problem::{ApiError, FormRejected, PageFault, PublicError};
use crate::state::AppState;
use crate::v1::Tag;
use crate::v1::portfolio::{HolderPortfolioView, open_code, open_token};

/// The design system's badge colour for a level.
fn level_badge(level: CompetenceLevel) -> &'static str {
    match level {
        CompetenceLevel::Discovered => "info",
        CompetenceLevel::Practised => "new",
        CompetenceLevel::Acquired => "success",
    }
}

#[derive(Serialize)]
struct CompetenceLine {
    code: String,
    title: String,
    level: &'static str,
    badge: &'static str,
    /// When this level was reached, in the summary.
    on: Option<String>,
}

#[derive(Serialize)]
struct SessionLine {
    date: String,
    module: String,
    duration: String,
    epn: String,
    scheme: String,
    competences: Vec<CompetenceLine>,
}

#[derive(Serialize)]
struct OrientationLine {
    kind: &'static str,
    note: Option<String>,
    on: String,
}

#[derive(Serialize)]
struct VoucherCard {
    scheme: String,
    reference: String,
    status: &'static str,
    /// The status in a word, for the printed table.
    state: &'static str,
    open: bool,
    attended: String,
    left: String,
    total: String,
    issued_on: String,
    valid_until: String,
    epn: Option<String>,
    fee: Option<String>,
    orientation: Option<OrientationLine>,
}

/// What the page may offer: the copies and, on a link with a code, its revocation and renewal.
#[derive(Serialize, Default)]
struct Actions {
    json_url: String,
    print_url: Option<String>,
    revoke_url: Option<String>,
    renew_url: Option<String>,
    back_url: Option<String>,
    /// Where the holder takes one credential, and all of them as a zip.
    credential_url: Option<String>,
    credentials_zip_url: Option<String>,
}

/// An achievement the holder can take as a credential.
#[derive(Serialize)]
struct Attestation {
    key: String,
    name: String,
}

fn paris_day(at: chrono::DateTime<Utc>) -> String {
    french::long_date(at.with_timezone(&chrono_tz::Europe::Paris).date_naive())
}

fn minutes_attended(v: &Portfolio) -> i32 {
    v.sessions.iter().map(|s| s.minutes).sum()
}

fn voucher_card(v: &Portfolio) -> VoucherCard {
    VoucherCard {
        scheme: v.scheme_name.clone(),
        reference: v.reference.clone(),
        status: labels::voucher_status_for_holder(v.status),
        state: labels::voucher_status(v.status),
        open: v.status.is_open(),
        attended: french::duration(minutes_attended(v)),
        left: french::duration(v.minutes_left),
        total: french::duration(v.minutes_total),
        issued_on: french::long_date(v.issued_on),
        valid_until: french::long_date(v.valid_until),
        epn: v.epn_name.clone(),
        fee: (v.participation_fee_cents > 0).then(|| french::euros(v.participation_fee_cents)),
        orientation: v.orientation.as_ref().map(|o| OrientationLine {
            kind: labels::orientation(o.kind),
            note: o.note.clone(),
            on: paris_day(o.recorded_at),
        }),
    }
}

fn sessions(p: &PersonPortfolio) -> Vec<SessionLine> {
    let mut lines: Vec<(chrono::DateTime<Utc>, SessionLine)> = p
        .vouchers
        .iter()
        .flat_map(|v| {
            v.sessions.iter().map(move |s| {
                let competences = v
                    .competences
                    .iter()
                    .filter(|c| c.attendance_id == s.attendance_id)
                    .map(|c| CompetenceLine {
                        code: c.code.clone(),
                        title: c.title.clone(),
                        level: labels::competence_level(c.level),
                        badge: level_badge(c.level),
                        on: None,
                    })
                    .collect();
                let line = SessionLine {
                    date: paris_day(s.starts_at),
                    module: match (&s.module_number, &s.module_title) {
                        (Some(n), Some(t)) => format!("Module {n}\u{a0}: {t}"),
                        _ => "Séance".to_owned(),
                    },
                    duration: french::duration(s.minutes),
                    epn: s.epn_name.clone(),
                    scheme: v.scheme_name.clone(),
                    competences,
                };
                (s.starts_at, line)
            })
        })
        .collect();
    lines.sort_by_key(|(at, _)| *at);
    lines.into_iter().map(|(_, l)| l).collect()
}

fn context(
    p: &PersonPortfolio,
    actions: Actions,
    attestations: Vec<Attestation>,
) -> serde_json::Value {
    let competences: Vec<CompetenceLine> = p
        .competences_reached()
        .into_iter()
        .map(|c| CompetenceLine {
            level: labels::competence_level(c.level),
            badge: level_badge(c.level),
            on: Some(paris_day(c.reached_at)),
            code: c.code,
            title: c.title,
        })
        .collect();
    let attended: i32 = p.vouchers.iter().map(minutes_attended).sum();
    serde_json::json!({
        "first_name": p.first_name,
        "territory": p.tenant_name,
        "vouchers": p.vouchers.iter().rev().map(voucher_card).collect::<Vec<_>>(),
        "competences": competences,
        "sessions": sessions(p),
        "attended": french::duration(attended),
        "today": paris_day(Utc::now()),
        "actions": actions,
        "attestations": attestations,
    })
}

/// The same French page for an unknown territory, a wrong code and a stopped link.
fn not_found_page(tenant: &str) -> Html<String> {
    message(
        "Ce lien ne fonctionne pas",
        "Ce lien ou ce code ne mène à aucun espace personnel : vérifiez le code sur votre courrier. S’il a été désactivé ou remplacé, demandez un nouveau courrier à la structure qui vous a remis votre chèque.",
        Some((&format!("/p/{tenant}"), "Saisir le code de mon courrier")),
    )
}

fn not_found(tenant: &str) -> HolderPage {
    HolderPage::NotFound(not_found_page(tenant))
}

fn too_many() -> HolderPage {
    HolderPage::TooMany(too_many_page())
}

#[derive(ApiResponse)]
pub enum HolderPage {
    /// The page, in French.
    #[oai(status = 200)]
    Ok(Html<String>),
    /// A French page: no working link has this code in this territory (or the territory is
    /// unknown; the same answer for each).
    #[oai(status = 404)]
    NotFound(Html<String>),
    /// A French page: too many pages from this address; try again in a minute.
    #[oai(status = 429)]
    TooMany(Html<String>),
    /// A French page: the service cannot answer for now (its database is unreachable).
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

#[derive(ApiResponse)]
pub enum CodeEntry {
    /// To the holder's page.
    #[oai(status = 303)]
    Found(#[oai(header = "Location")] String),
    /// The form again, in French: the code is not complete or has a character codes never hold.
    #[oai(status = 422)]
    Invalid(Html<String>),
    /// A French page: no such territory.
    #[oai(status = 404)]
    NotFound(Html<String>),
    /// A French page: the service cannot answer for now (its database is unreachable).
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

#[derive(ApiResponse)]
pub enum PortfolioDownload {
    /// The portfolio, as a file to keep.
    #[oai(status = 200)]
    Ok(
        Json<HolderPortfolioView>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

/// The code form as a browser sends it.
#[derive(Debug, Object, Deserialize)]
pub struct CodeForm {
    /// The code printed on the letter (`K7M2-QX9D-4HTR-B3WE`), however typed.
    #[oai(validator(max_length = 40))]
    pub code: String,
}

/// Opens the holder's space, or says why not, in French.
async fn opened(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
) -> Result<Result<Opened, HolderPage>, ApiError> {
    Ok(match open_code(state, req, tenant, code).await? {
        Some(opened) => Ok(opened),
        None => Err(not_found(tenant)),
    })
}

/// A page's answer to what went wrong on the way: the rate limit and an unreachable database in
/// French, like the page; anything else is a fault.
fn failed(err: ApiError) -> Result<HolderPage, PageFault> {
    match err.status() {
        StatusCode::TOO_MANY_REQUESTS => Ok(too_many()),
        StatusCode::SERVICE_UNAVAILABLE => {
            tracing::warn!(error = %err, "holder page unavailable");
            Ok(HolderPage::Unavailable(unavailable()))
        }
        _ => Err(PageFault::from(err)),
    }
}

fn unavailable() -> Html<String> {
    message(
        "Service momentanément indisponible",
        "Votre espace personnel ne peut pas s’afficher pour l’instant. Réessayez dans quelques minutes.",
        None,
    )
}

fn code_actions(link: &HolderLink) -> Actions {
    let path = link.path();
    Actions {
        json_url: format!("{path}/donnees"),
        print_url: Some(format!("{path}/imprimer")),
        revoke_url: Some(format!("{path}/desactiver")),
        renew_url: Some(format!("{path}/renouveler")),
        credential_url: Some(format!("{path}/attestations")),
        credentials_zip_url: Some(format!("{path}/attestations/toutes")),
        back_url: Some(path),
    }
}

fn link_of(opened: &Opened) -> Option<HolderLink> {
    opened.code.map(|code| HolderLink {
        tenant_slug: opened.tenant.slug.clone(),
        code,
    })
}

pub struct HolderPages;

/// The person's space or its print layout, from a code.
async fn space(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
    template: &str,
) -> Result<HolderPage, ApiError> {
    let opened = match opened(state, req, tenant, code).await? {
        Ok(opened) => opened,
        Err(page) => return Ok(page),
    };
    let person = portfolio::of_person(&state.db, &opened).await?;
    let actions = link_of(&opened)
        .map(|l| code_actions(&l))
        .unwrap_or_default();
    let attestations = credentials::offered(&state.db, &opened)
        .await?
        .into_iter()
        .map(|e| Attestation {
            key: e.achievement.key.to_string(),
            name: e.achievement.name(),
        })
        .collect();
    Ok(HolderPage::Ok(page(
        template,
        context(&person, actions, attestations),
    )))
}

async fn code_form_page(state: &AppState, tenant: &str) -> Result<HolderPage, ApiError> {
    let Some(found) = tenants::find_by_slug(&state.db, tenant).await? else {
        return Ok(not_found(tenant));
    };
    Ok(HolderPage::Ok(page(
        "holder_code.html",
        serde_json::json!({ "territory": found.name, "slug": found.slug, "code": "", "error": null }),
    )))
}

async fn revoke_page(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
) -> Result<HolderPage, ApiError> {
    let opened = match opened(state, req, tenant, code).await? {
        Ok(opened) => opened,
        Err(page) => return Ok(page),
    };
    link::revoke_by_holder(&state.db, &opened).await?;
    Ok(HolderPage::Ok(message(
        "Votre lien est désactivé",
        "Le code de votre courrier et le lien de votre e-mail n’ouvrent plus votre espace personnel. Votre portfolio est conservé : pour y accéder de nouveau, demandez un nouveau courrier à la structure qui vous a remis votre chèque.",
        None,
    )))
}

async fn renew_page(
    state: &AppState,
    req: &Request,
    tenant: &str,
    code: &str,
) -> Result<HolderPage, ApiError> {
    let opened = match opened(state, req, tenant, code).await? {
        Ok(opened) => opened,
        Err(page) => return Ok(page),
    };
    let link = link::renew_by_holder(&state.db, &state.links.portfolio_key, &opened).await?;
    let url = state.links.holder(&link);
    Ok(HolderPage::Ok(page(
        "holder_renewed.html",
        serde_json::json!({
            "url": url,
            "path": link.path(),
            "entry_url": state.links.holder_entry(&link),
            "code": link.code.grouped(),
            "qr": crate::qr::svg(&url, 176, "Code QR de votre nouvelle adresse"),
        }),
    )))
}

#[OpenApi(tag = "Tag::Public")]
impl HolderPages {
    /// Where the holder types the code printed on their letter (French HTML).
    #[oai(path = "/p/:tenant", method = "get", operation_id = "holderCodeForm")]
    async fn code_form(
        &self,
        state: Data<&AppState>,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
    ) -> Result<HolderPage, PageFault> {
        code_form_page(&state, &tenant.0).await.or_else(failed)
    }

    /// The code form's answer: to the holder's page. Any case, dashes or spaces; O is read as 0
    /// and I or L as 1.
    #[oai(path = "/p/:tenant", method = "post", operation_id = "holderCodeEntry")]
    async fn code_entry(
        &self,
        state: Data<&AppState>,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        form: Form<CodeForm>,
    ) -> Result<CodeEntry, FormRejected> {
        let found = match tenants::find_by_slug(&state.db, &tenant.0).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Ok(CodeEntry::NotFound(not_found_page(&tenant.0)));
            }
            Err(err) => {
                tracing::warn!(error = %err, "holder code form unavailable");
                return Ok(CodeEntry::Unavailable(unavailable()));
            }
        };
        match HolderCode::parse(&form.0.code) {
            Some(code) => Ok(CodeEntry::Found(format!("/p/{}/{code}", found.slug))),
            None => Ok(CodeEntry::Invalid(page(
                "holder_code.html",
                serde_json::json!({
                    "territory": found.name,
                    "slug": found.slug,
                    "code": form.0.code,
                    "error": "Ce code n’est pas complet : il a 16 caractères, chiffres et lettres, par groupes de quatre (par exemple K7M2-QX9D-4HTR-B3WE). Recopiez-le depuis votre courrier.",
                }),
            ))),
        }
    }

    /// The holder's space (French HTML): every voucher with its balance, what they learnt, their
    /// sessions, and their link's controls. No token needed: the code is the key.
    #[oai(
        path = "/p/:tenant/:code",
        method = "get",
        operation_id = "holderPortfolioPage"
    )]
    async fn portfolio_page(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
    ) -> Result<HolderPage, PageFault> {
        space(&state, req, &tenant.0, &code.0, "portfolio.html")
            .await
            .or_else(failed)
    }

    /// The holder's portfolio laid out for A4, to print or save as PDF from the browser.
    #[oai(
        path = "/p/:tenant/:code/imprimer",
        method = "get",
        operation_id = "holderPortfolioPrint"
    )]
    async fn portfolio_print(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
    ) -> Result<HolderPage, PageFault> {
        space(&state, req, &tenant.0, &code.0, "portfolio_print.html")
            .await
            .or_else(failed)
    }

    /// The holder's portfolio as a JSON file to keep or take elsewhere (GDPR art. 20).
    #[oai(
        path = "/p/:tenant/:code/donnees",
        method = "get",
        operation_id = "holderPortfolioData"
    )]
    async fn portfolio_data(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
    ) -> Result<PortfolioDownload, PublicError> {
        let opened = open_code(&state, req, &tenant.0, &code.0).await?.ok_or(
            passerelle_core::Error::NotFound(
                "portfolio (the link may have been revoked or renewed)",
            ),
        )?;
        let person = portfolio::of_person(&state.db, &opened).await?;
        let name = format!(
            "attachment; filename=\"portfolio-{}-{}.json\"",
            opened.tenant.slug,
            Utc::now().format("%Y-%m-%d")
        );
        Ok(PortfolioDownload::Ok(Json(person.into()), name))
    }

    /// Stops the holder's link, from the page itself: the code on the letter and the email's
    /// link stop working. A new letter from the prescriber brings a new one.
    #[oai(
        path = "/p/:tenant/:code/desactiver",
        method = "post",
        operation_id = "holderRevokeLink"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
    ) -> Result<HolderPage, PageFault> {
        revoke_page(&state, req, &tenant.0, &code.0)
            .await
            .or_else(failed)
    }

    /// Gives the holder a new code and address, from the page itself; the previous ones stop
    /// working. The page shows the new ones, with their QR code, to note or print.
    #[oai(
        path = "/p/:tenant/:code/renouveler",
        method = "post",
        operation_id = "holderRenewLink"
    )]
    async fn renew(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The territory's short name, as in the letter's address.
        tenant: Path<String>,
        /// The holder's code, as on the letter.
        code: Path<String>,
    ) -> Result<HolderPage, PageFault> {
        renew_page(&state, req, &tenant.0, &code.0)
            .await
            .or_else(failed)
    }
}

/// The pages of links made before codes: the same portfolio, under their old address.
pub struct PortfolioPage;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Public")]
impl PortfolioPage {
    /// The holder's portfolio page (French HTML), through a link made before codes. No token
    /// needed.
    #[oai(
        path = "/public/portfolio/:token",
        method = "get",
        operation_id = "publicPortfolioPage"
    )]
    async fn public_page(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The secret of the holder's private link.
        token: Path<String>,
    ) -> Result<Html<String>, PublicError> {
        let opened = open_token(&state, req, &token.0).await?;
        let person = portfolio::of_person(&state.db, &opened).await?;
        let actions = Actions {
            json_url: format!("/v1/public/portfolio/{}/data", token.0),
            ..Actions::default()
        };
        Ok(Html(crate::pages::render(
            "portfolio.html",
            context(&person, actions, Vec::new()),
        )))
    }
}
