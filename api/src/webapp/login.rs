//! `GET /`: the login page (an e-mail, a password, a submit button); `POST /` logs in
//! (through `POST /auth/login`, asked in process) and opens `next` (only an address of
//! this site) or the home; a person already logged in goes straight there.

use std::collections::HashMap;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Form, FromRequest, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use tower::ServiceExt;

use super::assets;
use super::i18n::Lang;
use super::page::{encode, html as answer_html, language, Web};
use crate::auth::Actor;

/// Where to go after the login: `next` when it is an address of this site, else home.
pub fn next_of(query: &HashMap<String, String>) -> String {
    query
        .get("next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\"))
        .cloned()
        .unwrap_or_else(|| "/ui".to_owned())
}

/// The login page.
pub async fn page(
    State(web): State<Web>,
    Query(query): Query<HashMap<String, String>>,
    mut parts: Parts,
) -> Response {
    let next = next_of(&query);
    // Logged in already (a live session): straight on.
    if crate::login::session::cookie(&parts.headers).is_some()
        && <Actor as axum::extract::FromRequestParts<_>>::from_request_parts(&mut parts, &web.state)
            .await
            .is_ok()
    {
        return Redirect::to(&next).into_response();
    }
    let lang = language(&parts);
    answer_html(StatusCode::OK, render(lang, &next, None))
}

/// The login page for `next`, with `error` said above the button.
fn render(lang: Lang, next: &str, error: Option<&str>) -> Markup {
    let back = |to: &str| {
        format!(
            "/ui/lang?to={to}&back={}",
            encode(&format!("/?next={}", encode(next)))
        )
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t("login_title")) " · CRM" }
                link rel="stylesheet" href=(assets::css_href());
                script src=(assets::js_href()) defer {}
            }
            body.login {
                main #main {
                    h1 { "CRM" }
                    form #login method="post" action={ "/?next=" (encode(next)) } data-next=(next) {
                        label for="email" { (lang.t("email")) }
                        input #email type="email" name="email" autocomplete="username" required autofocus;
                        label for="password" { (lang.t("password")) }
                        input #password type="password" name="password" autocomplete="current-password" required;
                        p #login-error.error role="alert" aria-live="assertive" { @if let Some(e) = error { (e) } }
                        button type="submit" { (lang.t("log_in")) }
                    }
                    p.langs {
                        a href=(back("en")) lang="en" { "English" }
                        " · "
                        a href=(back("uk")) lang="uk" { "Українська" }
                    }
                }
            }
        }
    }
}

/// What the login form sends.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The e-mail.
    email: String,
    /// The password.
    password: String,
}

/// `POST /` (the form, with or without the page's script): `POST /auth/login` asked in
/// process with the request's own origin, address and headers (so its origin check,
/// throttles and cookie are the API's), then on to `next` with the session cookie, or
/// the page again saying what went wrong.
pub async fn submit(
    State(web): State<Web>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let next = next_of(&query);
    let (parts, body) = request.into_parts();
    let lang = language(&parts);
    let connected = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
    let headers = parts.headers.clone();
    let form = Form::<LoginForm>::from_request(Request::from_parts(parts, body), &())
        .await
        .ok();
    let Some(Form(form)) = form else {
        return answer_html(
            StatusCode::BAD_REQUEST,
            render(lang, &next, Some(lang.t("login_failed"))),
        );
    };
    let json = serde_json::json!({"email": form.email, "password": form.password});
    let mut inner = Request::builder()
        .method("POST")
        .uri("/auth/login")
        .header(header::CONTENT_TYPE, "application/json");
    for name in [
        header::ORIGIN,
        header::HOST,
        header::REFERER,
        header::HeaderName::from_static("sec-fetch-site"),
        header::HeaderName::from_static("x-forwarded-proto"),
    ] {
        if let Some(value) = headers.get(&name) {
            inner = inner.header(name, value.clone());
        }
    }
    let Ok(mut inner) = inner.body(Body::from(json.to_string())) else {
        return answer_html(
            StatusCode::INTERNAL_SERVER_ERROR,
            render(lang, &next, Some(lang.t("login_error"))),
        );
    };
    if let Some(connected) = connected {
        inner.extensions_mut().insert(connected);
    }
    let response = match web.api.clone().oneshot(inner).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    if status.is_success() {
        let mut redirect = Redirect::to(&next).into_response();
        for cookie in response.headers().get_all(header::SET_COOKIE) {
            redirect
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        return redirect;
    }
    let said = match status {
        StatusCode::UNAUTHORIZED => lang.t("login_failed"),
        StatusCode::TOO_MANY_REQUESTS => lang.t("login_throttled"),
        _ => lang.t("login_error"),
    };
    let mut page = answer_html(status, render(lang, &next, Some(said)));
    if let Some(retry) = response.headers().get(header::RETRY_AFTER) {
        page.headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    page
}
