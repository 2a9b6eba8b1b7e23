//! The API layer's one error type and its single mapping to RFC 9457 problem details. Every error
//! response — ours, poem's and poem-openapi's — goes through `problem_response`.

use std::sync::OnceLock;

use passerelle_core::RefusalKind;
use poem::http::StatusCode;
use poem::{Response, error::ResponseError};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object, types::ToJSON};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// Seconds a client is told to wait after a 503: about the time PostgreSQL takes to restart.
const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// A field of the request that was refused, and why.
#[derive(Debug, Clone, Object)]
pub struct ProblemField {
    /// The field at fault, as named in the request (`body`, a JSON property, a query parameter).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// The rule the value breaks, when the field can be refused for more than one reason: a
    /// stable code to branch on (`not_the_holder`, `not_eligible`, `modules_to_choose`,
    /// `module_chosen_twice`, `modules_not_offered`, `not_whole_sessions`, `unreadable_csv`,
    /// `missing_columns`, `not_open_data_format`, `too_many_rows`, `no_way_to_reach`,
    /// `group_size`, `listed_twice`, `known_person`, `epn_not_taking_part`).
    #[oai(skip_serializing_if_is_none)]
    pub rule: Option<String>,
}

/// RFC 9457 problem details.
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// A URI reference naming the kind of problem; stable, safe to branch on.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong with this request, in a sentence.
    pub detail: String,
    /// For validation problems: every field at fault.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<ProblemField>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{detail}")]
    MalformedBody {
        detail: String,
        missing: Vec<String>,
    },
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    #[error(
        "the request with this Idempotency-Key already succeeded; its response carried a secret \
         that is shown only once: list the resource to find what was created, or send a new request"
    )]
    IdempotencySecretWithheld,
    #[error(transparent)]
    Core(#[from] passerelle_core::Error),
    #[error("PostgreSQL or Redis is not reachable")]
    Unavailable,
    #[error("too many requests from this address; retry in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
}

