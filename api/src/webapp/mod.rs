//! The web app for people (issue 16, "The app"): server-rendered HTML pages under `/`
//! and `/ui/…`, each figure read by the same read-model queries, with the same reach,
//! as the API's reports (or, for entities, by the API's own handlers): what a person
//! sees follows his role and reach exactly as the API does.
//!
//! - [`page`]: the request's context (session, language, money format) and answers.
//! - [`layout`]: the page shell: top bar, menu, language switch, logout.
//! - [`i18n`]: English and Ukrainian words (the glossary's), money and dates.
//! - [`chart`]: bar charts drawn as SVG on the server, each with its table.
//! - [`assets`]: the one CSS and one JS file, embedded, served with an ETag.
//! - [`live`]: the server-sent events that tell an open page to refresh, fed by
//!   [`follower`], the one follower of the log.
//! - [`form`]: a form posted from a page, checked for the session's CSRF token.
//! - [`reports`], [`entities`], [`audit`], [`login`]: the pages; [`figures`]: the
//!   events behind a figure of the managers page; [`custom`]: the analyst's custom
//!   projections (define, watch, browse).

pub mod assets;
pub mod audit;
pub mod chart;
pub mod custom;
pub mod entities;
pub mod figures;
pub mod follower;
pub mod form;
pub mod i18n;
pub mod layout;
pub mod live;
pub mod login;
pub mod page;
pub mod reports;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The money and locale settings of a deployment (the environment `CRM_CURRENCY`,
/// `CRM_LOCALE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// The ISO 4217 code of the deployment's one currency (amounts are its minor units).
    pub currency: String,
    /// How numbers and money are written: `uk` (1 234,56 ₴) or `en` (₴1,234.56).
    pub locale: String,
}

impl Default for WebSettings {
    /// Hryvnias, written the Ukrainian way.
    fn default() -> Self {
        WebSettings {
            currency: "UAH".into(),
            locale: "uk".into(),
        }
    }
}

impl WebSettings {
    /// The settings the environment gives (`CRM_CURRENCY`, `CRM_LOCALE`), else the defaults.
    pub fn from_env() -> Self {
        let default = WebSettings::default();
        WebSettings {
            currency: std::env::var("CRM_CURRENCY")
                .ok()
                .filter(|c| !c.trim().is_empty())
                .unwrap_or(default.currency),
            locale: std::env::var("CRM_LOCALE")
                .ok()
                .filter(|c| !c.trim().is_empty())
                .unwrap_or(default.locale),
        }
    }
}

/// The web app's routes over `state`, answering with the security headers; `api` is the
/// API's router, which the entity pages ask in process (so they show what the API shows).
pub fn router(state: AppState, api: Router) -> Router {
    let web = page::Web::new(state.clone(), api, WebSettings::from_env());
    Router::new()
        .route("/", get(login::page).post(login::submit))
        .route("/ui", get(reports::home))
        .route("/ui/", get(reports::home))
        .route("/ui/lang", get(page::switch_language))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/live", get(live::events))
        .route("/ui/funnel", get(reports::funnel))
        .route("/ui/conversion", get(reports::conversion))
        .route("/ui/managers", get(reports::managers))
        .route("/ui/managers/{id}/events", get(figures::events))
        .route("/ui/overdue", get(reports::overdue))
        .route("/ui/loss-reasons", get(reports::loss_reasons))
        .route("/ui/forecast", get(reports::forecast))
        .route("/ui/revenue", get(reports::revenue))
        .route("/ui/deals", get(entities::deals))
        .route("/ui/deals/{id}", get(entities::deal))
        .route("/ui/clients", get(entities::clients))
        .route("/ui/clients/{id}", get(entities::client))
        .route("/ui/leads", get(entities::leads))
        .route("/ui/tasks", get(entities::tasks))
        .route("/ui/audit", get(audit::audit))
        .route("/ui/export", get(audit::export))
        .route("/ui/projections", get(audit::projections))
        .route(
            "/ui/projections/new",
            get(custom::new_form).post(custom::define),
        )
        .route(
            "/ui/projections/{name}",
            get(custom::projection).post(custom::redefine),
        )
        .route("/ui/projections/{name}/rows.csv", get(audit::rows_csv))
        .with_state(web)
        .layer(axum::middleware::from_fn(security_headers))
}

/// The Content-Security-Policy of every page: scripts, styles, images and connections
/// from the server itself only; no inline script or style; never in a frame.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// Adds the security headers to every answer of the web app.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}
