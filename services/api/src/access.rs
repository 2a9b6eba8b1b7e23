//! Who may call what. Each operation declares its roles here; its handler checks them through
//! `BearerAuth::authorize`, and the access test walks this table (and checks that every operation
//! of the OpenAPI document is in it), so the table and the behaviour cannot drift apart.

use passerelle_core::tenancy::Role;

#[derive(Debug)]
pub struct Operation {
    pub id: &'static str,
    pub method: &'static str,
    /// The OpenAPI path template, e.g. `/v1/users/{user_id}`.
    pub path: &'static str,
    pub roles: &'static [Role],
    /// Callable without a token (the public balance check).
    pub public: bool,
    /// Its success response carries a secret shown once (a new API token, a private link): a
    /// retry with the same Idempotency-Key is told the request succeeded, never shown it again.
    pub shows_secret: bool,
}

impl Operation {
    /// Whether `path` (without its query) is an instance of this operation's path template.
    fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut template = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return true,
                (Some(t), Some(a)) if t.starts_with('{') && t.ends_with('}') => {
                    if a.is_empty() {
                        return false;
                    }
                }
                (Some(t), Some(a)) if t == a => {}
                _ => return false,
            }
        }
    }

    fn literal_segments(&self) -> usize {
        self.path.split('/').filter(|s| !s.starts_with('{')).count()
    }
}

/// The operation a request is for, found from the table before routing (the idempotency layer
/// must check the caller's role before it answers from a stored response). Where two templates
/// match (`/v1/vouchers/bulk` and `/v1/vouchers/{reference}`), the more literal one wins, as in
/// the router.
pub fn find(method: &str, path: &str) -> Option<&'static Operation> {
    ALL.iter()
        .copied()
        .filter(|operation| operation.matches(method, path))
        .max_by_key(|operation| operation.literal_segments())
}

const fn op(
    id: &'static str,
    method: &'static str,
    path: &'static str,
    roles: &'static [Role],
) -> Operation {
    Operation {
        id,
        method,
        path,
        roles,
        public: false,
        shows_secret: false,
    }
}

/// An operation whose success response carries a secret shown once.
const fn secret_op(
    id: &'static str,
    method: &'static str,
    path: &'static str,
    roles: &'static [Role],
) -> Operation {
    Operation {
        shows_secret: true,
        ..op(id, method, path, roles)
    }
}

const EVERYONE: &[Role] = &Role::ALL;
const PLATFORM: &[Role] = &[Role::PlatformAdmin];
const TENANT_ADMIN: &[Role] = &[Role::TenantAdmin];
const TENANT_USERS: &[Role] = &Role::TENANT;
const ADMIN_OR_PRESCRIBER: &[Role] = &[Role::TenantAdmin, Role::Prescriber];
const PRESCRIBER: &[Role] = &[Role::Prescriber];
const VOUCHER_READERS: &[Role] = &[Role::TenantAdmin, Role::Prescriber, Role::Finance];
const EPN: &[Role] = &[Role::Epn];
const ADMIN_OR_EPN: &[Role] = &[Role::TenantAdmin, Role::Epn];
const PORTFOLIO_LINKERS: &[Role] = &[Role::TenantAdmin, Role::Prescriber, Role::Epn];
const ACCOMPANIMENT_READERS: &[Role] = &[Role::TenantAdmin, Role::Epn, Role::Prescriber];
const VOUCHER_LOOKUP: &[Role] = &[
    Role::TenantAdmin,
    Role::Prescriber,
    Role::Epn,
    Role::Finance,
];

pub const GET_ME: Operation = op("getMe", "GET", "/v1/me", EVERYONE);

pub const CREATE_TENANT: Operation = op("createTenant", "POST", "/v1/tenants", PLATFORM);
pub const LIST_TENANTS: Operation = op("listTenants", "GET", "/v1/tenants", PLATFORM);
pub const GET_TENANT: Operation = op("getTenant", "GET", "/v1/tenants/{tenant_id}", PLATFORM);
pub const INVITE_TENANT_ADMIN: Operation = op(
    "inviteTenantAdmin",
    "POST",
    "/v1/tenants/{tenant_id}/admins",
    PLATFORM,
);

pub const CREATE_USER: Operation = op("createUser", "POST", "/v1/users", TENANT_ADMIN);
pub const LIST_USERS: Operation = op("listUsers", "GET", "/v1/users", TENANT_ADMIN);
pub const GET_USER: Operation = op("getUser", "GET", "/v1/users/{user_id}", TENANT_ADMIN);
pub const UPDATE_USER: Operation = op("updateUser", "PATCH", "/v1/users/{user_id}", TENANT_ADMIN);
pub const DISABLE_USER: Operation = op(
    "disableUser",
    "POST",
    "/v1/users/{user_id}/disable",
    TENANT_ADMIN,
);

