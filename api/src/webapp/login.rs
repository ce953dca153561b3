//! `GET /`: the login page (an e-mail, a password, a submit button). The page's script
//! posts them to `POST /auth/login` and then opens `next` (only an address of this
//! site) or the home; a person already logged in goes straight there.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, DOCTYPE};

use super::assets;
use super::page::{html as answer_html, language, Web};
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
    answer_html(
        StatusCode::OK,
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
                        form #login method="post" action="/auth/login" data-next=(next)
                            data-failed=(lang.t("login_failed")) data-throttled=(lang.t("login_throttled")) data-error=(lang.t("login_error")) {
                            label for="email" { (lang.t("email")) }
                            input #email type="email" name="email" autocomplete="username" required autofocus;
                            label for="password" { (lang.t("password")) }
                            input #password type="password" name="password" autocomplete="current-password" required;
                            p #login-error.error role="alert" aria-live="assertive" {}
                            button type="submit" { (lang.t("log_in")) }
                        }
                        noscript { p.error { (lang.t("needs_js")) } }
                        p.langs {
                            a href={ "/ui/lang?to=en&back=" (super::page::encode(&format!("/?next={}", super::page::encode(&next)))) } lang="en" { "English" }
                            " · "
                            a href={ "/ui/lang?to=uk&back=" (super::page::encode(&format!("/?next={}", super::page::encode(&next)))) } lang="uk" { "Українська" }
                        }
                    }
                }
            }
        },
    )
}
