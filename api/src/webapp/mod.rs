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
//! - [`reports`], [`overdue`], [`entities`], [`audit`], [`login`]: the pages; [`figures`]: the
//!   events behind a figure of the managers page; [`custom`]: the analyst's custom
//!   projections (define, watch, browse); [`automation`]: the rules (define, disable);
//!   [`sales`]: a manager's day (his home, his page), the month's plans, duplicate
//!   clients and their merge.

pub mod assets;
pub mod audit;
pub mod automation;
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
pub mod overdue;
pub mod page;
pub mod reports;
pub mod sales;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The money and locale settings of a deployment, given by whoever builds the state
/// (`crm serve --currency --locale`; [`crate::state::AppState::with_web_settings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// The ISO 4217 code of the deployment's one currency (amounts are its minor units).
    pub currency: String,
    /// How numbers and money are written: `uk` (1 234,56 ₴) or `en` (₴1,234.56).
    pub locale: String,
}

/// The currency when none is given: hryvnias.
pub const DEFAULT_CURRENCY: &str = "UAH";

/// The locale when none is given: Ukrainian.
pub const DEFAULT_LOCALE: &str = "uk";

impl Default for WebSettings {
    /// Hryvnias, written the Ukrainian way.
    fn default() -> Self {
        WebSettings {
            currency: DEFAULT_CURRENCY.into(),
            locale: DEFAULT_LOCALE.into(),
        }
    }
}

/// A currency or locale the web app cannot write money in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWebSetting {
    /// Not an ISO 4217 code.
    #[error("currency {0:?} is not an ISO 4217 code: 3 ASCII letters, like UAH, USD or EUR")]
    Currency(String),
    /// Not a locale the app writes.
    #[error(
        "locale {0:?} is not one the web app knows: en or uk (a region may follow, like en-US)"
    )]
    Locale(String),
}

impl WebSettings {
    /// The settings of `currency` and `locale`, each checked ([`currency`], [`locale`]).
    pub fn new(currency: &str, locale: &str) -> Result<Self, InvalidWebSetting> {
        Ok(WebSettings {
            currency: self::currency(currency)?,
            locale: self::locale(locale)?,
        })
    }
}

/// A currency code as the web app keeps it: 3 ASCII letters, upper-cased (`usd` → `USD`).
pub fn currency(code: &str) -> Result<String, InvalidWebSetting> {
    let code = code.trim();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(InvalidWebSetting::Currency(code.to_owned()))
    }
}

/// A locale tag as the web app keeps it: its language (one of [`i18n::Lang`]), with
/// any region after `-` or `_` (`en-US`, `uk_UA`) dropped.
pub fn locale(tag: &str) -> Result<String, InvalidWebSetting> {
    let language = tag.trim().split(['-', '_']).next().unwrap_or("");
    i18n::Lang::parse(language)
        .map(|lang| lang.code().to_owned())
        .ok_or_else(|| InvalidWebSetting::Locale(tag.trim().to_owned()))
}

/// The web app's routes over `state` (money written as its [`WebSettings`] say),
/// answering with the security headers; `api` is the API's router, which the entity
/// pages ask in process (so they show what the API shows).
pub fn router(state: AppState, api: Router) -> Router {
    let settings = WebSettings::clone(&state.web_settings);
    let web = page::Web::new(state, api, settings);
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
        .route("/ui/managers/{id}/day", get(sales::day))
        .route("/ui/overdue", get(overdue::overdue))
        .route("/ui/loss-reasons", get(reports::loss_reasons))
        .route("/ui/forecast", get(reports::forecast))
        .route("/ui/revenue", get(reports::revenue))
        .route("/ui/deals", get(entities::deals))
        .route("/ui/deals/{id}", get(entities::deal))
        .route("/ui/clients", get(entities::clients))
        .route("/ui/clients/duplicates", get(sales::duplicates))
        .route("/ui/clients/{id}", get(entities::client))
        .route("/ui/clients/{id}/merge", axum::routing::post(sales::merge))
        .route(
            "/ui/clients/{id}/unmerge",
            axum::routing::post(sales::unmerge),
        )
        .route("/ui/leads", get(entities::leads))
        .route("/ui/tasks", get(entities::tasks))
        .route("/ui/audit", get(audit::audit))
        .route("/ui/audit/verify", axum::routing::post(audit::verify_now))
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
        .route(
            "/ui/automation",
            get(automation::page_of_rules).post(automation::define),
        )
        .route(
            "/ui/automation/{id}/disable",
            axum::routing::post(automation::disable),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_currency_is_three_ascii_letters_kept_upper_case() {
        assert_eq!(currency("usd"), Ok("USD".to_owned()));
        assert_eq!(currency(" EUR "), Ok("EUR".to_owned()));
        for bad in ["", "US", "USDT", "U$D", "12A", "ГРН"] {
            assert_eq!(
                currency(bad),
                Err(InvalidWebSetting::Currency(bad.trim().to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_locale_is_a_language_the_app_writes_its_region_dropped() {
        assert_eq!(locale("en"), Ok("en".to_owned()));
        assert_eq!(locale("en-US"), Ok("en".to_owned()));
        assert_eq!(locale("uk_UA"), Ok("uk".to_owned()));
        assert_eq!(locale("UK"), Ok("uk".to_owned()));
        for bad in ["", "fr", "de-DE", "english"] {
            assert_eq!(
                locale(bad),
                Err(InvalidWebSetting::Locale(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn settings_are_both_checked() {
        assert_eq!(
            WebSettings::new("gbp", "en-GB"),
            Ok(WebSettings {
                currency: "GBP".into(),
                locale: "en".into()
            })
        );
        assert!(WebSettings::new("GBP", "fr").is_err());
        assert!(WebSettings::new("pound", "en").is_err());
    }
}
