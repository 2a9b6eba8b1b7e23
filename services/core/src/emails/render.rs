//! Turns an outbox row into a message: loads what the templates need at send time (so a corrected
//! address or a withdrawn consent counts), decides whether the message should still go, and renders
//! the French subject, plain text and HTML from the template files in `templates/emails/`.

use std::sync::OnceLock;

use chrono::NaiveDate;
use minijinja::Environment;
use serde::Serialize;
use uuid::Uuid;

use super::french;
use super::outbox::{Kind, OutboxMessage};
use crate::Error;
use crate::delivery::portfolio::link::{self, HolderLink, LinkKey};
use crate::storage::Tx;
use crate::tenancy::tenants::Tenant;
use crate::vouchers::VoucherStatus;

/// Where the links in a message point: the public address of the service.
#[derive(Debug, Clone)]
pub struct Links {
    pub public_base_url: String,
    /// What the holders' private links derive their codes from.
    pub portfolio_key: LinkKey,
}

impl Links {
    pub fn new(public_base_url: &str, portfolio_link_key: &str) -> Self {
        Self {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            portfolio_key: LinkKey::new(portfolio_link_key),
        }
    }

    /// The holder's private page, as the letter and the welcome email give it.
    pub fn holder(&self, link: &HolderLink) -> String {
        format!(
            "{}{}",
            self.public_base_url.trim_end_matches('/'),
            link.path()
        )
    }

    /// Where the holder types the code printed on their letter.
    pub fn holder_entry(&self, link: &HolderLink) -> String {
        format!(
            "{}{}",
            self.public_base_url.trim_end_matches('/'),
            link.entry_path()
        )
    }

    pub fn unsubscribe(&self, tenant_id: Uuid, key: Uuid) -> String {
        format!(
            "{}/v1/public/unsubscribe/{}/{}",
            self.public_base_url.trim_end_matches('/'),
            tenant_id.simple(),
            key.simple()
        )
    }

