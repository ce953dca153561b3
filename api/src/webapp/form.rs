//! A form posted from a page: its fields, and the person who posted it, checked like
//! any write with a session cookie (`crate::login::csrf`): the page's form carries the
//! session's CSRF token in a hidden field `csrf_token` (the same token the page's
//! `<meta name=csrf-token>` gives the script), which goes into the header the session
//! check reads; a post without it, or with another, is refused (403) before anything
//! is asked of the API. The writes it then makes go to the API in process as the
//! person, with the token.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::page::{error_page, language, Ctx, Web};
use crate::error::ApiError;
use crate::login::csrf::CSRF_HEADER;

/// The name of the hidden field that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// The largest form body taken (a projection's definition is a few kilobytes).
const MAX_FORM: usize = 256 * 1024;

/// A form posted by a person whose write passed the session's checks.
pub struct Posted {
    /// Who posted, as for a page.
    pub ctx: Ctx,
    /// The form's fields (the last value of a repeated one).
    pub fields: HashMap<String, String>,
}

impl FromRequest<Web> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, web: &Web) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let lang = language(&parts);
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            let err = ApiError::bad_request(
                "invalid_form",
                "a form of this page is sent as application/x-www-form-urlencoded",
            );
            return Err(error_page(lang, &err));
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
            error_page(
                lang,
                &ApiError::bad_request("invalid_form", "the form is larger than 256 KiB"),
            )
        })?;
        let fields: HashMap<String, String> = form_fields(&bytes);
        // The hidden field stands for the header a script would send; a request that
        // sends the header keeps it.
        if !parts.headers.contains_key(CSRF_HEADER) {
            if let Some(token) = fields
                .get(CSRF_FIELD)
                .and_then(|t| HeaderValue::from_str(t).ok())
            {
                parts.headers.insert(CSRF_HEADER, token);
            }
        }
        let ctx = Ctx::from_request_parts(&mut parts, web).await?;
        Ok(Posted { ctx, fields })
    }
}

/// The fields of an `application/x-www-form-urlencoded` body.
fn form_fields(bytes: &[u8]) -> HashMap<String, String> {
    bytes
        .split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |b| *b == b'=');
            let name = decode(halves.next().unwrap_or_default());
            let value = decode(halves.next().unwrap_or_default());
            (name, value)
        })
        .collect()
}

/// One percent-encoded form value (`+` a space), invalid UTF-8 replaced.
fn decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Posted {
    /// A field, when given (as typed: not trimmed).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The API's status and JSON answer to the write `method path` with the JSON
    /// `body`, asked in process as the person who posted.
    pub async fn api_send(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value), ApiError> {
        self.ctx
            .api_request(method, path, Some(body), self.ctx.csrf.as_deref())
            .await
    }
}

/// The hidden field a page's form posts its session's CSRF token in (nothing for a
/// bearer token, which needs none).
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! {
        @if let Some(token) = &ctx.csrf { input type="hidden" name=(CSRF_FIELD) value=(token); }
    }
}

#[cfg(test)]
mod tests {
    use super::form_fields;

    #[test]
    fn form_fields_are_decoded() {
        let fields = form_fields(b"name=a+b&definition=%7B%22x%22%3A1%7D&bad=%zz&e=");
        assert_eq!(fields["name"], "a b");
        assert_eq!(fields["definition"], "{\"x\":1}");
        assert_eq!(fields["bad"], "%zz");
        assert_eq!(fields["e"], "");
    }
}
