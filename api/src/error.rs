//! The API's one error type and its problem+json (RFC 9457) rendering.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use crm_domain::DomainError;
use crm_eventlog::EventLogError;
use crm_projections::ProjectionError;
use serde_json::{json, Map, Value};

use crate::commands::CommandError;

/// Every way a request can fail, each with its status and stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body, the query or a path parameter is malformed.
    #[error("{detail}")]
    BadRequest {
        /// Stable machine word.
        code: &'static str,
        /// What is wrong, for a person.
        detail: String,
    },
    /// 401: no bearer token, or not a valid one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 403: the token's owner may not do this.
    #[error("{detail}")]
    Forbidden {
        /// Stable machine word: `forbidden`, or a more precise one.
        code: &'static str,
        /// What is refused and why, for a person.
        detail: String,
    },
    /// 404: an entity or stream that does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `deal 9f…`.
        what: String,
    },
    /// 409: the entity is not at the version the request expected.
    #[error("{stream} is at version {current}, not {expected}")]
    VersionConflict {
        /// The entity's stream.
        stream: String,
        /// What the request expected.
        expected: String,
        /// Its current version.
        current: i64,
    },
    /// 409: an idempotency key or event id reused with other content.
    #[error("{detail}")]
    Reused {
        /// Stable machine word.
        code: &'static str,
        /// What was reused.
        detail: String,
    },
    /// 413: the body is larger than the server accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the body is not JSON.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 422: a domain rule refused the command.
    #[error("{detail}")]
    Rule {
        /// Stable machine word naming the rule.
        code: &'static str,
        /// What the rule says, for a person.
        detail: String,
    },
    /// 422: a custom projection's definition is unsound; each problem names its part.
    #[error("the projection definition is invalid: {}", first_problem(.0))]
    InvalidDefinition(Vec<crm_projections::custom::Problem>),
    /// 409: a custom projection is still being built for the first time.
    #[error("custom projection {name} is still being built ({applied} of {total} events); retry shortly")]
    Building {
        /// The projection.
        name: String,
        /// Events applied so far.
        applied: i64,
        /// Events to apply.
        total: i64,
    },
    /// 409: a custom projection's stored definition no longer passes the check (it
    /// was appended by older code): it is not built until redefined.
    #[error("custom projection {name} is not built: its definition is refused ({detail}); redefine or drop it")]
    DefinitionRefused {
        /// The projection.
        name: String,
        /// The reasons.
        detail: String,
    },
    /// 503: a read model stopped on an event before the asked `min_position`; it keeps
    /// answering without `min_position`, and catches up once an operator repairs it.
    #[error("the read model {name} failed on the event at position {failed_position} and cannot reach position {position} until it is repaired (crm projection skip|sanitize)")]
    ProjectionFailed {
        /// The read model.
        name: String,
        /// The position asked for.
        position: i64,
        /// The position of the event it failed on.
        failed_position: i64,
    },
    /// 503: a read model did not reach the asked `min_position` in time.
    #[error("the read model {name} has not caught up with position {position} yet; retry shortly")]
    Lagging {
        /// The read model.
        name: String,
        /// The position asked for.
        position: i64,
    },
    /// 503: the feed could not deliver the asked `min_position` in time (an older
    /// transaction was still open).
    #[error("the feed cannot deliver position {position} yet: an older transaction is still open; retry shortly")]
    FeedLagging {
        /// The position asked for.
        position: i64,
    },
    /// 503: an erasure is recorded and its keys destroyed, but a read model did not
    /// apply it in time (it may be failed or stopped).
    #[error("the erasure is recorded at position {position} and the keys are destroyed: values read from the log show [erased] from now on; but the read models {names} have not applied it yet (failed or stopped? see GET /projections) and may still show the erased values until they do; erasing again appends nothing and waits again")]
    ErasurePending {
        /// The erasure's position.
        position: i64,
        /// The read models found behind, comma-separated.
        names: String,
    },
    /// 503: the server handles as many requests as it may at once; retry after
    /// `retry_after` seconds.
    #[error("the server is handling as many requests as it can; retry in {retry_after} s")]
    Overloaded {
        /// Seconds to wait (also in `Retry-After`).
        retry_after: u64,
    },
    /// 429: this client has as many requests in flight as one client may.
    #[error("too many requests in flight for this client; retry in {retry_after} s")]
    TooManyRequests {
        /// Seconds to wait (also in `Retry-After`).
        retry_after: u64,
    },
    /// 429: too many failed authentications from this address lately.
    #[error("too many failed authentications from this address; retry in {retry_after} s")]
    AuthThrottled {
        /// Seconds to wait (also in `Retry-After`).
        retry_after: u64,
    },
    /// 408: the request (its body, or its handling) took longer than the server allows.
    #[error("the request took longer than the server allows")]
    RequestTimeout,
    /// 503: PostgreSQL is unreachable for now.
    #[error("the event store is unavailable; retry later")]
    Unavailable,
    /// 405: the route exists, not with this method (the `Allow` header lists its methods).
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The method asked.
        method: String,
        /// The path asked.
        path: String,
    },
    /// Any other error status a layer answered with, as a problem like the rest.
    #[error("{detail}")]
    Http {
        /// The status.
        status: StatusCode,
        /// Stable machine word.
        code: &'static str,
        /// What went wrong, for a person.
        detail: String,
    },
    /// 500: a fault of ours; the cause is logged where the answer is made, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 500 caused by `cause` (logged, never shown).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(cause.into())
    }

    /// A 400 with `code` and `detail`.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    /// A 403 with code `forbidden` and `detail`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::VersionConflict { .. } | ApiError::Reused { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Rule { .. } | ApiError::InvalidDefinition(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Building { .. } | ApiError::DefinitionRefused { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable
            | ApiError::Lagging { .. }
            | ApiError::ProjectionFailed { .. }
            | ApiError::FeedLagging { .. }
            | ApiError::ErasurePending { .. }
            | ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } | ApiError::AuthThrottled { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Http { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine word of the problem.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Http { code, .. }
            | ApiError::Reused { code, .. }
            | ApiError::Rule { code, .. }
            | ApiError::Forbidden { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound { .. } => "not_found",
            ApiError::VersionConflict { .. } => "version_conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unavailable => "storage_unavailable",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::AuthThrottled { .. } => "too_many_failed_authentications",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Lagging { .. } | ApiError::FeedLagging { .. } => "projection_lagging",
            ApiError::ErasurePending { .. } => "erasure_pending",
            ApiError::InvalidDefinition(_) => "invalid_definition",
            ApiError::Building { .. } => "projection_building",
            ApiError::DefinitionRefused { .. } => "definition_refused",
            ApiError::ProjectionFailed { .. } => "projection_failed",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The problem document.
    pub fn problem(&self) -> Value {
        let status = self.status();
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("/problems/{}", self.code())));
        body.insert(
            "title".into(),
            json!(status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("status".into(), json!(status.as_u16()));
        body.insert("detail".into(), json!(self.to_string()));
        body.insert("code".into(), json!(self.code()));
        if let ApiError::VersionConflict { current, .. } = self {
            body.insert("current_version".into(), json!(current));
        }
        if let ApiError::InvalidDefinition(problems) = self {
            body.insert("errors".into(), json!(problems));
        }
        if let ApiError::ErasurePending { position, .. } = self {
            body.insert("position".into(), json!(position));
        }
        Value::Object(body)
    }
}

/// The first problem of a definition, as `path: message`.
fn first_problem(problems: &[crm_projections::custom::Problem]) -> String {
    match problems.first() {
        Some(p) if p.path.is_empty() => p.message.clone(),
        Some(p) => format!("{}: {}", p.path, p.message),
        None => "no detail".into(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %Chain(cause.as_ref()), "request failed")
            }
            ApiError::Unavailable => {
                tracing::warn!("request refused: the event store is unavailable")
            }
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::Overloaded { retry_after }
        | ApiError::TooManyRequests { retry_after }
        | ApiError::AuthThrottled { retry_after } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<EventLogError> for ApiError {
    fn from(err: EventLogError) -> Self {
        match err {
            EventLogError::Conflict {
                stream,
                expected,
                actual,
            } => ApiError::VersionConflict {
                stream,
                expected: expected.to_string(),
                current: actual,
            },
            EventLogError::Duplicate { event_id } => ApiError::Reused {
                code: "duplicate_event",
                detail: format!("event {event_id} is already stored with other content"),
            },
            EventLogError::NotFound { stream } => ApiError::NotFound {
                what: format!("stream {stream}"),
            },
            EventLogError::Invalid(detail) => ApiError::bad_request("invalid", detail),
            EventLogError::Unavailable(_) => ApiError::Unavailable,
            EventLogError::SubjectErased { subject } => ApiError::Rule {
                code: crm_domain::codes::SUBJECT_ERASED,
                detail: format!(
                    "the personal data of {subject} was erased; it takes no new personal data"
                ),
            },
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

/// A read model's failure: a 503 while the database is unreachable, else a 500.
impl From<ProjectionError> for ApiError {
    fn from(err: ProjectionError) -> Self {
        if err.is_transient() {
            ApiError::Unavailable
        } else {
            ApiError::Internal(Box::new(err))
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        EventLogError::from(err).into()
    }
}

/// An error and its sources, `: `-separated, for the log.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match &err {
            DomainError::NotFound { entity, id } => ApiError::NotFound {
                what: format!("{entity} {id}"),
            },
            DomainError::AlreadyExists { .. } => ApiError::Reused {
                code: err.code(),
                detail: err.to_string(),
            },
            _ => ApiError::Rule {
                code: err.code(),
                detail: err.to_string(),
            },
        }
    }
}

/// The one place a command's failure becomes an HTTP answer.
impl From<CommandError> for ApiError {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::Forbidden(refused) => refused.into(),
            CommandError::Domain(err) => err.into(),
            CommandError::Invalid { code, detail } => ApiError::BadRequest { code, detail },
            CommandError::VersionConflict {
                stream,
                expected,
                current,
            } => ApiError::VersionConflict {
                stream,
                expected: expected.to_string(),
                current,
            },
            CommandError::Log(err) => err.into(),
            CommandError::Projection(err) => err.into(),
            CommandError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
