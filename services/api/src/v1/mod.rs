//! Version 1 of the HTTP API: one file per resource.

/// The document's copy of a domain enum (`DomainEnum` in core): a poem-openapi `Enum` with the
/// same variants, converted both ways variant by variant, so that a value added on one side does
/// not compile until the other has it. Attributes (its doc comment, its name in the document) are
/// passed through.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* pub enum $dto:ident mirrors $domain:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
        $(#[$meta])*
        pub enum $dto {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$domain> for $dto {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => Self::$variant),+
                }
            }
        }

        impl From<$dto> for $domain {
            fn from(value: $dto) -> Self {
                match value {
                    $($dto::$variant => Self::$variant),+
                }
            }
        }
    };
}

pub mod accompaniment;
pub mod archives;
pub mod attendance;
pub mod audit;
pub mod bank_changes;
pub mod beneficiaries;
pub mod branding;
pub mod credentials;
pub mod emails;
pub mod epns;
pub mod examples;
pub mod funders;
pub mod identity_provider;
pub mod imports;
pub mod me;
pub mod orientation;
pub mod portfolio;
pub mod prescribers;
pub mod projects;
pub mod public;
pub mod registrations;
pub mod schemas;
pub mod schemes;
pub mod sessions;
pub mod statements;
pub mod statistics;
pub mod tenants;
pub mod users;
pub mod vouchers;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum Tag {
    /// The caller's own identity.
    Me,
    /// Territories using the platform (platform admin only).
    Tenants,
    /// Users of a tenant and their API tokens (tenant admin only).
    Users,
    /// Schemes, their versioned rules and module catalogues.
    Schemes,
    /// Prescriber organisations and their voucher allocations.
    Prescribers,
    /// People holding vouchers.
    Beneficiaries,
    /// Nominative vouchers.
    Vouchers,
    /// Public internet spaces: records, open-data import, offers, bank details.
    Epns,
    /// Imports running in the background: their progress and their report.
    Imports,
    /// Registration at an EPN, sessions and attendance.
    Delivery,
    /// The append-only record of changes.
    Audit,
    /// Emails to holders and prescribers: the outbox, retries and previews (tenant admin).
    Emails,
    /// Monthly reimbursements owed to EPNs: statements, approval, payment, CSV and SEPA exports.
    Reimbursements,
    /// Statistics for funders: exports per scheme and period, Parquet and CSV, small counts blanked
    /// in published files.
    Statistics,
    /// A territory's archive: every table as open files, to take away or restore elsewhere.
    Archives,
    /// How a territory shows itself: the name on its pages, letters and emails, their sender, its
    /// logo (tenant admin).
    Branding,
    /// Without a token: the holder's balance check, e-portfolio and email unsubscribe, as JSON and
    /// as French pages.
    Public,
}

pub type Apis = (
    me::MeApi,
    tenants::TenantsApi,
    users::UsersApi,
    schemes::SchemesApi,
    prescribers::PrescribersApi,
    beneficiaries::BeneficiariesApi,
    vouchers::VouchersApi,
    epns::EpnsApi,
    registrations::RegistrationsApi,
    sessions::SessionsApi,
    attendance::AttendanceApi,
    portfolio::PortfolioApi,
    accompaniment::AccompanimentApi,
    projects::ProjectsApi,
    audit::AuditApi,
    (
        imports::ImportsApi,
        bank_changes::BankChangesApi,
        emails::EmailsApi,
        orientation::OrientationApi,
        statements::StatementsApi,
        statistics::StatisticsApi,
        archives::ArchivesApi,
        branding::BrandingApi,
        identity_provider::IdentityProviderApi,
        public::PublicApi,
        crate::holder::balance::BalancePages,
        crate::holder::portfolio::PortfolioPage,
        crate::holder::portfolio::HolderPages,
        crate::holder::unsubscribe::UnsubscribePages,
        (
            credentials::CredentialsApi,
            crate::holder::credentials::HolderCredentialPages,
            funders::FundersApi,
        ),
    ),
);

pub fn apis() -> Apis {
    (
        me::MeApi,
        tenants::TenantsApi,
        users::UsersApi,
        schemes::SchemesApi,
        prescribers::PrescribersApi,
        beneficiaries::BeneficiariesApi,
        vouchers::VouchersApi,
        epns::EpnsApi,
        registrations::RegistrationsApi,
        sessions::SessionsApi,
        attendance::AttendanceApi,
        portfolio::PortfolioApi,
        accompaniment::AccompanimentApi,
        projects::ProjectsApi,
        audit::AuditApi,
        (
            imports::ImportsApi,
            bank_changes::BankChangesApi,
            emails::EmailsApi,
            orientation::OrientationApi,
            statements::StatementsApi,
            statistics::StatisticsApi,
            archives::ArchivesApi,
            branding::BrandingApi,
            identity_provider::IdentityProviderApi,
            public::PublicApi,
            crate::holder::balance::BalancePages,
            crate::holder::portfolio::PortfolioPage,
            crate::holder::portfolio::HolderPages,
            crate::holder::unsubscribe::UnsubscribePages,
            (
                credentials::CredentialsApi,
                crate::holder::credentials::HolderCredentialPages,
                funders::FundersApi,
            ),
        ),
    )
}
