//! The domain's business refusals: a request that is well formed but that the rules or the data
//! refuse. Each refusal has a stable kind (its problem type in the API, `/problems/<kind>`), an
//! English sentence for API integrators (`Display`) and a French one for the people who use the
//! portal and the public pages (`french.rs`). Both are exhaustive matches: a new refusal cannot
//! be added without its wording.

mod french;

use chrono::NaiveDate;

use crate::archive::requests::ArchiveStatus;
use crate::delivery::{ProjectStatus, RequestStatus, SessionStatus};
use crate::emails::status::EmailStatus;
use crate::reimbursements::StatementStatus;
use crate::schemes::SchemeStatus;
use crate::statistics::ExportStatus;
use crate::vouchers::VoucherStatus;
use uuid::Uuid;

/// A business refusal, with the facts its wording needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(RefusalKind),
    derive(strum::EnumIter, strum::IntoStaticStr, strum::EnumString, Hash),
    strum(serialize_all = "kebab-case")
)]
pub enum Refusal {
    // Tenants, users and accounts.
    #[error("a tenant with this slug already exists")]
    TenantSlugTaken,
    #[error("a tenant of this kind with this INSEE code already exists")]
    TenantTerritoryTaken,
    #[error("another tenant already uses this voucher reference prefix: choose another")]
    ReferencePrefixTaken,
    #[error("a user with this email already exists in this tenant")]
    UserEmailTaken,
    #[error("this user is disabled")]
    UserDisabled,
    #[error("this is the tenant's last active tenant admin: make another user tenant admin first")]
    LastTenantAdmin,
    #[error("another EPN already has this source and id")]
    EpnSourceTaken,

    // Schemes, their rules and modules.
    #[error("a scheme with this code already exists")]
    SchemeCodeTaken,
    #[error("a version of the rules already starts on this date")]
    RulesDateTaken,
    #[error("a module with this number already exists in this scheme")]
    ModuleNumberTaken,