    /// The portal page where a link's holder chooses a password.
    pub fn account_link(&self, tenant_slug: &str, secret: &str) -> String {
        format!(
            "{}/portail/{tenant_slug}/mot-de-passe/{secret}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    pub fn sign_in(&self, tenant_slug: &str) -> String {
        format!(
            "{}/portail/{tenant_slug}/connexion",
            self.public_base_url.trim_end_matches('/')
        )
    }

    /// A scheme's public awareness kit, where the request form is.
    pub fn kit(&self, tenant_slug: &str, scheme_code: &str) -> String {
        format!(
            "{}/territoires/{tenant_slug}/{scheme_code}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    /// A statement's page in the portal, behind sign-in.
    pub fn statement(&self, tenant_slug: &str, statement_id: Uuid) -> String {
        format!(
            "{}/portail/{tenant_slug}/releve/{statement_id}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    /// The territory's logo at its public address, for an email: a PNG only, as several mail
    /// clients show no SVG (the name stands alone then).
    pub fn email_logo(&self, tenant: &Tenant) -> Option<String> {
        if tenant.logo_format != Some(crate::tenancy::branding::LogoFormat::Png) {
            return None;
        }
        Some(format!(
            "{}{}",
            self.public_base_url.trim_end_matches('/'),
            tenant.logo_path()?
        ))
    }

    /// The scheme's public page, where a person finds the places taking part near them.
    pub fn places(&self, tenant_slug: &str, scheme_code: &str) -> String {
        format!(
            "{}/territoires/{tenant_slug}/{scheme_code}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    pub fn balance(&self) -> String {
        format!(
            "{}/v1/public/balance-page",
            self.public_base_url.trim_end_matches('/')
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A message ready for the transport.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub to: String,
    pub sender_name: String,
    pub sender_email: String,
    pub rendered: Rendered,
    /// Present on messages to holders (RFC 8058 one-click), absent on digests to professionals.
    pub unsubscribe_url: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Preparation {
    Ready(Box<Prepared>),
    /// Nothing to send any more, for this reason.
    Cancel(String),
    /// Cannot be sent until someone fixes the data, for this reason.
    Fail(String),
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "statement_approved.subject.txt",
        include_str!("../../templates/emails/statement_approved.subject.txt"),
    ),
    (
        "statement_approved.txt",
        include_str!("../../templates/emails/statement_approved.txt"),
    ),
    (
        "statement_approved.html",
        include_str!("../../templates/emails/statement_approved.html"),
    ),
    (
        "statement_paid.subject.txt",
        include_str!("../../templates/emails/statement_paid.subject.txt"),
    ),
    (
        "statement_paid.txt",
        include_str!("../../templates/emails/statement_paid.txt"),
    ),
    (
        "statement_paid.html",
        include_str!("../../templates/emails/statement_paid.html"),
    ),
    (
        "request_received.subject.txt",
        include_str!("../../templates/emails/request_received.subject.txt"),
    ),
    (
        "request_received.txt",
        include_str!("../../templates/emails/request_received.txt"),
    ),
    (
        "request_received.html",
        include_str!("../../templates/emails/request_received.html"),
    ),
    (
        "request_declined.subject.txt",
        include_str!("../../templates/emails/request_declined.subject.txt"),
    ),
    (
        "request_declined.txt",
        include_str!("../../templates/emails/request_declined.txt"),
    ),
    (
        "request_declined.html",
        include_str!("../../templates/emails/request_declined.html"),
    ),
    (
        "layout.html",
        include_str!("../../templates/emails/layout.html"),
    ),
    (
        "_voucher.html",
        include_str!("../../templates/emails/_voucher.html"),
    ),
    (
        "_portfolio.html",
        include_str!("../../templates/emails/_portfolio.html"),
    ),
    (
        "_portfolio.txt",
        include_str!("../../templates/emails/_portfolio.txt"),
    ),
    (
        "_epns.html",
        include_str!("../../templates/emails/_epns.html"),
    ),
    (
        "_epns.txt",
        include_str!("../../templates/emails/_epns.txt"),
    ),
    (
        "_footer.txt",
        include_str!("../../templates/emails/_footer.txt"),
    ),
    (
        "welcome.subject.txt",
        include_str!("../../templates/emails/welcome.subject.txt"),
    ),
    (
        "welcome.txt",
        include_str!("../../templates/emails/welcome.txt"),
    ),
    (
        "welcome.html",
        include_str!("../../templates/emails/welcome.html"),
    ),
    (
        "reminder.subject.txt",
        include_str!("../../templates/emails/reminder.subject.txt"),
    ),
    (
        "reminder.txt",
        include_str!("../../templates/emails/reminder.txt"),
    ),
    (
        "reminder.html",
        include_str!("../../templates/emails/reminder.html"),
    ),
    (
        "expired.subject.txt",
        include_str!("../../templates/emails/expired.subject.txt"),
    ),
    (
        "expired.txt",
        include_str!("../../templates/emails/expired.txt"),
    ),
    (
        "expired.html",
        include_str!("../../templates/emails/expired.html"),
    ),
    (
        "prescriber_digest.subject.txt",
        include_str!("../../templates/emails/prescriber_digest.subject.txt"),
    ),
    (
        "prescriber_digest.txt",
        include_str!("../../templates/emails/prescriber_digest.txt"),
    ),
    (
        "prescriber_digest.html",
        include_str!("../../templates/emails/prescriber_digest.html"),
    ),
    (
        "invitation.subject.txt",
        include_str!("../../templates/emails/invitation.subject.txt"),
    ),
    (
        "invitation.txt",
        include_str!("../../templates/emails/invitation.txt"),
    ),
    (
        "invitation.html",
        include_str!("../../templates/emails/invitation.html"),
    ),
    (
        "password_reset.subject.txt",
        include_str!("../../templates/emails/password_reset.subject.txt"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/emails/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/emails/password_reset.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .build()
                .expect("a valid syntax"),
        );
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("email template {name} does not parse: {e}"));
        }
        env
    })
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EpnContext {
    pub name: String,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub commune: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DigestItem {
    pub reference: String,
    pub holder: String,
    pub hours_left: String,
    pub valid_until: String,
    pub issued_on: String,
}

/// A statement as the EPN's messages name it, amounts and dates in words.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StatementContext {
    pub reference: String,
    pub epn: String,
    pub month: String,
    pub total: String,
    pub line_count: i32,
    pub paid_on: String,
    pub bank_reference: String,
    /// The account paid, masked (country, check digits and last four).
    pub account: Option<String>,
}

/// Everything a template may use. Fields a kind does not need stay empty.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Context {
    /// The name the territory shows (`Tenant::shown_name`).
    pub tenant_name: String,
    /// The territory's logo, when it is a PNG: mail clients do not all show SVG.
    pub logo_url: Option<String>,
    pub scheme_name: String,
    pub first_name: String,
    pub reference: String,
    pub hours_left: String,
    pub hours_left_minutes: i32,
    pub valid_until: String,
    pub days_left: i64,
    pub epns: Vec<EpnContext>,
    pub balance_url: String,
    pub unsubscribe_url: Option<String>,
    pub prescriber_name: String,
    pub prescriber_phone: Option<String>,
    pub scheme_names: String,
    pub digest_date: String,
    pub items: Vec<DigestItem>,
    pub expiring: Vec<DigestItem>,
    pub not_registered: Vec<DigestItem>,
    /// An account email: the user's name and role, the single-use link and when it expires.
    pub display_name: String,
    pub role_label: String,
    pub link_url: String,
    pub link_expires: String,
    pub sign_in_url: String,
    /// A request from the public form: the EPN the person chose, and why it was declined.
    pub epn: Option<EpnContext>,
    pub reason: String,
    /// A message to an EPN about its statement.
    pub statement: Option<StatementContext>,
    /// The holder's private page (their portfolio and balance), and the code printed on their
    /// letter with where to type it.
    pub portfolio_url: Option<String>,
    pub portfolio_entry_url: Option<String>,
    pub portfolio_code: Option<String>,
    /// What the holder pays toward the voucher, when anything ("15,00 €").
    pub fee: Option<String>,
}

pub fn render(kind: Kind, context: &Context) -> Result<Rendered, minijinja::Error> {
    let env = environment();
    let name = kind.as_str();
    let context = minijinja::Value::from(minijinja::value::Serde(context));
    let subject = env
        .get_template(&format!("{name}.subject.txt"))?
        .render(&context)?;
    Ok(Rendered {
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: env.get_template(&format!("{name}.txt"))?.render(&context)?,
        html: env
            .get_template(&format!("{name}.html"))?
            .render(&context)?,
    })
}

fn template_error(err: minijinja::Error) -> Error {
    Error::Internal(format!("an email template failed to render: {err:#}"))
}

/// A message of each kind with made-up data, for a tenant admin to preview the wording.
pub fn preview(
    kind: Kind,
    tenant: &Tenant,
    scheme_name: &str,
    links: &Links,
    today: NaiveDate,
) -> Result<Rendered, Error> {
    let valid_until = today + chrono::Days::new(30);
    let sample_item = |reference: &str, holder: &str| DigestItem {
        reference: reference.into(),
        holder: holder.into(),
        hours_left: french::duration(900),
        valid_until: french::long_date(valid_until),
        issued_on: french::long_date(today - chrono::Days::new(335)),
    };
    let expiring = vec![sample_item(
        &format!("{}-7K3F-9QX2-M", tenant.reference_prefix),
        "Marie Dupont",
    )];
    let not_registered = vec![sample_item(
        &format!("{}-4HJD-2WXP-R", tenant.reference_prefix),
        "Jean Martin",
    )];
    let example_link = HolderLink::example(&tenant.slug, &links.portfolio_key);
    let mut context = Context {
        tenant_name: tenant.shown_name().to_owned(),
        logo_url: links.email_logo(tenant),
        scheme_name: scheme_name.into(),
        first_name: "Marie".into(),
        reference: format!("{}-7K3F-9QX2-M", tenant.reference_prefix),
        hours_left: french::duration(900),
        hours_left_minutes: 900,
        valid_until: french::long_date(valid_until),
        days_left: 30,
        epns: vec![EpnContext {
            name: "Espace public numérique de démonstration".into(),
            address: Some("1 place de la Mairie".into()),
            postal_code: Some("46100".into()),
            commune: Some("Figeac".into()),
            phone: Some("05 65 00 00 00".into()),
        }],
        balance_url: links.balance(),
        unsubscribe_url: matches!(kind, Kind::Welcome | Kind::Reminder | Kind::Expired)
            .then(|| links.unsubscribe(tenant.id, Uuid::nil())),
        prescriber_name: "CCAS de démonstration".into(),
        prescriber_phone: Some("05 65 11 11 11".into()),
        scheme_names: scheme_name.into(),
        digest_date: french::long_date(today),
        items: expiring.iter().chain(&not_registered).cloned().collect(),
        expiring,
        not_registered,
        display_name: "Marie Dupont".into(),
        role_label: crate::tenancy::Role::Prescriber.title_fr().into(),
        link_url: links.account_link(&tenant.slug, "exemple-de-lien"),
        link_expires: french::long_date(today + chrono::Days::new(7)),
        sign_in_url: links.sign_in(&tenant.slug),
        epn: Some(EpnContext {
            name: "Espace public numérique de démonstration".into(),
            address: Some("1 place de la Mairie".into()),
            postal_code: Some("46100".into()),
            commune: Some("Figeac".into()),
            phone: Some("05 65 00 00 00".into()),
        }),
        reason: "Nos ateliers sont complets ce trimestre : le lieu le plus proche est la médiathèque de Capdenac.".into(),
        statement: Some(StatementContext {
            reference: format!("{}-REL-2026-10-0001", tenant.reference_prefix),
            epn: "Espace public numérique de démonstration".into(),
            month: "octobre 2026".into(),
            total: "1 240,00 €".into(),
            line_count: 62,
            paid_on: french::long_date(today),
            bank_reference: "VIR-2026-118".into(),
            account: Some("FR76…0189".into()),
        }),
        portfolio_url: Some(links.holder(&example_link)),
        portfolio_entry_url: Some(links.holder_entry(&example_link)),
        portfolio_code: Some(example_link.code.grouped()),
        fee: None,
    };
    if matches!(kind, Kind::Invitation | Kind::PasswordReset) {
        context.scheme_name = ACCOUNT_HEADER.into();
        context.unsubscribe_url = None;
    }
    if matches!(kind, Kind::StatementApproved | Kind::StatementPaid) {
        context.link_url = links.statement(&tenant.slug, Uuid::nil());
    }
    render(kind, &context).map_err(template_error)
}

#[derive(sqlx::FromRow)]
struct VoucherRow {
    beneficiary_id: Uuid,
    participation_fee_cents: i64,
    reference: String,
    status: VoucherStatus,
    minutes_left: i32,
    valid_until: NaiveDate,
    scheme_id: Uuid,
    scheme_name: String,
    first_name: Option<String>,
    email: Option<String>,
    email_consent: bool,
    erased: bool,
    suppressed: bool,
    commune_insee: Option<String>,
    prescriber_name: String,
    prescriber_phone: Option<String>,
}

/// Loads, checks and renders an outbox row, inside the sending transaction.
pub async fn prepare(
    tx: &mut Tx,
    tenant: &Tenant,
    message: &OutboxMessage,
    links: &Links,
    today: NaiveDate,
) -> Result<Preparation, Error> {
    match (message.kind, message.voucher_id, message.prescriber_id) {
        (Kind::PrescriberDigest, _, Some(prescriber_id)) => {
            prepare_digest(tx, tenant, message, prescriber_id, links).await
        }
        (kind @ (Kind::RequestReceived | Kind::RequestDeclined), _, _) => {
            match (
                message.accompaniment_request_id,
                message.recipient.as_deref(),
            ) {
                (Some(request_id), Some(address)) => {
                    prepare_request_message(tx, tenant, kind, request_id, address, links).await
                }
                _ => Ok(Preparation::Fail("malformed outbox row".into())),
            }
        }
        (kind @ (Kind::StatementApproved | Kind::StatementPaid), _, _) => {
            match message.statement_id {
                Some(statement_id) => {
                    prepare_statement_message(tx, tenant, kind, statement_id, links).await
                }
                None => Ok(Preparation::Fail("malformed outbox row".into())),
            }
        }
        (kind @ (Kind::Invitation | Kind::PasswordReset), _, _) => match message.user_id {
            Some(user_id) => prepare_account_message(tx, tenant, kind, user_id, links).await,
            None => Ok(Preparation::Fail("malformed outbox row".into())),
        },
        (kind, Some(voucher_id), _) if kind != Kind::PrescriberDigest => {
            prepare_holder_message(tx, tenant, message, kind, voucher_id, links, today).await
        }
        _ => Ok(Preparation::Fail("malformed outbox row".into())),
    }
}

/// Makes, in a transaction of its own, what a message points to and that must exist when it
/// arrives: the welcome email's private link to the holder's space. The sending transaction
/// commits after the mail server has taken the message; a holder who opens the link at once (or
/// a sending attempt that dies before its commit) must still find it.
pub async fn make_durable(
    db: &crate::Db,
    tenant: &Tenant,
    message_id: Uuid,
    links: &Links,
) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant.id).await?;
    let message = super::outbox::fetch(&mut tx, message_id).await?;
    let beneficiary_id: Option<Uuid> = match message {
        Some(OutboxMessage {
            kind: Kind::Welcome,
            voucher_id: Some(voucher_id),
            status: super::status::EmailStatus::Pending,
            ..
        }) => {
            // Only for a person the email will reach: `prepare` decides the rest.
            sqlx::query_scalar(
                "SELECT v.beneficiary_id FROM vouchers v
                   JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
                  WHERE v.tenant_id = $2 AND v.id = $1 AND b.email IS NOT NULL AND b.email_consent AND b.erased_at IS NULL",
            )
            .bind(voucher_id)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?
        }
        _ => None,
    };
    if let Some(beneficiary_id) = beneficiary_id {
        link::ensure(
            &mut tx,
            &links.portfolio_key,
            tenant,
            crate::audit::Actor::SYSTEM,
            beneficiary_id,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn prepare_holder_message(
    tx: &mut Tx,
    tenant: &Tenant,
    message: &OutboxMessage,
    kind: Kind,
    voucher_id: Uuid,
    links: &Links,
    today: NaiveDate,
) -> Result<Preparation, Error> {
    let Some(row) = sqlx::query_as::<_, VoucherRow>(
        "SELECT v.beneficiary_id, v.participation_fee_cents, v.reference, v.status, v.minutes_left, v.valid_until, v.scheme_id, s.name AS scheme_name,
                b.first_name, b.email, b.email_consent, b.erased_at IS NOT NULL AS erased, b.commune_insee,
                EXISTS (SELECT 1 FROM email_suppressions x WHERE x.tenant_id = b.tenant_id AND x.address = lower(b.email))
                    AS suppressed,
                p.name AS prescriber_name, p.contact_phone AS prescriber_phone
         FROM vouchers v
         JOIN schemes s ON s.tenant_id = v.tenant_id AND s.id = v.scheme_id
         JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
         JOIN prescribers p ON p.tenant_id = v.tenant_id AND p.id = v.prescriber_id
         WHERE v.tenant_id = $2 AND v.id = $1",
    )
    .bind(voucher_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(Preparation::Fail("the voucher no longer exists".into()));
    };
    let address = match (&row.email, row.email_consent, row.erased) {
        (_, _, true) => {
            return Ok(Preparation::Cancel("the holder's data was erased".into()));
        }
        (None, _, _) => {
            return Ok(Preparation::Cancel(
                "the holder has no email address".into(),
            ));
        }
        (Some(_), false, _) => {
            return Ok(Preparation::Cancel(
                "the holder has not consented to emails (or withdrew consent)".into(),
            ));
        }
        (Some(address), true, _) => address.clone(),
    };
    if row.suppressed {
        return Ok(Preparation::Cancel(
            "the address is on the suppression list after a permanent failure".into(),
        ));
    }
    let open = row.status.is_open();
    match kind {
        Kind::Reminder if !open || row.minutes_left == 0 || row.valid_until < today => {
            return Ok(Preparation::Cancel(format!(
                "no reminder for a voucher that is {} with {} minutes left",
                row.status, row.minutes_left
            )));
        }
        Kind::Welcome if row.status == VoucherStatus::Cancelled => {
            return Ok(Preparation::Cancel(
                "the voucher was cancelled before its welcome email left".into(),
            ));
        }
        _ => {}
    }
    let epns = nearby_epns(tx, row.scheme_id, row.commune_insee.as_deref()).await?;
    let unsubscribe_url = links.unsubscribe(tenant.id, message.unsubscribe_key);
    // The welcome email is the holder's first way in: it makes their private link when the
    // letter has not; later messages carry the link only while it works.
    let portfolio = match kind {
        Kind::Welcome => {
            link::ensure(
                tx,
                &links.portfolio_key,
                tenant,
                crate::audit::Actor::SYSTEM,
                row.beneficiary_id,
            )
            .await?
        }
        _ => link::current(tx, &links.portfolio_key, tenant, row.beneficiary_id).await?,
    };
    let context = Context {
        tenant_name: tenant.shown_name().to_owned(),
        logo_url: links.email_logo(tenant),
        scheme_name: row.scheme_name,
        first_name: row.first_name.unwrap_or_default(),
        reference: row.reference,
        hours_left: french::duration(row.minutes_left),
        hours_left_minutes: row.minutes_left,
        valid_until: french::long_date(row.valid_until),
        days_left: (row.valid_until - today).num_days(),
        epns,
        balance_url: links.balance(),
        unsubscribe_url: Some(unsubscribe_url.clone()),
        prescriber_name: row.prescriber_name,
        prescriber_phone: row.prescriber_phone,
        portfolio_url: portfolio.as_ref().map(|l| links.holder(l)),
        portfolio_entry_url: portfolio.as_ref().map(|l| links.holder_entry(l)),
        portfolio_code: portfolio.as_ref().map(|l| l.code.grouped()),
        fee: (row.participation_fee_cents > 0).then(|| french::euros(row.participation_fee_cents)),
        ..Context::default()
    };
    let rendered = render(kind, &context).map_err(template_error)?;
    Ok(Preparation::Ready(Box::new(Prepared {
        to: address,
        sender_name: tenant.sender_name.clone(),
        sender_email: tenant.sender_email.clone(),
        rendered,
        unsubscribe_url: Some(unsubscribe_url),
    })))
}

/// What the header of an account email names instead of a scheme.
const ACCOUNT_HEADER: &str = "Passerelle";

/// An invitation or a password-reset email: the link's secret is made now, in the sending
/// transaction, so that it exists only in the email.
async fn prepare_account_message(
    tx: &mut Tx,
    tenant: &Tenant,
    kind: Kind,
    user_id: Uuid,
    links: &Links,
) -> Result<Preparation, Error> {
    use crate::tenancy::account_links::{self, Purpose};
    let user: Option<(String, String, String, bool)> = sqlx::query_as(
        "SELECT email, display_name, role, disabled_at IS NOT NULL FROM users WHERE tenant_id = $2 AND id = $1",
    )
    .bind(user_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    let Some((address, display_name, role, disabled)) = user else {
        return Ok(Preparation::Fail("the user no longer exists".into()));
    };
    if disabled {
        return Ok(Preparation::Cancel("the user was disabled".into()));
    }
    if super::outbox::is_suppressed(tx, &address).await? {
        return Ok(Preparation::Fail(
            "the user's address is on the suppression list after a permanent failure".into(),
        ));
    }
    let purpose = match kind {
        Kind::Invitation => Purpose::Invitation,
        _ => Purpose::PasswordReset,
    };
    let (secret, expires_at) = account_links::create(tx, tenant.id, user_id, purpose).await?;
    let expires = expires_at.with_timezone(&tenant.tz());
    let context = Context {
        tenant_name: tenant.shown_name().to_owned(),
        logo_url: links.email_logo(tenant),
        scheme_name: ACCOUNT_HEADER.into(),
        display_name,
        role_label: role
            .parse::<crate::tenancy::Role>()
            .map(crate::tenancy::Role::title_fr)
            .unwrap_or_default()
            .into(),
        link_url: links.account_link(&tenant.slug, &secret),
        link_expires: format!(
            "{} à {}",
            french::long_date(expires.date_naive()),
            expires.format("%H h %M")
        ),
        sign_in_url: links.sign_in(&tenant.slug),
        ..Context::default()
    };
    let rendered = render(kind, &context).map_err(template_error)?;
    Ok(Preparation::Ready(Box::new(Prepared {
        to: address,
        sender_name: tenant.sender_name.clone(),
        sender_email: tenant.sender_email.clone(),
        rendered,
        unsubscribe_url: None,
    })))
}

/// A message to the person who filled the public request form, at the address they gave (kept on
/// the message: a decided request's details are wiped).
async fn prepare_request_message(
    tx: &mut Tx,
    tenant: &Tenant,
    kind: Kind,
    request_id: Uuid,
    address: &str,
    links: &Links,
) -> Result<Preparation, Error> {
    #[derive(sqlx::FromRow)]
    struct RequestRow {
        first_name: Option<String>,
        decision_reason: Option<String>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        scheme_name: String,
        scheme_code: String,
        #[sqlx(flatten)]
        epn: EpnContext,
    }
    let Some(row) = sqlx::query_as::<_, RequestRow>(
        "SELECT r.first_name, r.decision_reason, r.expires_at, s.name AS scheme_name, s.code AS scheme_code,
                e.name, e.address, e.postal_code, e.commune, e.phone
           FROM accompaniment_requests r
           JOIN schemes s ON s.tenant_id = r.tenant_id AND s.id = r.scheme_id
           JOIN epns e ON e.tenant_id = r.tenant_id AND e.id = r.epn_id
          WHERE r.tenant_id = $2 AND r.id = $1",
    )
    .bind(request_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(Preparation::Fail("the request no longer exists".into()));
    };
    if super::outbox::is_suppressed(tx, address).await? {
        return Ok(Preparation::Cancel(
            "the address is on the suppression list after a permanent failure".into(),
        ));
    }
    let context = Context {
        tenant_name: tenant.shown_name().to_owned(),
        logo_url: links.email_logo(tenant),
        scheme_name: row.scheme_name,
        first_name: row.first_name.unwrap_or_default(),
        valid_until: row
            .expires_at
            .map(|at| french::long_date(at.with_timezone(&tenant.tz()).date_naive()))
            .unwrap_or_default(),
        reason: row.decision_reason.unwrap_or_default(),
        link_url: links.kit(&tenant.slug, &row.scheme_code),
        epn: Some(row.epn),
        ..Context::default()
    };
    let rendered = render(kind, &context).map_err(template_error)?;
    Ok(Preparation::Ready(Box::new(Prepared {
        to: address.to_owned(),
        sender_name: tenant.sender_name.clone(),
        sender_email: tenant.sender_email.clone(),
        rendered,
        unsubscribe_url: None,
    })))
}

/// A message to the EPN's contact (the first address of the EPN, read now) about its statement.
async fn prepare_statement_message(
    tx: &mut Tx,
    tenant: &Tenant,
    kind: Kind,
    statement_id: Uuid,
    links: &Links,
) -> Result<Preparation, Error> {
    let statement = match crate::reimbursements::fetch(tx, statement_id).await {
        Ok(statement) => statement,
        Err(Error::NotFound(_)) => {
            return Ok(Preparation::Fail("the statement no longer exists".into()));
        }
        Err(e) => return Err(e),
    };
    let (emails, iban): (Vec<String>, Option<String>) =
        sqlx::query_as("SELECT emails, iban FROM epns WHERE tenant_id = $2 AND id = $1")
            .bind(statement.epn_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut **tx)
            .await?;
    let Some(address) = emails.into_iter().find(|a| !a.trim().is_empty()) else {
        return Ok(Preparation::Cancel(
            "the EPN has no contact address; its statements are in its portal".into(),
        ));
    };
    if super::outbox::is_suppressed(tx, &address).await? {
        return Ok(Preparation::Cancel(
            "the EPN's address is on the suppression list after a permanent failure".into(),
        ));
    }
    let context = Context {
        tenant_name: tenant.shown_name().to_owned(),
        logo_url: links.email_logo(tenant),
        scheme_name: statement.scheme_name.clone(),
        link_url: links.statement(&tenant.slug, statement.id),
        statement: Some(StatementContext {
            reference: statement.reference,
            epn: statement.epn_name,
            month: french::month_year(statement.month),
            total: format!(
                "{} €",
                crate::reimbursements::export::euros(statement.total_cents)
            ),
            line_count: statement.line_count,
            paid_on: statement.paid_on.map(french::long_date).unwrap_or_default(),
            bank_reference: statement.bank_reference.unwrap_or_default(),
            account: iban.as_deref().map(crate::epns::mask_iban),
        }),
        ..Context::default()
    };
    let rendered = render(kind, &context).map_err(template_error)?;
    Ok(Preparation::Ready(Box::new(Prepared {
        to: address,
        sender_name: tenant.sender_name.clone(),
        sender_email: tenant.sender_email.clone(),
        rendered,
        unsubscribe_url: None,
    })))
}

/// Participating EPNs, those of the holder's commune first, then of the same département.
async fn nearby_epns(
    tx: &mut Tx,
    scheme_id: Uuid,
    commune_insee: Option<&str>,
) -> Result<Vec<EpnContext>, Error> {
    Ok(sqlx::query_as(
        "SELECT e.name, e.address, e.postal_code, e.commune, e.phone
         FROM epns e JOIN epn_schemes es ON es.tenant_id = e.tenant_id AND es.epn_id = e.id
         WHERE e.tenant_id = $3 AND es.scheme_id = $1
         ORDER BY (e.commune_insee IS NOT DISTINCT FROM $2) DESC,
                  (left(e.commune_insee, 2) IS NOT DISTINCT FROM left($2, 2)) DESC, e.name
         LIMIT 3",
    )
    .bind(scheme_id)
    .bind(commune_insee)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    reference: String,
    first_name: Option<String>,
    last_name: Option<String>,
    reason: String,
    minutes_left: i32,
    valid_until: NaiveDate,
    issued_on: NaiveDate,
    scheme_name: String,
}

async fn prepare_digest(
    tx: &mut Tx,
    tenant: &Tenant,
    message: &OutboxMessage,
    prescriber_id: Uuid,
    links: &Links,
) -> Result<Preparation, Error> {
    let (prescriber_name, contact_email): (String, Option<String>) = sqlx::query_as(
        "SELECT name, contact_email FROM prescribers WHERE tenant_id = $2 AND id = $1",
    )
    .bind(prescriber_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?;
    let Some(address) = contact_email.filter(|a| !a.trim().is_empty()) else {
        return Ok(Preparation::Fail(
            "the prescriber has no contact email: set one, then retry this message".into(),
        ));
    };
    if super::outbox::is_suppressed(tx, &address).await? {
        return Ok(Preparation::Fail(
            "the prescriber's address is on the suppression list after a permanent failure".into(),
        ));
    }
    let alerts: Vec<AlertRow> = sqlx::query_as(
        "SELECT v.reference, b.first_name, b.last_name, a.reason, v.minutes_left, v.valid_until, v.issued_on,
                s.name AS scheme_name
         FROM prescriber_alerts a
         JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
         JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
         JOIN schemes s ON s.tenant_id = v.tenant_id AND s.id = v.scheme_id
         WHERE a.tenant_id = $2 AND a.digest_id = $1
         ORDER BY a.reason, v.valid_until, v.reference",
    )
    .bind(message.id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    if alerts.is_empty() {
        return Ok(Preparation::Cancel("no voucher left to list".into()));
    }
    let mut scheme_names: Vec<String> = alerts.iter().map(|a| a.scheme_name.clone()).collect();
    scheme_names.sort();
    scheme_names.dedup();
    let item = |a: &AlertRow| DigestItem {
        reference: a.reference.clone(),
        holder: match (&a.first_name, &a.last_name) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            _ => "(données effacées)".into(),
        },
        hours_left: french::duration(a.minutes_left),
        valid_until: french::long_date(a.valid_until),
        issued_on: french::long_date(a.issued_on),
    };
    let expiring: Vec<DigestItem> = alerts
        .iter()
        .filter(|a| a.reason == "expiring")
        .map(item)
        .collect();
    let not_registered: Vec<DigestItem> = alerts
        .iter()
        .filter(|a| a.reason == "not_registered")
        .map(item)
        .collect();
    let context = Context {
        tenant_name: tenant.shown_name().to_owned(),
        logo_url: links.email_logo(tenant),
        scheme_name: scheme_names.join(", "),
        scheme_names: scheme_names.join(", "),
        prescriber_name,
        digest_date: message.digest_on.map(french::long_date).unwrap_or_default(),
        items: alerts.iter().map(item).collect(),
        expiring,
        not_registered,
        ..Context::default()
    };
    let rendered = render(Kind::PrescriberDigest, &context).map_err(template_error)?;
    Ok(Preparation::Ready(Box::new(Prepared {
        to: address,
        sender_name: tenant.sender_name.clone(),
        sender_email: tenant.sender_email.clone(),
        rendered,
        unsubscribe_url: None,
    })))
}

/// The preview of a kind for a tenant, branded with the given scheme or its first active one.
pub async fn preview_for(
    db: &crate::Db,
    tenant_id: Uuid,
    kind: Kind,
    scheme_id: Option<Uuid>,
    links: &Links,
) -> Result<Rendered, Error> {
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let name: Option<String> = sqlx::query_scalar(
        "SELECT name FROM schemes WHERE tenant_id = $2 AND ($1::uuid IS NULL OR id = $1)
         ORDER BY (status = 'active') DESC, created_at LIMIT 1",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let name = match (name, scheme_id) {
        (Some(name), _) => name,
        (None, Some(_)) => return Err(Error::NotFound("scheme")),
        (None, None) => "Chèque numérique".into(),
    };
    preview(kind, &tenant, &name, links, tenant.today())
}
