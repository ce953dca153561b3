//! People log in: passwords (`POST /managers/{id}/password`), `POST /auth/login`,
//! `POST /auth/logout`, and who a request acts as (`GET /auth/session`). The logic is
//! in `crate::login`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::login::password::{self, PasswordError, MAX_PASSWORD_CHARS};
use crate::login::session::{self, Session};
use crate::login::{csrf, manager_of, LoginError};
use crate::read_model::OnlyMinPosition;
use crate::state::AppState;

/// A refused login or password change: a problem, maybe with `Retry-After`.
#[derive(Debug)]
pub enum Refusal {
    /// Any problem.
    Api(ApiError),
    /// 429 `too_many_login_failures`: retry after these seconds.
    Throttled(u64),
}

impl From<ApiError> for Refusal {
    fn from(err: ApiError) -> Self {
        Refusal::Api(err)
    }
}

impl From<LoginError> for Refusal {
    fn from(err: LoginError) -> Self {
        Refusal::Api(err.into())
    }
}

impl From<PasswordError> for Refusal {
    fn from(err: PasswordError) -> Self {
        let rule = |code: &'static str, err: &PasswordError| ApiError::Rule {
            code,
            detail: err.to_string(),
        };
        Refusal::Api(match err {
            PasswordError::TooShort(_) => rule("password_too_short", &err),
            PasswordError::TooLong(_) => rule("password_too_long", &err),
            PasswordError::Nul => rule(crm_domain::codes::INVALID_TEXT, &err),
            PasswordError::UnknownManager(id) => ApiError::NotFound {
                what: format!("manager {id}"),
            },
            PasswordError::Inactive(_) => rule(crm_domain::codes::MANAGER_INACTIVE, &err),
            PasswordError::NoEmail(_) => rule("manager_has_no_email", &err),
            PasswordError::EmailInUse(_) => rule("email_in_use", &err),
            PasswordError::Store(err) => err.into(),
        })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(err) => err.into_response(),
            Refusal::Throttled(retry_after) => {
                let mut response = ApiError::Http {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "too_many_login_failures",
                    detail: format!(
                        "too many failed logins for this email or from this address; retry in {retry_after} s"
                    ),
                }
                .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
        }
    }
}

/// The one answer to an unknown email, a wrong password and an inactive manager.
fn login_failed() -> Refusal {
    Refusal::Api(ApiError::Http {
        status: StatusCode::UNAUTHORIZED,
        code: "login_failed",
        detail: "the email or the password is wrong, or this person may not log in".into(),
    })
}

/// `POST /managers/{id}/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The new password.
    #[schema(min_length = 10, max_length = 1024)]
    password: String,
    /// The manager's current password: required when he sets his own (an admin or a
    /// director setting anyone's gives none).
    #[schema(max_length = 1024)]
    current_password: Option<String>,
}

/// Sets a manager's password (he must have an email: he logs in with it). An admin or
/// a director sets anyone's; a manager his own, giving his current one. The password
/// is stored Argon2id-hashed in a table of its own, never in the log; his other
/// sessions end.
#[utoipa::path(
    operation_id = "set_manager_password", post, path = "/managers/{id}/password", tag = "managers",
    request_body = SetPassword,
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "the password is set"),
        (status = 403, description = "`forbidden` (another's password, not being an admin or a director), `current_password_required`, `current_password_wrong`"),
        (status = 404),
        (status = 422),
        (status = 429, description = "`too_many_login_failures`: too many wrong current passwords (see Retry-After)")),
    security(("bearer" = []), ("session" = [])))]