    // Funders and the split of a scheme between them.
    #[error("a funder with this name already exists in this tenant")]
    FunderNameTaken,
    #[error("a version of this scheme's funding already starts on this date")]
    FundingDateTaken,
    #[error(
        "modules {numbers:?} cannot leave the catalogue: EPNs offer them, vouchers chose them or sessions were planned on them"
    )]
    ModulesInUse { numbers: Vec<i32> },
    #[error("this scheme is closed: its rules can no longer change")]
    SchemeClosed,
    #[error("a {from} scheme cannot become {to} (draft → active → closed)")]
    SchemeStatusChange {
        from: SchemeStatus,
        to: SchemeStatus,
    },
    #[error("this scheme has no rules in force on {on}")]
    NoRulesInForce { on: NaiveDate },
    #[error("this scheme is {status}: vouchers are issued only from active schemes")]
    SchemeNotActive { status: SchemeStatus },
    #[error("this scheme's vouchers stopped being valid on {valid_until}")]
    SchemeValidityEnded { valid_until: NaiveDate },
    #[error("this scheme offers no personalised accompaniment")]
    NoAccompaniment,
    #[error("this scheme has no collective projects")]
    NoCollectiveProjects,
    #[error("this scheme does not deliver individual vouchers")]
    NoIndividualVouchers,

    // Prescribers, allocations and the budget.
    #[error("this prescriber already has an allocation for this scheme over part of this period")]
    AllocationOverlaps,
    #[error(
        "this prescriber's allocation for this scheme is used up: {issued} of {quantity} issued, 0 remaining"
    )]
    AllocationUsedUp { issued: i32, quantity: i32 },
    #[error("this prescriber has no allocation for this scheme on {on}: 0 remaining")]
    NoAllocation { on: NaiveDate },
    #[error(
        "the scheme's budget envelope is used up: {committed_cents} of {envelope_cents} cents committed"
    )]
    BudgetEnvelopeUsedUp {
        committed_cents: i64,
        envelope_cents: i64,
    },
    #[error(
        "only a tenant admin chooses the prescriber whose allocation funds a request from the public form (or designates one for the scheme)"
    )]
    FundingChosenByAdmin,

    // Beneficiaries and vouchers.
    #[error(
        "probable duplicate of beneficiary {existing} (same names, birth year and commune); use it, or send allow_duplicate: true if this is another person"
    )]
    ProbableDuplicate { existing: Uuid },
    #[error("this beneficiary's data was erased")]
    BeneficiaryErased,
    #[error("this reference is already used")]
    ReferenceTaken,
    #[error("this voucher is cancelled")]
    VoucherCancelled,
    #[error("this voucher expired on {valid_until}")]
    VoucherExpired { valid_until: NaiveDate },
    #[error("this voucher is {status}")]
    VoucherClosed { status: VoucherStatus },
    #[error("this voucher is already cancelled")]
    VoucherAlreadyCancelled,
    #[error(
        "a voucher can be cancelled only while none of its time is used (status {status}, {minutes_left} of {minutes_total} minutes left)"
    )]
    VoucherInUse {
        status: VoucherStatus,
        minutes_left: i32,
        minutes_total: i32,
    },

    // Registration at an EPN.
    #[error("this voucher is already registered at this EPN")]
    AlreadyRegisteredHere,
    #[error("this voucher is registered at another EPN: a tenant admin can move it")]
    RegisteredElsewhere,
    #[error("this voucher is already registered at an EPN")]
    AlreadyRegistered,
    #[error("this voucher is not registered at this EPN")]
    NotRegisteredHere,
    #[error("this voucher is not registered at any EPN")]
    NotRegistered,
    #[error("this EPN does not take part in this voucher's scheme")]
    EpnNotInScheme,
    #[error("no session remains on this voucher: its modules can no longer change")]
    NoSessionLeft,

    // Sessions and attendance.
    #[error("this session is cancelled")]
    SessionCancelled,
    #[error("this session is full ({capacity} places)")]
    SessionFull { capacity: i32 },
    #[error("a {from} session cannot become {to}")]
    SessionStatusChange {
        from: SessionStatus,
        to: SessionStatus,
    },
    #[error("attendance is recorded on this session: void it before cancelling")]
    SessionHasAttendance,
    #[error(
        "this session has not started yet (it starts on {}): attendance is recorded during or after it",
        starts_at.format("%Y-%m-%d %H:%M")
    )]
    SessionNotStarted { starts_at: chrono::NaiveDateTime },
    #[error("this session belongs to another scheme than the voucher")]
    SessionOfAnotherScheme,
    #[error("the session ({session_day}) is before the voucher was issued ({issued_on})")]
    SessionBeforeIssue {
        session_day: NaiveDate,
        issued_on: NaiveDate,
    },
    #[error(
        "the voucher was no longer valid on the session's date ({session_day}; last valid day {valid_until})"
    )]
    VoucherNotValidThatDay {
        session_day: NaiveDate,
        valid_until: NaiveDate,
    },
    #[error(
        "module {module} is not among the modules this holder chose: record it as off the path (`off_path`) to count it anyway"
    )]
    ModuleNotChosen { module: i32 },
    #[error(
        "the voucher has expired and the attendance of a session held on {session_day} could be recorded until {last_day}"
    )]
    RecordingPeriodOver {
        session_day: NaiveDate,
        last_day: NaiveDate,
    },
    #[error("this voucher's attendance is already recorded on this session")]
    AlreadyRecorded,
    #[error("insufficient balance: {minutes_left} minutes left, the session lasts {minutes}")]
    InsufficientBalance { minutes_left: i32, minutes: i32 },
    #[error("this attendance is already voided")]
    AttendanceAlreadyVoided,

    // Accompaniment and collective projects.
    #[error("this request is already {status}")]
    RequestAlreadyDecided { status: RequestStatus },
    #[error("this project is already {status}")]
    ProjectAlreadyDecided { status: ProjectStatus },
    #[error("attendance is recorded only for approved projects")]
    ProjectNotApproved,
    #[error("an orientation is recorded once the journey has begun (a session attended)")]
    JourneyNotStarted,

    // Credentials.
    #[error("this credential was already revoked on {on}")]
    CredentialAlreadyRevoked { on: NaiveDate },

    // Reimbursements and payments.
    #[error("statement {reference} is already {status}")]
    StatementAlreadyDecided {
        reference: String,
        status: StatementStatus,
    },
    #[error(
        "statement {reference} does not add up: its total is {total_cents} cents over {line_count} lines, its lines add up to {sum_cents} cents over {count}; run the month again"
    )]
    StatementDoesNotAddUp {
        reference: String,
        total_cents: i64,
        line_count: i32,
        sum_cents: i64,
        count: i64,
    },
    #[error(
        "attendance changed since statement {reference} was computed ({drift} lines differ): run the month again, then approve"
    )]
    AttendanceChanged { reference: String, drift: i64 },
    #[error("statement {reference} is {status}: only an approved statement can be marked paid")]
    StatementNotApproved {
        reference: String,
        status: StatementStatus,
    },
    #[error(
        "the tenant's treasury account is not set or its IBAN is invalid: a tenant admin sets it first"
    )]
    TreasuryAccountMissing,
    #[error("no approved, unpaid statement with an amount to pay for {}", month.format("%m/%Y"))]
    NothingToPay { month: NaiveDate },
    #[error("no valid IBAN for: {}; set their bank details, then export again", epns.join(", "))]
    IbanMissing { epns: Vec<String> },
    #[error("this change of bank details is already {status}")]
    BankChangeAlreadyDecided {
        status: crate::epns::bank::BankChangeStatus,
    },
    #[error(
        "bank details are confirmed by a tenant admin or finance officer other than the person who submitted them"
    )]
    BankChangeNeedsAnotherPerson,

    // Emails and statistics.
    #[error("this email is {status}: only a failed or cancelled email can be retried")]
    EmailNotRetryable { status: EmailStatus },
    #[error("the export failed: {reason}")]
    ExportFailed { reason: String },
    #[error("the export is {status}: its files are not ready yet")]
    ExportNotReady { status: ExportStatus },
    #[error("at most {limit} exports can be asked for in 24 hours; retry later")]
    ExportsPerDayUsedUp { limit: i64 },
    #[error("{limit} exports are already waiting or running; retry once one has finished")]
    ExportsWaiting { limit: i64 },

    // A territory's archive.
    #[error("an archive of this tenant is already {status}: wait for it, then download it")]
    ArchiveUnderWay { status: ArchiveStatus },
    #[error("at most {limit} archives can be asked for in 24 hours; retry later")]
    ArchivesPerDayUsedUp { limit: i64 },
    #[error("the archive is {status}: its file is not ready yet")]
    ArchiveNotReady { status: ArchiveStatus },
    #[error("the archive failed: {reason}")]
    ArchiveFailed { reason: String },
    #[error(
        "the archive's file was deleted on {expired_on}, as archives are kept {days} days: ask for a new one"
    )]
    ArchiveExpired { expired_on: NaiveDate, days: i64 },

    // The second factor.
    #[error(
        "this code is wrong, expired or already used: type the code your authenticator app shows now, or an unused recovery code"
    )]
    SecondFactorCodeWrong { attempts_left: i32 },
    #[error("a second factor is already set up for this account")]
    SecondFactorAlreadyEnrolled,
    #[error("no second factor is set up for this account")]
    SecondFactorNotEnrolled,

    // A territory's logo.
    #[error("the logo is {size_kib} KiB; at most {max_kib} KiB")]
    LogoTooLarge { size_kib: usize, max_kib: usize },
    #[error("the logo is not a PNG or SVG image that can be read: {reason}")]
    LogoUnreadable { reason: String },
    #[error("the logo is {width}×{height} pixels; each side must be between {min} and {max}")]
    LogoDimensions {
        width: u32,
        height: u32,
        min: u32,
        max: u32,
    },
    #[error(
        "the SVG logo holds {what}: a logo shown on every page may hold no script, event handler or reference outside itself"
    )]
    LogoUnsafe { what: String },

    /// A uniqueness rule of the schema that has no refusal of its own (the schema test keeps this
    /// for tables no user writes to).
    #[error("duplicate value ({constraint})")]
    Duplicate { constraint: String },
}

