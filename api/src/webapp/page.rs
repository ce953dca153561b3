//! What every page handler shares: the app's state, the request's context (who, which
//! language, which address), in-process calls to the API, and the answers (a page, a
//! redirect to the login, an error in plain words).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use http_body_util::BodyExt;
use maud::Markup;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

use tokio::sync::OnceCell;

use super::follower::Follower;
use super::i18n::{Lang, Money};
use super::WebSettings;
use crate::access::{Reach, Role};
use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;

/// The web app's state: the API's, the API's router (asked in process) and the
/// deployment's money settings.
#[derive(Clone)]
pub struct Web {
    /// The API's state.
    pub state: AppState,
    /// The API's router, for the pages that show an API answer as it is.
    pub api: Router,
    /// Currency and locale.
    pub settings: WebSettings,
    /// The one follower of the log the live streams listen to, started on first use.
    follower: Arc<OnceCell<Arc<Follower>>>,
}

impl Web {
    /// The web app over `state`.
    pub fn new(state: AppState, api: Router, settings: WebSettings) -> Self {
        Web {
            state,
            api,
            settings,
            follower: Arc::default(),
        }
    }

    /// The web app's follower of the log, started by the first caller.
    pub async fn follower(&self) -> Result<Arc<Follower>, ApiError> {
        self.follower
            .get_or_try_init(|| Follower::start(&self.state))
            .await
            .cloned()
    }
}

impl FromRef<Web> for AppState {
    fn from_ref(web: &Web) -> AppState {
        web.state.clone()
    }
}

/// The language cookie's name.
pub const LANG_COOKIE: &str = "crm_lang";

/// Who asks, in which language, for which address.
pub struct Ctx {
    /// The actor (session or token), as the API sees him.
    pub actor: Actor,
    /// His role.
    pub role: Option<Role>,
    /// His name (the manager's, or the role's for a token without one).
    pub name: String,
    /// The page's language.
    pub lang: Lang,
    /// The deployment's money format.
    pub money: Money,
    /// The session's CSRF token (for logout), if a session.
    pub csrf: Option<String>,
    /// The request's path and query (for the language switch and the live refresh).
    pub here: String,
    /// The cookie header, passed on to in-process API calls.
    cookie: Option<HeaderValue>,
    /// The authorization header, passed on to in-process API calls.
    authorization: Option<HeaderValue>,
    /// The query's parameters.
    pub query: HashMap<String, String>,
    /// The app.
    pub web: Web,
}

/// The language of a request: the `crm_lang` cookie, else `Accept-Language`, else English.
pub fn language(parts: &Parts) -> Lang {
    let cookie = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LANG_COOKIE)
        .map(|(_, value)| value.trim().to_owned());
    if let Some(lang) = cookie.as_deref().and_then(Lang::parse) {
        return lang;
    }
    let accept = parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first language named that we speak.
    accept
        .split(',')
        .filter_map(|part| part.split(';').next())
        .filter_map(|tag| Lang::parse(tag.trim().split('-').next().unwrap_or("")))
        .next()
        .unwrap_or(Lang::En)
}

/// The path and query a request asked for.
fn here(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// Where to log in to come back to `here`.
pub fn login_address(here: &str) -> String {
    format!("/?next={}", encode(here))
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl FromRequestParts<Web> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let lang = language(parts);
        let here = here(parts);
        let actor = match Actor::from_request_parts(parts, &web.state).await {
            Ok(actor) => actor,
            Err(ApiError::Unauthorized) => {
                return Err(Redirect::to(&login_address(&here)).into_response())
            }
            Err(err) => return Err(error_page(lang, &err)),
        };
        let query = Query::<HashMap<String, String>>::from_request_parts(parts, web)
            .await
            .map(|q| q.0)
            .unwrap_or_default();
        let name = match actor.manager_id {
            Some(id) => crm_projections::managers::team_member(web.state.log.pool(), id)
                .await
                .ok()
                .flatten()
                .map_or_else(|| id.to_string(), |m| m.name),
            None => actor.role.name().to_owned(),
        };
        let csrf = crate::login::session::cookie(&parts.headers)
            .filter(|_| !parts.headers.contains_key(header::AUTHORIZATION))
            .map(crate::login::session::csrf_token);
        Ok(Ctx {
            role: Some(actor.role),
            actor,
            name,
            lang,
            money: Money::new(&web.settings),
            csrf,
            here,
            cookie: parts.headers.get(header::COOKIE).cloned(),
            authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
            query,
            web: web.clone(),
        })
    }
}