impl ApiError {
    /// Status, problem type and title: the classification, with no side effect.
    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        use passerelle_core::Error as Core;
        match self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::MalformedBody { .. } => {
                (StatusCode::BAD_REQUEST, "bad-request", "Bad request")
            }
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            ApiError::IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            ),
            ApiError::IdempotencyInProgress => (
                StatusCode::CONFLICT,
                "idempotency-key-in-progress",
                "Request in progress",
            ),
            ApiError::IdempotencySecretWithheld => (
                StatusCode::CONFLICT,
                "idempotency-secret-not-replayed",
                "Secret not shown again",
            ),
            ApiError::Core(Core::NotFound(_)) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::Core(Core::Refused(refusal)) => {
                let kind = refusal.kind();
                (refusal_status(kind), kind.slug(), kind.title())
            }
            ApiError::Core(Core::Invalid(_)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-error",
                "Invalid input",
            ),
            ApiError::Core(err) if err.is_unavailable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Core(Core::Busy(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Core(Core::Database(_) | Core::Internal(_)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
        }
    }

    /// The problem document, for embedding in a larger answer (one line of an attendance sheet).
    pub fn to_problem(&self) -> Problem {
        self.problem()
    }

    /// The problem document; server-side causes are logged here, once per response.
    fn problem(&self) -> Problem {
        use passerelle_core::Error as Core;
        let (status, kind, title) = self.kind();
        let detail = match self {
            ApiError::Core(err) if err.is_unavailable() => {
                tracing::warn!(error = %err, "database unreachable");
                "PostgreSQL is not reachable; retry in a few seconds".to_owned()
            }
            ApiError::Core(Core::Database(err)) => {
                tracing::error!(error = %err, "database error");
                "an unexpected error occurred; it has been logged with this request's id".to_owned()
            }
            ApiError::Core(Core::Internal(fault)) => {
                tracing::error!(error = %fault, "internal fault");
                "an unexpected error occurred; it has been logged with this request's id".to_owned()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::MalformedBody { missing, .. } => Some(
                missing
                    .iter()
                    .map(|field| ProblemField {
                        field: field.clone(),
                        message: "is required".to_owned(),
                        rule: None,
                    })
                    .collect(),
            ),
            ApiError::Core(Core::Invalid(fields)) => Some(
                fields
                    .iter()
                    .map(|f| ProblemField {
                        field: f.field.clone(),
                        message: f.message.clone(),
                        rule: f.rule.as_ref().map(|rule| rule.code().to_owned()),
                    })
                    .collect(),
            ),
            _ => None,
        };
        Problem {
            kind: format!("/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

/// The status of each refusal: the state of the data refuses it (409), the caller's role may not
/// make this choice (403), a quota that frees up with time is used up (429), or a file sent is
/// too large (413) or not what it must be (422).
pub fn refusal_status(kind: RefusalKind) -> StatusCode {
    use RefusalKind as K;
    match kind {
        K::FundingChosenByAdmin | K::BankChangeNeedsAnotherPerson => StatusCode::FORBIDDEN,
        K::ExportsPerDayUsedUp | K::ExportsWaiting | K::ArchivesPerDayUsedUp => {
            StatusCode::TOO_MANY_REQUESTS
        }
        K::LogoTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        K::LogoUnreadable | K::LogoDimensions | K::LogoUnsafe | K::SecondFactorCodeWrong => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        K::SecondFactorAlreadyEnrolled | K::SecondFactorNotEnrolled => StatusCode::CONFLICT,
        K::TenantSlugTaken
        | K::TenantTerritoryTaken
        | K::ReferencePrefixTaken
        | K::UserEmailTaken
        | K::UserDisabled
        | K::LastTenantAdmin
        | K::EpnSourceTaken
        | K::SchemeCodeTaken
        | K::RulesDateTaken
        | K::FunderNameTaken
        | K::FundingDateTaken
        | K::ModuleNumberTaken
        | K::ModulesInUse
        | K::SchemeClosed
        | K::SchemeStatusChange
        | K::NoRulesInForce
        | K::SchemeNotActive
        | K::SchemeValidityEnded
        | K::NoAccompaniment
        | K::NoCollectiveProjects
        | K::NoIndividualVouchers
        | K::AllocationOverlaps
        | K::AllocationUsedUp
        | K::NoAllocation
        | K::BudgetEnvelopeUsedUp
        | K::ProbableDuplicate
        | K::BeneficiaryErased
        | K::ReferenceTaken
        | K::VoucherCancelled
        | K::VoucherExpired
        | K::VoucherClosed
        | K::VoucherAlreadyCancelled
        | K::VoucherInUse
        | K::AlreadyRegisteredHere
        | K::RegisteredElsewhere
        | K::AlreadyRegistered
        | K::NotRegisteredHere
        | K::NotRegistered
        | K::EpnNotInScheme
        | K::NoSessionLeft
        | K::SessionCancelled
        | K::SessionFull
        | K::SessionStatusChange
        | K::SessionHasAttendance
        | K::SessionNotStarted
        | K::SessionOfAnotherScheme
        | K::SessionBeforeIssue
        | K::VoucherNotValidThatDay
        | K::RecordingPeriodOver
        | K::ModuleNotChosen
        | K::AlreadyRecorded
        | K::InsufficientBalance
        | K::AttendanceAlreadyVoided
        | K::RequestAlreadyDecided
        | K::ProjectAlreadyDecided
        | K::ProjectNotApproved
        | K::JourneyNotStarted
        | K::CredentialAlreadyRevoked
        | K::StatementAlreadyDecided
        | K::StatementDoesNotAddUp
        | K::AttendanceChanged
        | K::StatementNotApproved
        | K::TreasuryAccountMissing
        | K::NothingToPay
        | K::IbanMissing
        | K::BankChangeAlreadyDecided
        | K::EmailNotRetryable
        | K::ExportFailed
        | K::ExportNotReady
        | K::ArchiveUnderWay
        | K::ArchiveNotReady
        | K::ArchiveFailed
        | K::ArchiveExpired
        | K::Duplicate => StatusCode::CONFLICT,
    }
}

impl Problem {
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_json_string();
        Response::builder()
            .status(status)
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body)
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.kind().0
    }

    fn as_response(&self) -> Response {
        let mut resp = self.problem().into_response();
        let retry_after = match self {
            ApiError::TooManyRequests { retry_after } => Some(*retry_after),
            _ if resp.status() == StatusCode::SERVICE_UNAVAILABLE => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        if let Some(seconds) = retry_after
            && let Ok(value) = seconds.to_string().parse()
        {
            resp.headers_mut()
                .insert(poem::http::header::RETRY_AFTER, value);
        }
        resp
    }
}

/// The description of an error status in the API document: what the protocol answers with it, then
/// every refusal of the domain that has this status, by problem type. Built once from the refusal
/// kinds, so the document lists a new refusal as soon as it exists.
fn described(status: StatusCode) -> &'static str {
    static DESCRIPTIONS: OnceLock<Vec<(StatusCode, String)>> = OnceLock::new();
    let all = DESCRIPTIONS.get_or_init(|| {
        let lead = |status: StatusCode| match status {
            StatusCode::FORBIDDEN => {
                "The caller's role may not call this operation (`/problems/forbidden`)"
            }
            StatusCode::CONFLICT => {
                "The rules or the data refuse the request, or an Idempotency-Key is still in \
                 progress (`/problems/idempotency-key-in-progress`)"
            }
            _ => {
                "Too many requests from this address (`/problems/too-many-requests`; public \
                 operations and sign-in); retry after `Retry-After`"
            }
        };
        [
            StatusCode::FORBIDDEN,
            StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .into_iter()
        .map(|status| {
            let refusals: Vec<String> = RefusalKind::all()
                .filter(|kind| refusal_status(*kind) == status)
                .map(|kind| format!("`/problems/{}` ({})", kind.slug(), kind.title()))
                .collect();
            let text = format!(
                "{}. Refusals of the domain with this status, each with its own problem type \
                 (served as a page at its URI): {}.",
                lead(status),
                refusals.join(", ")
            );
            (status, text)
        })
        .collect()
    });
    all.iter()
        .find(|(s, _)| *s == status)
        .map_or("An error", |(_, text)| text.as_str())
}

/// One documented error answer: a problem document with this status.
fn documented_problem(status: u16, description: &'static str) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: PROBLEM_CONTENT_TYPE,
            schema: <Problem as poem_openapi::types::Type>::schema_ref(),
        }],
        headers: vec![],
    }
}

/// What poem answers before a form page's handler runs — a body missing, malformed or too
/// large — as problem+json like every error. A page handler answers each of its own outcomes with
/// an HTML page and never returns this; it is in the handler's signature so that the OpenAPI
/// document lists those answers, without the JSON 404 of `ApiError` that would hide the page's.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct FormRejected(#[from] ApiError);

impl ResponseError for FormRejected {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        self.0.as_response()
    }
}