impl Refusal {
    pub fn kind(&self) -> RefusalKind {
        RefusalKind::from(self)
    }

    /// What the person reading the portal or a public page is told, in French.
    pub fn french(&self) -> String {
        french::detail(self)
    }
}

impl RefusalKind {
    /// Every kind, for the problem-type pages and the API document.
    pub fn all() -> impl Iterator<Item = RefusalKind> {
        <RefusalKind as strum::IntoEnumIterator>::iter()
    }

    /// The problem type's last segment: stable, safe for clients to branch on.
    pub fn slug(self) -> &'static str {
        self.into()
    }

    pub fn from_slug(slug: &str) -> Option<RefusalKind> {
        slug.parse().ok()
    }

    /// The kind's title in English, the same for every occurrence (RFC 9457 `title`).
    pub fn title(self) -> &'static str {
        french::titles(self).0
    }

    /// The kind's title in French, for the problem-type page.
    pub fn titre(self) -> &'static str {
        french::titles(self).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_kebab_case_slugs_that_read_back() {
        assert_eq!(RefusalKind::AllocationUsedUp.slug(), "allocation-used-up");
        for kind in RefusalKind::all() {
            assert_eq!(RefusalKind::from_slug(kind.slug()), Some(kind));
            assert!(!kind.title().is_empty() && !kind.titre().is_empty());
        }
        assert_eq!(RefusalKind::from_slug("not-a-refusal"), None);
    }

    #[test]
    fn refusals_read_in_french_with_their_facts() {
        let used_up = Refusal::AllocationUsedUp {
            issued: 10,
            quantity: 10,
        };
        assert_eq!(used_up.kind(), RefusalKind::AllocationUsedUp);
        assert!(used_up.to_string().contains("10 of 10 issued"));
        assert!(
            used_up.french().contains("dotation"),
            "{}",
            used_up.french()
        );
        let expired = Refusal::VoucherExpired {
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
        };
        assert!(expired.french().contains("31 décembre 2026"));
    }
}