pub const CREATE_TOKEN: Operation = secret_op(
    "createToken",
    "POST",
    "/v1/users/{user_id}/tokens",
    TENANT_ADMIN,
);
pub const LIST_TOKENS: Operation = op(
    "listTokens",
    "GET",
    "/v1/users/{user_id}/tokens",
    TENANT_ADMIN,
);
pub const REVOKE_TOKEN: Operation = op(
    "revokeToken",
    "DELETE",
    "/v1/users/{user_id}/tokens/{token_id}",
    TENANT_ADMIN,
);

pub const CREATE_SCHEME: Operation = op("createScheme", "POST", "/v1/schemes", TENANT_ADMIN);
pub const LIST_SCHEMES: Operation = op("listSchemes", "GET", "/v1/schemes", TENANT_USERS);
pub const GET_SCHEME: Operation = op("getScheme", "GET", "/v1/schemes/{scheme_id}", TENANT_USERS);
pub const RENAME_SCHEME: Operation = op(
    "renameScheme",
    "PATCH",
    "/v1/schemes/{scheme_id}",
    TENANT_ADMIN,
);
pub const CHANGE_SCHEME_RULES: Operation = op(
    "changeSchemeRules",
    "POST",
    "/v1/schemes/{scheme_id}/versions",
    TENANT_ADMIN,
);
pub const REPLACE_SCHEME_MODULES: Operation = op(
    "replaceSchemeModules",
    "PUT",
    "/v1/schemes/{scheme_id}/modules",
    TENANT_ADMIN,
);
pub const SET_PUBLIC_REQUEST_FUNDING: Operation = op(
    "setPublicRequestFunding",
    "PUT",
    "/v1/schemes/{scheme_id}/public-request-funding",
    TENANT_ADMIN,
);
pub const SET_SCHEME_STATUS: Operation = op(
    "setSchemeStatus",
    "POST",
    "/v1/schemes/{scheme_id}/status",
    TENANT_ADMIN,
);

pub const CREATE_PRESCRIBER: Operation =
    op("createPrescriber", "POST", "/v1/prescribers", TENANT_ADMIN);
pub const LIST_PRESCRIBERS: Operation =
    op("listPrescribers", "GET", "/v1/prescribers", TENANT_ADMIN);
pub const GET_PRESCRIBER: Operation = op(
    "getPrescriber",
    "GET",
    "/v1/prescribers/{prescriber_id}",
    ADMIN_OR_PRESCRIBER,
);
pub const UPDATE_PRESCRIBER: Operation = op(
    "updatePrescriber",
    "PATCH",
    "/v1/prescribers/{prescriber_id}",
    TENANT_ADMIN,
);
pub const CREATE_ALLOCATION: Operation = op(
    "createAllocation",
    "POST",
    "/v1/prescribers/{prescriber_id}/allocations",
    TENANT_ADMIN,
);
pub const LIST_ALLOCATIONS: Operation = op(
    "listAllocations",
    "GET",
    "/v1/prescribers/{prescriber_id}/allocations",
    ADMIN_OR_PRESCRIBER,
);
pub const SET_ALLOCATION_QUANTITY: Operation = op(
    "setAllocationQuantity",
    "POST",
    "/v1/prescribers/{prescriber_id}/allocations/{allocation_id}/quantity",
    TENANT_ADMIN,
);
pub const GET_STOCK: Operation = op(
    "getStock",
    "GET",
    "/v1/prescribers/{prescriber_id}/stock",
    ADMIN_OR_PRESCRIBER,
);

pub const CREATE_BENEFICIARY: Operation =
    op("createBeneficiary", "POST", "/v1/beneficiaries", PRESCRIBER);
pub const EXPORT_BENEFICIARY: Operation = op(
    "exportBeneficiary",
    "GET",
    "/v1/beneficiaries/{beneficiary_id}/export",
    TENANT_ADMIN,
);
pub const ERASE_BENEFICIARY: Operation = op(
    "eraseBeneficiary",
    "POST",
    "/v1/beneficiaries/{beneficiary_id}/erase",
    TENANT_ADMIN,
);
pub const GET_FUNNEL: Operation = op(
    "getFunnel",
    "GET",
    "/v1/prescribers/{prescriber_id}/funnel",
    ADMIN_OR_PRESCRIBER,
);
pub const GET_BENEFICIARY: Operation = op(
    "getBeneficiary",
    "GET",
    "/v1/beneficiaries/{beneficiary_id}",
    ADMIN_OR_PRESCRIBER,
);