/// What a page handler answers with.
pub type PageResult = Result<Markup, ApiError>;

impl Ctx {
    /// A query parameter, when given and not empty.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A query parameter as a UUID: a 400 in words when it is not one.
    pub fn uuid(&self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.param(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request("invalid_query", format!("{name} is not a valid id"))
                })
            })
            .transpose()
    }

    /// A query parameter as a time: a date (its midnight UTC) or an RFC 3339 time.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.param(name).map(|v| parse_time(name, v)).transpose()
    }

    /// The API's reach for this actor.
    pub async fn reach(&self) -> Result<Reach, ApiError> {
        crate::access::report_reach(&self.web.state, &self.actor).await
    }

    /// Waits until read model `name` reflects `min_position` (the live refresh asks so).
    pub async fn reflects(&self, name: &str) -> Result<(), ApiError> {
        let min = self
            .param("min_position")
            .and_then(|v| v.parse::<i64>().ok());
        crate::read_model::reflects(&self.web.state, name, min).await
    }

    /// The role may open a page meant for `roles`: else a 403 in words.
    pub fn may(&self, roles: &[Role]) -> Result<(), ApiError> {
        match self.role {
            Some(role) if roles.contains(&role) => Ok(()),
            _ => Err(ApiError::forbidden("This page is not for your role.")),
        }
    }

    /// The API's answer to `GET path_and_query`, asked in process as this person: the
    /// same handler, reach and hidden fields as a program gets.
    pub async fn api_get(&self, path_and_query: &str) -> Result<Value, ApiError> {
        let (status, value) = self.api_read(path_and_query).await?;
        if status.is_success() {
            return Ok(value);
        }
        Err(refusal(status, &value))
    }

    /// The API's status and JSON answer (a problem document when refused) to
    /// `GET path_and_query`, asked in process as this person: for a page that shows a
    /// refusal its own way (a projection still being built).
    pub async fn api_read(&self, path_and_query: &str) -> Result<(StatusCode, Value), ApiError> {
        self.api_request(Method::GET, path_and_query, None, None)
            .await
    }

    /// The API's status and JSON answer to `method path_and_query` with the JSON
    /// `body`, asked in process as this person (his bearer token, else his session
    /// cookie with `csrf`, the session's CSRF token, which only a write checked by
    /// [`super::form::Posted`] passes on).
    pub(super) async fn api_request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        csrf: Option<&str>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let mut request = Request::builder().method(method).uri(path_and_query);
        if let Some(auth) = &self.authorization {
            request = request.header(header::AUTHORIZATION, auth.clone());
        } else if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie.clone());
            if let Some(csrf) = csrf {
                request = request.header(crate::login::csrf::CSRF_HEADER, csrf);
            }
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let request = request
            .body(body)
            .map_err(|e| ApiError::internal(format!("an in-process request: {e}")))?;
        let response = match self.web.api.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiError::internal(format!("an in-process answer: {e}")))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }
}

/// The error of an API refusal `status` with its problem document `problem`, for a
/// page to explain in words.
pub fn refusal(status: StatusCode, problem: &Value) -> ApiError {
    let detail = problem["detail"].as_str().unwrap_or("").to_owned();
    match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::NOT_FOUND => ApiError::NotFound { what: detail },
        StatusCode::FORBIDDEN => ApiError::forbidden(detail),
        StatusCode::BAD_REQUEST => ApiError::bad_request("invalid_query", detail),
        _ => ApiError::internal(format!("the API answered {status}: {detail}")),
    }
}

/// A date (midnight UTC) or an RFC 3339 time; a 400 in words otherwise.
pub fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(ApiError::bad_request(
        "invalid_query",
        format!("{name} must be a date like 2026-03-01"),
    ))
}

