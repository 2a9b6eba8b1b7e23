use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::emails::outbox::{self, EmailFilter, EmailStatus, OutboxMessage};
use passerelle_core::emails::{Kind, render};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::{PageCursor, PageLimit, page_request};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// Where an email stands: `pending` (waiting for its next attempt), `sent` (taken by the mail
    /// server), `failed` (attempts exhausted or the address refused) or `cancelled` (no longer to be
    /// sent).
    #[oai(rename = "EmailStatus", rename_all = "snake_case")]
    pub enum EmailStatusDto mirrors EmailStatus {
        Pending,
        Sent,
        Failed,
        Cancelled,
    }
}

mirror_enum! {
    /// What an email is about: `welcome` (a new voucher), `reminder` (before the end of validity),
    /// `expired`, `prescriber_digest` (the prescriber's daily summary), `invitation` (to choose a
    /// portal password), `password_reset`, `request_received` and `request_declined` (to the
    /// person who filled the public request form), `statement_approved` and `statement_paid` (to
    /// the EPN's contact).
    #[oai(rename = "EmailKind", rename_all = "snake_case")]
    pub enum EmailKindDto mirrors Kind {
        Welcome,
        Reminder,
        Expired,
        PrescriberDigest,
        Invitation,
        PasswordReset,
        RequestReceived,
        RequestDeclined,
        StatementApproved,
        StatementPaid,
    }
}

/// A value of a filter or a path that names an email's kind; a word that is not one is refused
/// with the list of kinds.
fn email_kind(field: &'static str, text: &str) -> Result<Kind, passerelle_core::Error> {
    text.parse().map_err(|_| {
        let kinds: Vec<&str> = Kind::all().map(Kind::as_str).collect();
        passerelle_core::Error::invalid(field, format!("one of: {}", kinds.join(", ")))
    })
}

/// An email of the tenant's outbox: what it is about, where it stands, and why.
#[derive(Debug, Object)]
pub struct EmailView {
    pub id: Uuid,
    pub kind: EmailKindDto,
    /// For a reminder: days before the end of validity (60, 30, 7…).
    #[oai(skip_serializing_if_is_none)]
    pub reminder_days: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub voucher_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub prescriber_id: Option<Uuid>,
    /// For a prescriber digest: the day it covers.
    #[oai(skip_serializing_if_is_none)]
    pub digest_on: Option<NaiveDate>,
    /// For an invitation or a password reset: the portal user.
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<Uuid>,
    pub status: EmailStatusDto,
    /// Delivery attempts made so far.
    pub attempts: i32,
    /// When a pending email is next tried.
    pub next_attempt_at: DateTime<Utc>,
    /// The address of the last attempt.
    #[oai(skip_serializing_if_is_none)]
    pub recipient: Option<String>,
    /// Why the last attempt failed, or why the email was cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    /// The Message-ID header of the sent email.
    #[oai(skip_serializing_if_is_none)]
    pub smtp_message_id: Option<String>,
    /// The mail server's answer when it took the email.
    #[oai(skip_serializing_if_is_none)]
    pub smtp_response: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the mail server took it.
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxMessage> for EmailView {
    fn from(m: OutboxMessage) -> Self {
        Self {
            id: m.id,
            kind: m.kind.into(),
            reminder_days: m.reminder_days,
            voucher_id: m.voucher_id,
            prescriber_id: m.prescriber_id,
            digest_on: m.digest_on,
            user_id: m.user_id,
            status: m.status.into(),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            recipient: m.recipient,
            last_error: m.last_error,
            smtp_message_id: m.smtp_message_id,
            smtp_response: m.smtp_response,
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

pub type EmailPage = super::schemas::Page<EmailView>;

/// An email rendered with sample data, as the holder or prescriber would receive it.
#[derive(Debug, Object)]
pub struct EmailPreview {
    pub kind: EmailKindDto,
    /// The email's subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

pub struct EmailsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Emails")]
impl EmailsApi {
    /// The tenant's emails, oldest first: status, attempts and last error.
    #[oai(path = "/emails", method = "get", operation_id = "listEmails")]
    #[allow(clippy::too_many_arguments)]
    async fn list_emails(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// `pending`, `sent`, `failed` or `cancelled`.
        #[oai(validator(max_length = 20))]
        status: Query<Option<String>>,
        /// `welcome`, `reminder`, `expired`, `prescriber_digest`, `invitation` or `password_reset`.
        #[oai(validator(max_length = 20))]
        kind: Query<Option<String>>,
        voucher_id: Query<Option<Uuid>>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<EmailPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_EMAILS)?;
        let page = page_request(limit.0, cursor.0)?;
        let filter = EmailFilter {
            status: status
                .0
                .as_deref()
                .map(|s| {
                    s.parse::<EmailStatus>().map_err(|_| {
                        passerelle_core::Error::invalid(
                            "status",
                            "one of: pending, sent, failed, cancelled",
                        )
                    })
                })
                .transpose()?,
            kind: kind
                .0
                .as_deref()
                .map(|k| email_kind("kind", k))
                .transpose()?,
            voucher_id: voucher_id.0,
            newest_first: false,
        };
        let page = outbox::list(&state.db, tenant_id, &filter, page)
            .await?
            .map(EmailView::from);
        Ok(Json(EmailPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// One email.
    #[oai(path = "/emails/:email_id", method = "get", operation_id = "getEmail")]
    async fn get_email(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        email_id: Path<Uuid>,
    ) -> Result<Json<EmailView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_EMAIL)?;
        let message = outbox::get(&state.db, tenant_id, email_id.0).await?;
        Ok(Json(message.into()))
    }

    /// Sends a failed or cancelled email again (409 otherwise), typically after the address was
    /// corrected. The address of its last attempt leaves the suppression list.
    #[oai(
        path = "/emails/:email_id/retry",
        method = "post",
        operation_id = "retryEmail"
    )]
    async fn retry_email(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        email_id: Path<Uuid>,
    ) -> Result<Json<EmailView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RETRY_EMAIL)?;
        let message = outbox::retry(&state.db, tenant_id, auth.actor(), email_id.0).await?;
        Ok(Json(message.into()))
    }

    /// Each kind of email with sample data, branded with the tenant and a scheme (the given one,
    /// or the first active one).
    #[oai(
        path = "/emails/preview/:kind",
        method = "get",
        operation_id = "previewEmail"
    )]
    async fn preview_email(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// `welcome`, `reminder`, `expired`, `prescriber_digest`, `invitation` or `password_reset`.
        #[oai(validator(max_length = 20))]
        kind: Path<String>,
        scheme_id: Query<Option<Uuid>>,
    ) -> Result<Json<EmailPreview>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::PREVIEW_EMAIL)?;
        let parsed = email_kind("kind", &kind.0)?;
        let rendered =
            render::preview_for(&state.db, tenant_id, parsed, scheme_id.0, &state.links).await?;
        Ok(Json(EmailPreview {
            kind: parsed.into(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        }))
    }
}