pub const ISSUE_VOUCHER: Operation = op("issueVoucher", "POST", "/v1/vouchers", PRESCRIBER);
pub const BULK_ISSUE_VOUCHERS: Operation =
    op("bulkIssueVouchers", "POST", "/v1/vouchers/bulk", PRESCRIBER);
pub const LIST_VOUCHERS: Operation = op("listVouchers", "GET", "/v1/vouchers", VOUCHER_READERS);
pub const GET_VOUCHER: Operation = op(
    "getVoucher",
    "GET",
    "/v1/vouchers/{reference}",
    VOUCHER_LOOKUP,
);
pub const CANCEL_VOUCHER: Operation = op(
    "cancelVoucher",
    "POST",
    "/v1/vouchers/{reference}/cancel",
    ADMIN_OR_PRESCRIBER,
);

pub const CREATE_EPN: Operation = op("createEpn", "POST", "/v1/epns", TENANT_ADMIN);
pub const LIST_EPNS: Operation = op("listEpns", "GET", "/v1/epns", TENANT_USERS);
pub const GET_EPN: Operation = op("getEpn", "GET", "/v1/epns/{epn_id}", TENANT_USERS);
pub const IMPORT_EPNS: Operation = op("importEpns", "POST", "/v1/epns/import", TENANT_ADMIN);
/// An import's progress and report: a tenant admin's any, a prescriber agent's their
/// organisation's bulk voucher files.
pub const GET_IMPORT: Operation = op(
    "getImport",
    "GET",
    "/v1/imports/{import_id}",
    ADMIN_OR_PRESCRIBER,
);
pub const LIST_IMPORT_LINES: Operation = op(
    "listImportLines",
    "GET",
    "/v1/imports/{import_id}/lines",
    ADMIN_OR_PRESCRIBER,
);
/// A tenant admin corrects any EPN's details, an EPN's staff their own.
pub const UPDATE_EPN: Operation = op("updateEpn", "PATCH", "/v1/epns/{epn_id}", ADMIN_OR_EPN);
/// An EPN's staff submit their own EPN's bank details, a tenant admin any EPN's; a tenant admin or
/// finance officer other than the submitter confirms them (four eyes).
const BANK_SUBMITTERS: &[Role] = &[Role::TenantAdmin, Role::Epn];
const BANK_CONFIRMERS: &[Role] = &[Role::Finance, Role::TenantAdmin];
pub const SET_EPN_BANK_DETAILS: Operation = op(
    "setEpnBankDetails",
    "POST",
    "/v1/epns/{epn_id}/bank-details",
    BANK_SUBMITTERS,
);
pub const LIST_BANK_CHANGES: Operation = op(
    "listBankChanges",
    "GET",
    "/v1/bank-changes",
    &[Role::Finance, Role::TenantAdmin, Role::Epn],
);
pub const CONFIRM_BANK_CHANGE: Operation = op(
    "confirmBankChange",
    "POST",
    "/v1/bank-changes/{change_id}/confirm",
    BANK_CONFIRMERS,
);
pub const REJECT_BANK_CHANGE: Operation = op(
    "rejectBankChange",
    "POST",
    "/v1/bank-changes/{change_id}/reject",
    BANK_CONFIRMERS,
);
pub const SET_EPN_OFFER: Operation = op(
    "setEpnOffer",
    "POST",
    "/v1/epns/{epn_id}/offers",
    TENANT_ADMIN,
);

pub const REGISTER_VOUCHER: Operation = op("registerVoucher", "POST", "/v1/registrations", EPN);
pub const CHANGE_VOUCHER_MODULES: Operation = op(
    "changeVoucherModules",
    "POST",
    "/v1/vouchers/{reference}/modules",
    EPN,
);
pub const MOVE_VOUCHER: Operation = op(
    "moveVoucher",
    "POST",
    "/v1/vouchers/{reference}/move",
    TENANT_ADMIN,
);
pub const LIST_REGISTRATIONS: Operation = op(
    "listRegistrations",
    "GET",
    "/v1/vouchers/{reference}/registrations",
    ADMIN_OR_EPN,
);

pub const CREATE_SESSION: Operation = op("createSession", "POST", "/v1/sessions", EPN);
pub const LIST_SESSIONS: Operation = op("listSessions", "GET", "/v1/sessions", ADMIN_OR_EPN);
pub const GET_SESSION: Operation = op(
    "getSession",
    "GET",
    "/v1/sessions/{session_id}",
    ADMIN_OR_EPN,
);
pub const ENROL_IN_SESSION: Operation = op(
    "enrolInSession",
    "POST",
    "/v1/sessions/{session_id}/enrolments",
    EPN,
);
pub const SET_SESSION_STATUS: Operation = op(
    "setSessionStatus",
    "POST",
    "/v1/sessions/{session_id}/status",
    EPN,
);
pub const RECORD_ATTENDANCE: Operation = op(
    "recordAttendance",
    "POST",
    "/v1/sessions/{session_id}/attendance",
    EPN,
);
pub const VOID_ATTENDANCE: Operation = op(
    "voidAttendance",
    "POST",
    "/v1/attendances/{attendance_id}/void",
    ADMIN_OR_EPN,
);