pub async fn set_password(
    State(state): State<AppState>,
    actor: Actor,
    session: Option<Extension<Session>>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SetPassword>,
) -> Result<StatusCode, Refusal> {
    let privileged = matches!(
        actor.role,
        crate::access::Role::Admin | crate::access::Role::Director
    );
    let himself = actor.manager_id == Some(id);
    if !privileged && !himself {
        return Err(ApiError::forbidden(
            "only an admin or a director sets another manager's password",
        )
        .into());
    }
    password::check_shape(&body.password)?;
    // The document bounds current_password even where it is not needed: an admin's
    // over-long one is refused like anyone's, not ignored.
    if let Some(current) = &body.current_password {
        let chars = current.chars().count();
        if chars > password::MAX_PASSWORD_CHARS {
            return Err(password::PasswordError::TooLong(chars).into());
        }
    }
    if !privileged {
        let Some(current) = body.current_password else {
            return Err(ApiError::Forbidden {
                code: "current_password_required",
                detail: "a manager setting his own password gives his current one \
                         (current_password)"
                    .into(),
            }
            .into());
        };
        check_current(&state, id, current).await?;
    }
    // Refused before the slow hash when he cannot have a password.
    password::email_to_log_in_with(&state.log, id).await?;
    let new = body.password;
    let hashed = state.logins.hashing(move || password::hash(&new)).await??;
    // His own session goes on; every other ends.
    let keep = session.filter(|_| himself).map(|Extension(s)| s.hash);
    password::store(&state.log, id, &hashed, &actor.name(), keep.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the current password `given` of manager `id`, counted like a login for his
/// email (or id, when he has none).
async fn check_current(state: &AppState, id: Uuid, given: String) -> Result<(), Refusal> {
    let stored: Option<(String, String)> =
        sqlx::query_as("SELECT email, password_hash FROM api.passwords WHERE manager_id = $1")
            .bind(id)
            .fetch_optional(state.log.pool())
            .await
            .map_err(ApiError::from)?;
    let key = stored
        .as_ref()
        .map_or_else(|| id.to_string(), |(email, _)| email.trim().to_lowercase());
    let logins = &state.logins;
    logins.by_email.check(&key).map_err(Refusal::Throttled)?;
    let hash = stored.map(|(_, h)| h);
    let right = match hash {
        Some(hash) if given.chars().count() <= MAX_PASSWORD_CHARS => {
            logins
                .hashing(move || password::verify(&given, &hash))
                .await?
        }
        _ => false,
    };
    if right {
        return Ok(());
    }
    logins.by_email.record(key);
    Err(ApiError::Forbidden {
        code: "current_password_wrong",
        detail: "current_password is not his password (or he has none yet: an admin or a \
                 director sets the first)"
            .into(),
    }
    .into())
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogIn {
    /// The manager's email (any case).
    #[schema(max_length = 200)]
    email: String,
    /// His password.
    #[schema(max_length = 1024)]
    password: String,
}

/// Who a session or token acts as.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// The manager (none for a token without one).
    manager_id: Option<Uuid>,
    /// His name.
    name: Option<String>,
    /// The role he acts with.
    role: String,
    /// The session's CSRF token, to send as `X-CSRF-Token` with every write made with
    /// the session cookie (none with a bearer token).
    csrf_token: Option<String>,
}

/// Logs a manager in: 200 with who he is and a session cookie (`HttpOnly`,
/// `SameSite=Strict`, `Path=/`, `Secure` when configured). An unknown email, a wrong
/// password and an inactive manager get the same 401 `login_failed`; repeated failures
/// for one email or from one address a 429 `too_many_login_failures` with
/// `Retry-After`, whatever the password; a page of another origin a 403
/// `cross_origin_request`.
#[utoipa::path(
    operation_id = "log_in", post, path = "/auth/login", tag = "auth", request_body = LogIn,
    responses(
        (status = 200, body = SessionInfo, description = "logged in: the session cookie is set",
            headers(("set-cookie" = String, description = "`crm_session=…; Path=/; HttpOnly; SameSite=Strict[; Secure]`"))),
        (status = 401, description = "`login_failed`: unknown email, wrong password or inactive manager, alike"),
        (status = 403, description = "`cross_origin_request`: sent by a page of another origin"),
        (status = 422),
        (status = 429, description = "`too_many_login_failures`: too many failed logins for this email or from this address (see Retry-After)")))]
