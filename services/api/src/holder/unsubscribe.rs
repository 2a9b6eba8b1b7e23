//! What an email's unsubscribe link opens: a French page that says what the link does, and the
//! one-click withdrawal of RFC 8058.

use passerelle_core::emails::unsubscribe;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Html;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::pages;
use crate::problem::PublicError;
use crate::state::AppState;
use crate::v1::Tag;

#[derive(ApiResponse)]
pub enum UnsubscribePage {
    /// A French page: what the link does (GET), or that it was done (POST).
    #[oai(status = 200)]
    Ok(Html<String>),
}

fn unsubscribe_page(s: &unsubscribe::Subscription, done: bool) -> Html<String> {
    Html(pages::render(
        "unsubscribe.html",
        serde_json::json!({
            "tenant_name": s.tenant_name,
            "scheme_name": s.scheme_name,
            "masked_address": s.masked_address,
            "consenting": s.consenting,
            "done": done,
        }),
    ))
}

pub struct UnsubscribePages;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Public")]
impl UnsubscribePages {
    /// What an email's unsubscribe link does; nothing changes until the button is pressed.
    #[oai(
        path = "/public/unsubscribe/:tenant/:key",
        method = "get",
        operation_id = "unsubscribePage"
    )]
    async fn unsubscribe_page(
        &self,
        state: Data<&AppState>,
        /// The tenant's identifier, as in the email's link.
        tenant: Path<Uuid>,
        /// The unsubscribe key of the email's link.
        key: Path<Uuid>,
    ) -> Result<UnsubscribePage, PublicError> {
        let subscription = unsubscribe::find(&state.db, tenant.0, key.0).await?;
        Ok(UnsubscribePage::Ok(unsubscribe_page(&subscription, false)))
    }

    /// Withdraws the holder's consent to emails: the one-click POST of RFC 8058 (body
    /// `List-Unsubscribe=One-Click`) or the page's button. Idempotent.
    #[oai(
        path = "/public/unsubscribe/:tenant/:key",
        method = "post",
        operation_id = "unsubscribe"
    )]
    async fn unsubscribe(
        &self,
        state: Data<&AppState>,
        /// The tenant's identifier, as in the email's link.
        tenant: Path<Uuid>,
        /// The unsubscribe key of the email's link.
        key: Path<Uuid>,
    ) -> Result<UnsubscribePage, PublicError> {
        let subscription = unsubscribe::withdraw(&state.db, tenant.0, key.0).await?;
        Ok(UnsubscribePage::Ok(unsubscribe_page(&subscription, true)))
    }
}
