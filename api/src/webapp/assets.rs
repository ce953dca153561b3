//! The web app's one stylesheet and one script, embedded in the binary and served under
//! `/ui/assets/` with a content hash in their address and an ETag, cached for a year.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The stylesheet.
pub const CSS: &str = include_str!("assets/app.css");
/// The script.
pub const JS: &str = include_str!("assets/app.js");

/// The first 16 hex digits of the SHA-256 of `text`.
fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))[..16].to_owned()
}

/// The content hashes of the two files, computed once.
fn hashes() -> &'static (String, String) {
    static HASHES: OnceLock<(String, String)> = OnceLock::new();
    HASHES.get_or_init(|| (digest(CSS), digest(JS)))
}

/// The stylesheet's address (changes with its content).
pub fn css_href() -> String {
    format!("/ui/assets/app.{}.css", hashes().0)
}

/// The script's address (changes with its content).
pub fn js_href() -> String {
    format!("/ui/assets/app.{}.js", hashes().1)
}

/// `GET /ui/assets/{file}`: `app.<hash>.css` or `app.<hash>.js` (any hash: an old page
/// gets the current file), with an ETag and a year's cache.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let (body, kind, hash) = if file.ends_with(".css") {
        (CSS, "text/css; charset=utf-8", &hashes().0)
    } else if file.ends_with(".js") {
        (JS, "text/javascript; charset=utf-8", &hashes().1)
    } else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such file",
        )
            .into_response();
    };
    let etag = format!("\"{hash}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    response
}
