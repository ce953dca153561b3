//! Cross-site request forgery: a browser sends the session cookie with any request to
//! the server, whatever page made it. So a request that changes anything (any method
//! but GET, HEAD, OPTIONS) authenticated by the cookie must
//! - come from the server's own origin, or one it was told to trust: an `Origin`
//!   header naming another is a 403 `cross_origin_request` (without `Origin`, a
//!   `Sec-Fetch-Site` of `cross-site` or `same-site` is too);
//! - carry the session's CSRF token (given by the login and `GET /auth/session`) in
//!   `X-CSRF-Token`: none is a 403 `csrf_token_missing`, another a 403
//!   `csrf_token_invalid`. A page of another site cannot read it.
//!
//! A login is checked for its origin too (a forged login would put the victim in the
//! attacker's session). Requests with a bearer token are unaffected: a browser never
//! adds one by itself.

use axum::http::{header, HeaderMap, Method};

use crate::error::ApiError;

/// The header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// True for the methods that change nothing.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// An origin as compared: lower case, no trailing slash, no default port.
pub fn normalize_origin(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    match origin.split_once("://") {
        Some((scheme, authority)) => {
            format!("{scheme}://{}", without_default_port(scheme, authority))
        }
        None => origin,
    }
}

/// `authority` without the scheme's default port.
fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// Refuses a request from a page of another origin than the server's own (its `Host`)
/// or one of `allowed` (normalized origins).
pub fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let refused = |detail: String| ApiError::Forbidden {
        code: "cross_origin_request",
        detail,
    };
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Old browsers send no Origin; new ones say where a request comes from.
        let site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        return match site {
            Some(s) if s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site") => {
                Err(refused(format!(
                    "a request from another site ({s}) may not log in or write with a session cookie"
                )))
            }
            _ => Ok(()),
        };
    };
    let origin = normalize_origin(origin.to_str().unwrap_or("null"));
    if allowed.contains(&origin) {
        return Ok(());
    }
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase());
    let same = match (origin.split_once("://"), own) {
        (Some((scheme, authority)), Some(host)) => {
            without_default_port(scheme, authority) == without_default_port(scheme, &host)
        }
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(refused(format!(
            "a request from origin {origin} may not log in or write with a session cookie \
             (not this server's own origin, nor one of --allowed-origins)"
        )))
    }
}

/// Refuses a write without the session's CSRF token `expected` in [`CSRF_HEADER`].
pub fn check_token(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let Some(given) = headers.get(CSRF_HEADER) else {
        return Err(ApiError::Forbidden {
            code: "csrf_token_missing",
            detail: format!(
                "a write with a session cookie must carry the session's CSRF token in {CSRF_HEADER} \
                 (given by POST /auth/login and GET /auth/session)"
            ),
        });
    };
    let given = given.to_str().unwrap_or_default().trim();
    if same(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: "csrf_token_invalid",
            detail: format!("{CSRF_HEADER} is not this session's CSRF token"),
        })
    }
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Both checks, for a request authenticated by a session cookie whose CSRF token is
/// `expected`: nothing for the safe methods.
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    allowed: &[String],
    expected: &str,
) -> Result<(), ApiError> {
    if is_safe(method) {
        return Ok(());
    }
    check_origin(headers, allowed)?;
    check_token(headers, expected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_own_origin_and_the_allowed_ones_pass_and_others_are_refused() {
        let own = headers(&[
            ("host", "crm.example:8080"),
            ("origin", "http://crm.example:8080"),
        ]);
        assert!(check_origin(&own, &[]).is_ok());
        let default_port = headers(&[
            ("host", "crm.example:443"),
            ("origin", "https://CRM.example"),
        ]);
        assert!(check_origin(&default_port, &[]).is_ok());
        let evil = headers(&[("host", "crm.example"), ("origin", "https://evil.example")]);
        let refused = check_origin(&evil, &[]).unwrap_err();
        assert_eq!(refused.code(), "cross_origin_request");
        assert!(check_origin(&evil, &[normalize_origin("https://evil.example/")]).is_ok());
        let null = headers(&[("host", "crm.example"), ("origin", "null")]);
        assert!(check_origin(&null, &[]).is_err());
        assert!(check_origin(&headers(&[("sec-fetch-site", "cross-site")]), &[]).is_err());
        assert!(check_origin(&headers(&[("sec-fetch-site", "same-origin")]), &[]).is_ok());
        assert!(check_origin(&headers(&[]), &[]).is_ok());
    }

    #[test]
    fn a_write_needs_the_token_and_a_read_does_not() {
        let none = headers(&[]);
        assert!(check(&Method::GET, &none, &[], "t").is_ok());
        assert_eq!(
            check(&Method::POST, &none, &[], "t").unwrap_err().code(),
            "csrf_token_missing"
        );
        let wrong = headers(&[(CSRF_HEADER, "u")]);
        assert_eq!(
            check(&Method::DELETE, &wrong, &[], "t").unwrap_err().code(),
            "csrf_token_invalid"
        );
        let right = headers(&[(CSRF_HEADER, "t")]);
        assert!(check(&Method::PATCH, &right, &[], "t").is_ok());
    }
}