pub async fn login(
    State(state): State<AppState>,
    connected: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LogIn>,
) -> Result<Response, Refusal> {
    let logins = &state.logins;
    let settings = &logins.settings;
    csrf::check_origin(&headers, &settings.allowed_origins)?;
    let email = body.email.trim().to_lowercase();
    let address = crate::failed_auth::counted_as(connected.map(|Extension(c)| c.0.ip()));
    let waits = [
        logins.by_email.check(&email).err(),
        logins.by_address.check(&address).err(),
    ];
    if let Some(wait) = waits.into_iter().flatten().max() {
        return Err(Refusal::Throttled(wait));
    }
    let pool = state.log.pool();
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT manager_id, password_hash FROM api.passwords WHERE lower(email) = lower($1)",
    )
    .bind(body.email.trim())
    .fetch_optional(pool)
    .await
    .map_err(ApiError::from)?;
    // An unknown email costs the same hash as a wrong password.
    let (candidate, stored) = match found {
        Some((id, hash)) => (Some(id), hash),
        None => (None, password::dummy_hash().to_owned()),
    };
    let given = body.password;
    let right = given.chars().count() <= MAX_PASSWORD_CHARS
        && logins
            .hashing(move || password::verify(&given, &stored))
            .await?;
    let manager = match (right, candidate) {
        (true, Some(id)) => manager_of(&state.log, id).await?.filter(|m| m.active),
        _ => None,
    };
    let Some(manager) = manager else {
        logins.by_email.record(email);
        logins.by_address.record(address);
        return Err(login_failed());
    };
    logins.by_email.clear(&email);
    let value = session::create(pool, manager.id, settings.idle_timeout).await?;
    let secure = settings.secure_cookies || forwarded_https(&headers);
    let info = SessionInfo {
        manager_id: Some(manager.id),
        name: Some(manager.name),
        role: manager.role.name().to_owned(),
        csrf_token: Some(session::csrf_token(&value)),
    };
    let mut response = Json(info).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::SET_COOKIE, session::set_cookie(&value, secure)?);
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// True when a proxy in front says the request came over TLS.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Logs out: the request's session ends (a write: with the session cookie it carries
/// `X-CSRF-Token`) and its cookie is removed. With a bearer token there is no session
/// to end.
#[utoipa::path(
    operation_id = "log_out", post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "the session is over and its cookie removed",
        headers(("set-cookie" = String, description = "`crm_session=; …; Max-Age=0`")))),
    security(("bearer" = []), ("session" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    _actor: Actor,
    session: Option<Extension<Session>>,
) -> Result<Response, ApiError> {
    if let Some(Extension(session)) = session {
        session::end(state.log.pool(), &session.hash).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(state.logins.settings.secure_cookies),
    );
    Ok(response)
}

/// Who the request acts as: the session's manager (with its CSRF token) or the bearer
/// token's owner.
#[utoipa::path(
    operation_id = "session", get, path = "/auth/session", tag = "auth",
    responses((status = 200, body = SessionInfo)),
    security(("bearer" = []), ("session" = [])))]
pub async fn current(
    State(state): State<AppState>,
    actor: Actor,
    session: Option<Extension<Session>>,
    ApiQuery(OnlyMinPosition { read }): ApiQuery<OnlyMinPosition>,
) -> Result<Json<SessionInfo>, ApiError> {
    read.log(&state).await?;
    let name = match actor.manager_id {
        Some(id) => manager_of(&state.log, id).await?.map(|m| m.name),
        None => None,
    };
    Ok(Json(SessionInfo {
        manager_id: actor.manager_id,
        name,
        role: actor.role.name().to_owned(),
        csrf_token: session.map(|Extension(s)| s.csrf_token),
    }))
}
