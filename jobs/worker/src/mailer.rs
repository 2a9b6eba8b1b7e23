//! The email transport: SMTP through lettre's connection pool when `SMTP_URL` is set, otherwise
//! `.eml` files in `MAIL_DIR`, so that a fresh checkout shows its emails without a mail server.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{
    Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use passerelle_core::emails::Prepared;

#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid SMTP_URL: {0}")]
    Url(String),
    #[error("cannot create the mail folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
}

/// How a send ended, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later: 4xx, connection refused or reset, timeout, TLS trouble.
    Transient(String),
    /// The server refused for good (5xx), or the message cannot be built.
    Permanent(String),
}

impl Mailer {
    /// `smtp://` (plain), `smtps://` (TLS) or `smtp+starttls://` (STARTTLS required).
    pub fn new(
        smtp_url: Option<&str>,
        mail_dir: PathBuf,
        pool_size: u32,
    ) -> Result<Self, MailerError> {
        match smtp_url {
            Some(url) => {
                let url = match url.strip_prefix("smtp+starttls://") {
                    Some(rest) if rest.contains('?') => format!("smtp://{rest}&tls=required"),
                    Some(rest) => format!("smtp://{rest}?tls=required"),
                    None => url.to_owned(),
                };
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(|e| MailerError::Url(e.to_string()))?
                    .timeout(Some(Duration::from_secs(30)))
                    .pool_config(
                        PoolConfig::new()
                            .max_size(pool_size)
                            .idle_timeout(Duration::from_secs(60)),
                    )
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => {
                std::fs::create_dir_all(&mail_dir)
                    .map_err(|e| MailerError::Folder(mail_dir.clone(), e))?;
                Ok(Self::Files(AsyncFileTransport::new(&mail_dir), mail_dir))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "SMTP".into(),
            Mailer::Files(_, dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Sends one message; returns the server's answer (or the file's id).
    pub async fn send(&self, message: Message) -> Result<String, SendError> {
        match self {
            Mailer::Smtp(transport) => match transport.send(message).await {
                Ok(response) => Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                // 4xx, and everything that is not an answer from the server (connection refused,
                // reset, timeout, TLS): the server may be back later.
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
            Mailer::Files(transport, _) => transport
                .send(message)
                .await
                .map(|id| format!("written as {id}.eml"))
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}

/// The stable Message-ID of an outbox row: a duplicate delivery, should one ever happen, is
/// recognisable by the receiving side.
pub fn message_id(outbox_id: uuid::Uuid, sender_email: &str) -> String {
    let domain = sender_email
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("passerelle.invalid");
    format!("<{}@{domain}>", outbox_id.simple())
}

/// Builds the MIME message: plain text and HTML alternatives, with RFC 8058 one-click unsubscribe
/// headers on messages to holders.
pub fn build(prepared: &Prepared, message_id: &str) -> Result<Message, SendError> {
    let sender: Address = prepared
        .sender_email
        .parse()
        .map_err(|e| SendError::Permanent(format!("invalid sender address: {e}")))?;
    let from = Mailbox::new(Some(prepared.sender_name.clone()), sender);
    let to: Mailbox = prepared
        .to
        .parse()
        .map_err(|e| SendError::Permanent(format!("invalid recipient address: {e}")))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(prepared.rendered.subject.clone())
        .message_id(Some(message_id.to_owned()))
        .date_now();
    if let Some(url) = &prepared.unsubscribe_url {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            prepared.rendered.text.clone(),
            prepared.rendered.html.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}