impl ApiResponse for FormRejected {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![
                documented_problem(400, "The form is malformed or misses a field"),
                documented_problem(413, "The form is larger than the page accepts"),
                documented_problem(415, "The body is missing or is not a form"),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

/// What a holder's page meets that is not one of its own French answers: an internal fault, as
/// problem+json. The page answers everything else itself, the database being unreachable included.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageFault(#[from] ApiError);

impl ResponseError for PageFault {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        self.0.as_response()
    }
}

impl ApiResponse for PageFault {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![documented_problem(500, "An internal fault")],
        }
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

/// What a holder's page that takes a form meets that is not one of its own French answers: a
/// form it cannot read (as `FormRejected`), or an internal fault (as `PageFault`).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageFormFault(#[from] ApiError);

impl ResponseError for PageFormFault {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        self.0.as_response()
    }
}

impl ApiResponse for PageFormFault {
    fn meta() -> MetaResponses {
        let mut meta = FormRejected::meta();
        meta.responses.extend(PageFault::meta().responses);
        meta
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

/// The errors of an operation open to anyone (no token): the same answers as `ApiError`, documented
/// without 401 and 403, which such an operation never gives.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PublicError(#[from] ApiError);

impl From<passerelle_core::Error> for PublicError {
    fn from(err: passerelle_core::Error) -> Self {
        Self(ApiError::from(err))
    }
}

impl ResponseError for PublicError {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        self.0.as_response()
    }
}

impl ApiResponse for PublicError {
    fn meta() -> MetaResponses {
        let mut meta = ApiError::meta();
        meta.responses
            .retain(|r| !matches!(r.status, Some(401 | 403)));
        meta
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

/// What poem answers before a page's GET handler runs: a query parameter that does not parse. Like
/// `FormRejected`, it documents only what such a page can meet.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct QueryRejected(#[from] ApiError);

impl ResponseError for QueryRejected {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> Response {
        self.0.as_response()
    }
}

impl ApiResponse for QueryRejected {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![documented_problem(
                400,
                "A query parameter is malformed or too long",
            )],
        }
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let response = documented_problem;
        MetaResponses {
            responses: vec![
                response(
                    400,
                    "Malformed request (bad JSON, unknown field, wrong parameter)",
                ),
                response(401, "Missing, unknown, expired or revoked bearer token"),
                response(403, described(StatusCode::FORBIDDEN)),
                response(404, "No such object in the caller's tenant"),
                response(409, described(StatusCode::CONFLICT)),
                response(413, "The request body is larger than the operation accepts"),
                response(
                    415,
                    "The body is missing or not of the content type the operation accepts",
                ),
                response(
                    422,
                    "Validation failed (see `errors`), or an Idempotency-Key reused with another request",
                ),
                response(429, described(StatusCode::TOO_MANY_REQUESTS)),
                response(
                    503,
                    "PostgreSQL is not reachable for now; retry after the `Retry-After` seconds",
                ),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        <Problem as poem_openapi::types::Type>::register(registry);
    }
}

/// Turns any error that reaches the edge into problem+json. Errors we raised keep their own
/// mapping; poem's and poem-openapi's (routing, parsing, content type, authorization) are mapped
/// by status, with the parser's message as detail and the field named when it can be told.
pub fn problem_response(err: poem::Error) -> Response {
    // The route that refused keeps its name on the answer, for the request's log line.
    let route = err.data::<poem::PathPattern>().cloned();
    let mut resp = problem_of(err);
    if let Some(route) = route {
        resp.set_data(route);
    }
    resp
}

fn problem_of(err: poem::Error) -> Response {
    if err.data::<crate::web::PortalPage>().is_some() {
        return err.into_response();
    }
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.as_response();
    }
    if let Some(public) = err.downcast_ref::<PublicError>() {
        return public.as_response();
    }
    if let Some(page) = err.downcast_ref::<QueryRejected>() {
        return page.as_response();
    }
    if let Some(form) = err.downcast_ref::<FormRejected>() {
        return form.as_response();
    }
    if let Some(fault) = err.downcast_ref::<PageFault>() {
        return fault.as_response();
    }
    let status = err.status();
    let message = err.to_string();
    let (kind, title, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "Not found", "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed", message),
        StatusCode::UNAUTHORIZED => (
            "unauthenticated",
            "Authentication required",
            ApiError::Unauthenticated.to_string(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "Unsupported content type",
            message,
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "Request body too large", message),
        s if s.is_server_error() => {
            tracing::error!(error = %message, "unhandled error");
            (
                "internal-error",
                "Internal error",
                "an unexpected error occurred".to_owned(),
            )
        }
        _ => ("bad-request", "Bad request", message),
    };
    let status = if status.is_client_error() || status.is_server_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    let errors = (status == StatusCode::BAD_REQUEST).then(|| field_errors(&detail));
    Problem {
        kind: format!("/problems/{kind}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        errors,
    }
    .into_response()
}

/// Recovers the field names poem-openapi puts in its parse errors ("unknown field `x`", "failed
/// to parse parameter `x`", "field `x` verification failed").
fn field_errors(message: &str) -> Vec<ProblemField> {
    let fields: Vec<ProblemField> = message
        .match_indices('`')
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|pair| match pair {
            [(start, _), (end, _)] => Some(&message[start + 1..*end]),
            _ => None,
        })
        .filter(|name| !name.is_empty() && !name.contains(' '))
        .map(|name| ProblemField {
            field: name.to_owned(),
            message: message.to_owned(),
            rule: None,
        })
        .collect();
    if fields.is_empty() {
        vec![ProblemField {
            field: "body".into(),
            message: message.to_owned(),
            rule: None,
        }]
    } else {
        fields
    }
}

#[cfg(test)]
mod tests {
    use passerelle_core::{Error, Refusal};
    use poem::error::ResponseError;
    use poem::http::StatusCode;

    use super::ApiError;

    #[test]
    fn faults_of_the_service_are_500s_and_refusals_have_their_own_type() {
        let fault = ApiError::from(Error::Internal("the CSV writer failed".into()));
        assert_eq!(fault.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let problem = fault.to_problem();
        assert_eq!(problem.kind, "/problems/internal-error");
        assert!(!problem.detail.contains("CSV"), "{}", problem.detail);

        let busy = ApiError::from(Error::Busy("every hashing thread is taken"));
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);

        let refused = ApiError::from(Error::from(Refusal::FundingChosenByAdmin));
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.to_problem().kind,
            "/problems/funding-chosen-by-admin"
        );
        let quota = ApiError::from(Error::from(Refusal::ExportsWaiting { limit: 3 }));
        assert_eq!(quota.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