/// The named period presets, each `[from, to)` in UTC dates, for `today`.
pub fn presets(today: NaiveDate) -> Vec<(&'static str, NaiveDate, NaiveDate)> {
    let day = Duration::days(1);
    let week_start = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let month_start = today.with_day(1).unwrap_or(today);
    let next_month = add_months(month_start, 1);
    let quarter_start = NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1)
        .unwrap_or(month_start);
    vec![
        ("today", today, today + day),
        ("yesterday", today - day, today),
        ("this_week", week_start, week_start + Duration::days(7)),
        ("previous_week", week_start - Duration::days(7), week_start),
        ("this_month", month_start, next_month),
        ("previous_month", add_months(month_start, -1), month_start),
        ("this_quarter", quarter_start, add_months(quarter_start, 3)),
        (
            "previous_quarter",
            add_months(quarter_start, -3),
            quarter_start,
        ),
    ]
}

/// The first of the month `months` after `first` (a first of a month).
fn add_months(first: NaiveDate, months: i32) -> NaiveDate {
    let index = first.year() * 12 + first.month0() as i32 + months;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(first)
}

/// The period a page shows: `from`/`to` when given, else `preset`, else this month.
pub fn period(ctx: &Ctx) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let today = Utc::now().date_naive();
    let day = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
        ctx.param(name)
            .map(|v| {
                NaiveDate::parse_from_str(v.get(..10).unwrap_or(v), "%Y-%m-%d").map_err(|_| {
                    ApiError::bad_request(
                        "invalid_period",
                        format!("{name} must be a date like 2026-03-01"),
                    )
                })
            })
            .transpose()
    };
    if let (Some(from), Some(to)) = (day("from")?, day("to")?) {
        if from >= to {
            return Err(ApiError::bad_request(
                "invalid_period",
                "The start of the period must be before its end.",
            ));
        }
        return Ok((from, to));
    }
    let name = ctx.param("preset").unwrap_or("this_month");
    let all = presets(today);
    let (_, from, to) = all
        .iter()
        .find(|(n, _, _)| *n == name)
        .or_else(|| all.iter().find(|(n, _, _)| *n == "this_month"))
        .copied()
        .unwrap_or(("this_month", today, today + Duration::days(1)));
    Ok((from, to))
}

/// A page as an HTML answer.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page's answer: the page, or the error in plain words inside the layout.
pub fn answer(ctx: &Ctx, result: PageResult) -> Response {
    match result {
        Ok(markup) => html(StatusCode::OK, markup),
        Err(ApiError::Unauthorized) => Redirect::to(&login_address(&ctx.here)).into_response(),
        Err(err) => {
            let (title, what_next) = super::i18n::explain(ctx.lang, &err);
            html(
                err.status(),
                super::layout::page(
                    ctx,
                    title,
                    maud::html! {
                        div.error role="alert" {
                            h1 { (title) }
                            p { (what_next) }
                            @if let Some(detail) = public_detail(&err) { p.detail { (detail) } }
                        }
                    },
                ),
            )
        }
    }
}

/// What an error may tell a person (never a 5xx's cause).
fn public_detail(err: &ApiError) -> Option<String> {
    if err.status().is_server_error() {
        return None;
    }
    err.problem()["detail"].as_str().map(str::to_owned)
}

/// An error before the context is known (no layout: a bare page in words).
pub fn error_page(lang: Lang, err: &ApiError) -> Response {
    let (title, what_next) = super::i18n::explain(lang, err);
    html(
        err.status(),
        maud::html! {
            (maud::DOCTYPE)
            html lang=(lang.code()) {
                head { meta charset="utf-8"; title { (title) } link rel="stylesheet" href=(super::assets::css_href()); }
                body { main.error role="alert" { h1 { (title) } p { (what_next) } p { a href="/" { "↩" } } } }
            }
        },
    )
}

/// `GET /ui/lang?to=uk&back=/ui/funnel`: sets the language cookie and goes back.
pub async fn switch_language(Query(query): Query<HashMap<String, String>>) -> Response {
    let lang = query
        .get("to")
        .and_then(|v| Lang::parse(v))
        .unwrap_or(Lang::En);
    let back = query
        .get("back")
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .cloned()
        .unwrap_or_else(|| "/ui".to_owned());
    let mut response = Redirect::to(&back).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