pub const GET_PORTFOLIO: Operation = op(
    "getPortfolio",
    "GET",
    "/v1/vouchers/{reference}/portfolio",
    VOUCHER_LOOKUP,
);
pub const RENEW_PORTFOLIO_LINK: Operation = secret_op(
    "renewPortfolioLink",
    "POST",
    "/v1/vouchers/{reference}/portfolio-link",
    PORTFOLIO_LINKERS,
);
pub const REVOKE_PORTFOLIO_LINK: Operation = op(
    "revokePortfolioLink",
    "DELETE",
    "/v1/vouchers/{reference}/portfolio-link",
    PORTFOLIO_LINKERS,
);
pub const PUBLIC_PORTFOLIO_PAGE: Operation = Operation {
    id: "publicPortfolioPage",
    method: "GET",
    path: "/v1/public/portfolio/{token}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const PUBLIC_PORTFOLIO_DATA: Operation = Operation {
    id: "publicPortfolioData",
    method: "GET",
    path: "/v1/public/portfolio/{token}/data",
    roles: &[],
    public: true,
    shows_secret: false,
};

/// The holder's own space, reached with the code of their letter: the code is the key.
pub const HOLDER_CODE_FORM: Operation = Operation {
    id: "holderCodeForm",
    method: "GET",
    path: "/p/{tenant}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_CODE_ENTRY: Operation = Operation {
    id: "holderCodeEntry",
    method: "POST",
    path: "/p/{tenant}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_PORTFOLIO_PAGE: Operation = Operation {
    id: "holderPortfolioPage",
    method: "GET",
    path: "/p/{tenant}/{code}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_PORTFOLIO_PRINT: Operation = Operation {
    id: "holderPortfolioPrint",
    method: "GET",
    path: "/p/{tenant}/{code}/imprimer",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_PORTFOLIO_DATA: Operation = Operation {
    id: "holderPortfolioData",
    method: "GET",
    path: "/p/{tenant}/{code}/donnees",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_REVOKE_LINK: Operation = Operation {
    id: "holderRevokeLink",
    method: "POST",
    path: "/p/{tenant}/{code}/desactiver",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_RENEW_LINK: Operation = Operation {
    id: "holderRenewLink",
    method: "POST",
    path: "/p/{tenant}/{code}/renouveler",
    roles: &[],
    public: true,
    shows_secret: true,
};
pub const HOLDER_ISSUE_CREDENTIAL: Operation = Operation {
    id: "holderIssueCredential",
    method: "POST",
    path: "/p/{tenant}/{code}/attestations",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_CREDENTIALS_ZIP: Operation = Operation {
    id: "holderCredentialsZip",
    method: "POST",
    path: "/p/{tenant}/{code}/attestations/toutes",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_CREDENTIAL_PAGE: Operation = Operation {
    id: "holderCredentialPage",
    method: "GET",
    path: "/p/{tenant}/{code}/attestations/{credential_id}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const HOLDER_CREDENTIAL_FILE: Operation = Operation {
    id: "holderCredentialFile",
    method: "GET",
    path: "/p/{tenant}/{code}/attestations/{credential_id}/fichier",
    roles: &[],
    public: true,
    shows_secret: false,
};

// Open Badges credentials: the territory's staff list and revoke them and rotate its key; anyone
// reads what verifies them.
pub const LIST_CREDENTIALS: Operation = op(
    "listCredentials",
    "GET",
    "/v1/vouchers/{reference}/credentials",
    TENANT_ADMIN,
);
pub const REVOKE_CREDENTIAL: Operation = op(
    "revokeCredential",
    "POST",
    "/v1/credentials/{credential_id}/revocation",
    TENANT_ADMIN,
);
pub const ROTATE_CREDENTIAL_KEY: Operation = op(
    "rotateCredentialKey",
    "POST",
    "/v1/credential-keys/rotation",
    TENANT_ADMIN,
);
pub const GET_ISSUER: Operation = Operation {
    id: "getIssuer",
    method: "GET",
    path: "/v1/public/issuers/{slug}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const GET_ISSUER_KEYS: Operation = Operation {
    id: "getIssuerKeys",
    method: "GET",
    path: "/v1/public/issuers/{slug}/keys",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const GET_ISSUER_KEY: Operation = Operation {
    id: "getIssuerKey",
    method: "GET",
    path: "/v1/public/issuers/{slug}/keys/{key_id}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const GET_ACHIEVEMENT: Operation = Operation {
    id: "getAchievement",
    method: "GET",
    path: "/v1/public/issuers/{slug}/achievements/{achievement}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const GET_STATUS_LIST: Operation = Operation {
    id: "getStatusList",
    method: "GET",
    path: "/v1/public/issuers/{slug}/status-lists/{list}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const CREDENTIAL_PAGE: Operation = Operation {
    id: "credentialPage",
    method: "GET",
    path: "/attestations/{slug}/{credential_id}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const CREDENTIAL_CHECK_FORM: Operation = Operation {
    id: "credentialCheckForm",
    method: "GET",
    path: "/attestations/{slug}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const CREDENTIAL_CHECK: Operation = Operation {
    id: "credentialCheck",
    method: "POST",
    path: "/attestations/{slug}",
    roles: &[],
    public: true,
    shows_secret: false,
};

pub const REQUEST_ACCOMPANIMENT: Operation = op(
    "requestAccompaniment",
    "POST",
    "/v1/accompaniment-requests",
    PRESCRIBER,
);
pub const LIST_ACCOMPANIMENT_REQUESTS: Operation = op(
    "listAccompanimentRequests",
    "GET",
    "/v1/accompaniment-requests",
    ACCOMPANIMENT_READERS,
);
pub const ACCEPT_ACCOMPANIMENT: Operation = op(
    "acceptAccompaniment",
    "POST",
    "/v1/accompaniment-requests/{request_id}/accept",
    ADMIN_OR_EPN,
);
pub const DECLINE_ACCOMPANIMENT: Operation = op(
    "declineAccompaniment",
    "POST",
    "/v1/accompaniment-requests/{request_id}/decline",
    ADMIN_OR_EPN,
);
pub const PUBLIC_ACCOMPANIMENT_REQUEST: Operation = Operation {
    id: "publicAccompanimentRequest",
    method: "POST",
    path: "/v1/public/accompaniment-requests",
    roles: &[],
    public: true,
    shows_secret: false,
};

pub const RECORD_ORIENTATION: Operation = op(
    "recordOrientation",
    "PUT",
    "/v1/vouchers/{reference}/orientation",
    EPN,
);
pub const SUBMIT_PROJECT: Operation = op("submitProject", "POST", "/v1/projects", PRESCRIBER);
pub const LIST_PROJECTS: Operation =
    op("listProjects", "GET", "/v1/projects", ACCOMPANIMENT_READERS);
pub const GET_PROJECT: Operation = op(
    "getProject",
    "GET",
    "/v1/projects/{project_id}",
    ACCOMPANIMENT_READERS,
);
pub const APPROVE_PROJECT: Operation = op(
    "approveProject",
    "POST",
    "/v1/projects/{project_id}/approve",
    TENANT_ADMIN,
);
pub const REJECT_PROJECT: Operation = op(
    "rejectProject",
    "POST",
    "/v1/projects/{project_id}/reject",
    TENANT_ADMIN,
);
pub const RECORD_PROJECT_ATTENDANCE: Operation = op(
    "recordProjectAttendance",
    "POST",
    "/v1/projects/{project_id}/attendance",
    EPN,
);

pub const LIST_AUDIT: Operation = op("listAudit", "GET", "/v1/audit", TENANT_ADMIN);

pub const LIST_EMAILS: Operation = op("listEmails", "GET", "/v1/emails", TENANT_ADMIN);
pub const GET_EMAIL: Operation = op("getEmail", "GET", "/v1/emails/{email_id}", TENANT_ADMIN);
pub const RETRY_EMAIL: Operation = op(
    "retryEmail",
    "POST",
    "/v1/emails/{email_id}/retry",
    TENANT_ADMIN,
);
pub const PREVIEW_EMAIL: Operation = op(
    "previewEmail",
    "GET",
    "/v1/emails/preview/{kind}",
    TENANT_ADMIN,
);

const FINANCE: &[Role] = &[Role::Finance];
const FINANCE_READERS: &[Role] = &[Role::Finance, Role::TenantAdmin];
/// Who reads statements: the tenant's finance, and each EPN's staff its own EPN's.
const STATEMENT_READERS: &[Role] = &[Role::Finance, Role::TenantAdmin, Role::Epn];

/// Exports are asked for by those who report; funders read published files only, finance too;
/// un-suppressed files are for the tenant admin.
const STATISTICS_REQUESTERS: &[Role] = &[Role::TenantAdmin, Role::Finance];
const STATISTICS_READERS: &[Role] = &[Role::TenantAdmin, Role::Finance, Role::Funder];
pub const REQUEST_STATISTICS_EXPORT: Operation = op(
    "requestStatisticsExport",
    "POST",
    "/v1/statistics/exports",
    STATISTICS_REQUESTERS,
);
pub const LIST_STATISTICS_EXPORTS: Operation = op(
    "listStatisticsExports",
    "GET",
    "/v1/statistics/exports",
    STATISTICS_READERS,
);
pub const GET_STATISTICS_EXPORT: Operation = op(
    "getStatisticsExport",
    "GET",
    "/v1/statistics/exports/{export_id}",
    STATISTICS_READERS,
);
pub const DOWNLOAD_STATISTICS_FILE: Operation = op(
    "downloadStatisticsFile",
    "GET",
    "/v1/statistics/exports/{export_id}/files/{name}",
    STATISTICS_READERS,
);
/// A territory's archive holds every person's data: the tenant admin alone asks for it and takes
/// it away.
pub const REQUEST_ARCHIVE: Operation = op("requestArchive", "POST", "/v1/archives", TENANT_ADMIN);
pub const LIST_ARCHIVES: Operation = op("listArchives", "GET", "/v1/archives", TENANT_ADMIN);
pub const GET_ARCHIVE: Operation = op(
    "getArchive",
    "GET",
    "/v1/archives/{archive_id}",
    TENANT_ADMIN,
);
/// How the territory shows itself is its admin's to set.
pub const GET_BRANDING: Operation = op("getBranding", "GET", "/v1/branding", TENANT_ADMIN);
pub const UPDATE_BRANDING: Operation = op("updateBranding", "PATCH", "/v1/branding", TENANT_ADMIN);
pub const SET_LOGO: Operation = op("setLogo", "PUT", "/v1/branding/logo", TENANT_ADMIN);
pub const REMOVE_LOGO: Operation = op("removeLogo", "DELETE", "/v1/branding/logo", TENANT_ADMIN);
pub const DOWNLOAD_ARCHIVE: Operation = op(
    "downloadArchive",
    "GET",
    "/v1/archives/{archive_id}/file",
    TENANT_ADMIN,
);
/// The provider its agents sign in through is the territory admin's to set.
pub const GET_IDENTITY_PROVIDER: Operation = op(
    "getIdentityProvider",
    "GET",
    "/v1/tenant/identity-provider",
    TENANT_ADMIN,
);
pub const SET_IDENTITY_PROVIDER: Operation = op(
    "setIdentityProvider",
    "PUT",
    "/v1/tenant/identity-provider",
    TENANT_ADMIN,
);
pub const REMOVE_IDENTITY_PROVIDER: Operation = op(
    "removeIdentityProvider",
    "DELETE",
    "/v1/tenant/identity-provider",
    TENANT_ADMIN,
);
pub const UNLINK_IDENTITY: Operation = op(
    "unlinkIdentity",
    "DELETE",
    "/v1/users/{user_id}/identity",
    TENANT_ADMIN,
);
pub const RESET_SECOND_FACTOR: Operation = op(
    "resetSecondFactor",
    "DELETE",
    "/v1/users/{user_id}/second-factor",
    TENANT_ADMIN,
);
pub const SET_SECOND_FACTOR_POLICY: Operation = op(
    "setSecondFactorPolicy",
    "PUT",
    "/v1/tenant/second-factor",
    TENANT_ADMIN,
);
pub const SET_RETENTION: Operation =
    op("setRetention", "PUT", "/v1/tenant/retention", TENANT_ADMIN);
pub const SET_STATISTICS_THRESHOLD: Operation = op(
    "setStatisticsThreshold",
    "PUT",
    "/v1/tenant/statistics-threshold",
    TENANT_ADMIN,
);

pub const LIST_STATEMENTS: Operation =
    op("listStatements", "GET", "/v1/statements", STATEMENT_READERS);
pub const GET_STATEMENT: Operation = op(
    "getStatement",
    "GET",
    "/v1/statements/{statement_id}",
    STATEMENT_READERS,
);
pub const APPROVE_STATEMENT: Operation = op(
    "approveStatement",
    "POST",
    "/v1/statements/{statement_id}/approve",
    FINANCE,
);
pub const MARK_STATEMENT_PAID: Operation = op(
    "markStatementPaid",
    "POST",
    "/v1/statements/{statement_id}/paid",
    FINANCE,
);
pub const STATEMENT_CSV: Operation = op(
    "statementCsv",
    "GET",
    "/v1/statements/{statement_id}/csv",
    STATEMENT_READERS,
);
pub const CREATE_FUNDER: Operation = op("createFunder", "POST", "/v1/funders", TENANT_ADMIN);
pub const LIST_FUNDERS: Operation = op("listFunders", "GET", "/v1/funders", FINANCE_READERS);
pub const FUNDER_CLAIMS_CSV: Operation = op(
    "funderClaimsCsv",
    "GET",
    "/v1/funders/{funder_id}/claims/csv",
    FINANCE_READERS,
);
pub const CHANGE_SCHEME_FUNDING: Operation = op(
    "changeSchemeFunding",
    "PUT",
    "/v1/schemes/{scheme_id}/funding",
    TENANT_ADMIN,
);
pub const GET_SCHEME_FUNDING: Operation = op(
    "getSchemeFunding",
    "GET",
    "/v1/schemes/{scheme_id}/funding",
    FINANCE_READERS,
);
pub const GET_SCHEME_RECONCILIATION: Operation = op(
    "getSchemeReconciliation",
    "GET",
    "/v1/schemes/{scheme_id}/reconciliation",
    FINANCE_READERS,
);
pub const SCHEME_RECONCILIATION_CSV: Operation = op(
    "schemeReconciliationCsv",
    "GET",
    "/v1/schemes/{scheme_id}/reconciliation/csv",
    FINANCE_READERS,
);
pub const SET_USER_FUNDER: Operation = op(
    "setUserFunder",
    "PUT",
    "/v1/users/{user_id}/funder",
    TENANT_ADMIN,
);
pub const RUN_REIMBURSEMENTS: Operation = op(
    "runReimbursements",
    "POST",
    "/v1/reimbursements/{month}/run",
    FINANCE,
);
pub const MONTH_CSV: Operation = op(
    "reimbursementsCsv",
    "GET",
    "/v1/reimbursements/{month}/csv",
    FINANCE_READERS,
);
pub const MONTH_SEPA: Operation = op(
    "reimbursementsSepa",
    "GET",
    "/v1/reimbursements/{month}/sepa",
    FINANCE,
);
pub const SET_TREASURY: Operation = op(
    "setTreasuryAccount",
    "PUT",
    "/v1/tenant/treasury",
    TENANT_ADMIN,
);

pub const UNSUBSCRIBE_PAGE: Operation = Operation {
    id: "unsubscribePage",
    method: "GET",
    path: "/v1/public/unsubscribe/{tenant}/{key}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const UNSUBSCRIBE: Operation = Operation {
    id: "unsubscribe",
    method: "POST",
    path: "/v1/public/unsubscribe/{tenant}/{key}",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const BALANCE_PAGE: Operation = Operation {
    id: "balancePage",
    method: "GET",
    path: "/v1/public/balance-page",
    roles: &[],
    public: true,
    shows_secret: false,
};
pub const BALANCE_PAGE_CHECK: Operation = Operation {
    id: "balancePageCheck",
    method: "POST",
    path: "/v1/public/balance-page",
    roles: &[],
    public: true,
    shows_secret: false,
};

pub const CHECK_BALANCE: Operation = Operation {
    id: "checkBalance",
    method: "POST",
    path: "/v1/public/balance",
    roles: &[],
    public: true,
    shows_secret: false,
};

pub const ALL: &[&Operation] = &[
    &CREATE_FUNDER,
    &LIST_FUNDERS,
    &FUNDER_CLAIMS_CSV,
    &CHANGE_SCHEME_FUNDING,
    &GET_SCHEME_FUNDING,
    &SET_USER_FUNDER,
    &GET_SCHEME_RECONCILIATION,
    &SCHEME_RECONCILIATION_CSV,
    &GET_ME,
    &CREATE_TENANT,
    &LIST_TENANTS,
    &GET_TENANT,
    &INVITE_TENANT_ADMIN,
    &CREATE_USER,
    &LIST_USERS,
    &GET_USER,
    &UPDATE_USER,
    &DISABLE_USER,
    &CREATE_TOKEN,
    &LIST_TOKENS,
    &REVOKE_TOKEN,
    &CREATE_SCHEME,
    &LIST_SCHEMES,
    &GET_SCHEME,
    &RENAME_SCHEME,
    &CHANGE_SCHEME_RULES,
    &REPLACE_SCHEME_MODULES,
    &SET_PUBLIC_REQUEST_FUNDING,
    &SET_SCHEME_STATUS,
    &CREATE_PRESCRIBER,
    &LIST_PRESCRIBERS,
    &GET_PRESCRIBER,
    &UPDATE_PRESCRIBER,
    &CREATE_ALLOCATION,
    &LIST_ALLOCATIONS,
    &SET_ALLOCATION_QUANTITY,
    &GET_STOCK,
    &CREATE_BENEFICIARY,
    &GET_BENEFICIARY,
    &EXPORT_BENEFICIARY,
    &ERASE_BENEFICIARY,
    &GET_FUNNEL,
    &ISSUE_VOUCHER,
    &BULK_ISSUE_VOUCHERS,
    &LIST_VOUCHERS,
    &GET_VOUCHER,
    &CANCEL_VOUCHER,
    &CREATE_EPN,
    &LIST_EPNS,
    &GET_EPN,
    &IMPORT_EPNS,
    &GET_IMPORT,
    &LIST_IMPORT_LINES,
    &UPDATE_EPN,
    &SET_EPN_BANK_DETAILS,
    &LIST_BANK_CHANGES,
    &CONFIRM_BANK_CHANGE,
    &REJECT_BANK_CHANGE,
    &SET_EPN_OFFER,
    &REGISTER_VOUCHER,
    &CHANGE_VOUCHER_MODULES,
    &MOVE_VOUCHER,
    &LIST_REGISTRATIONS,
    &CREATE_SESSION,
    &LIST_SESSIONS,
    &GET_SESSION,
    &ENROL_IN_SESSION,
    &SET_SESSION_STATUS,
    &RECORD_ATTENDANCE,
    &VOID_ATTENDANCE,
    &GET_PORTFOLIO,
    &RENEW_PORTFOLIO_LINK,
    &REVOKE_PORTFOLIO_LINK,
    &PUBLIC_PORTFOLIO_PAGE,
    &PUBLIC_PORTFOLIO_DATA,
    &HOLDER_CODE_FORM,
    &HOLDER_CODE_ENTRY,
    &HOLDER_PORTFOLIO_PAGE,
    &HOLDER_PORTFOLIO_PRINT,
    &HOLDER_PORTFOLIO_DATA,
    &HOLDER_REVOKE_LINK,
    &HOLDER_RENEW_LINK,
    &HOLDER_ISSUE_CREDENTIAL,
    &HOLDER_CREDENTIALS_ZIP,
    &HOLDER_CREDENTIAL_PAGE,
    &HOLDER_CREDENTIAL_FILE,
    &LIST_CREDENTIALS,
    &REVOKE_CREDENTIAL,
    &ROTATE_CREDENTIAL_KEY,
    &GET_ISSUER,
    &GET_ISSUER_KEYS,
    &GET_ISSUER_KEY,
    &GET_ACHIEVEMENT,
    &GET_STATUS_LIST,
    &CREDENTIAL_PAGE,
    &CREDENTIAL_CHECK_FORM,
    &CREDENTIAL_CHECK,
    &REQUEST_ACCOMPANIMENT,
    &LIST_ACCOMPANIMENT_REQUESTS,
    &ACCEPT_ACCOMPANIMENT,
    &DECLINE_ACCOMPANIMENT,
    &PUBLIC_ACCOMPANIMENT_REQUEST,
    &RECORD_ORIENTATION,
    &SUBMIT_PROJECT,
    &LIST_PROJECTS,
    &GET_PROJECT,
    &APPROVE_PROJECT,
    &REJECT_PROJECT,
    &RECORD_PROJECT_ATTENDANCE,
    &LIST_AUDIT,
    &LIST_EMAILS,
    &GET_EMAIL,
    &RETRY_EMAIL,
    &PREVIEW_EMAIL,
    &LIST_STATEMENTS,
    &GET_STATEMENT,
    &APPROVE_STATEMENT,
    &MARK_STATEMENT_PAID,
    &STATEMENT_CSV,
    &RUN_REIMBURSEMENTS,
    &MONTH_CSV,
    &MONTH_SEPA,
    &SET_TREASURY,
    &REQUEST_STATISTICS_EXPORT,
    &LIST_STATISTICS_EXPORTS,
    &GET_STATISTICS_EXPORT,
    &DOWNLOAD_STATISTICS_FILE,
    &SET_STATISTICS_THRESHOLD,
    &REQUEST_ARCHIVE,
    &LIST_ARCHIVES,
    &GET_ARCHIVE,
    &DOWNLOAD_ARCHIVE,
    &GET_BRANDING,
    &UPDATE_BRANDING,
    &SET_LOGO,
    &REMOVE_LOGO,
    &GET_IDENTITY_PROVIDER,
    &SET_IDENTITY_PROVIDER,
    &REMOVE_IDENTITY_PROVIDER,
    &UNLINK_IDENTITY,
    &RESET_SECOND_FACTOR,
    &SET_SECOND_FACTOR_POLICY,
    &SET_RETENTION,
    &UNSUBSCRIBE_PAGE,
    &UNSUBSCRIBE,
    &BALANCE_PAGE,
    &BALANCE_PAGE_CHECK,
    &CHECK_BALANCE,
];
