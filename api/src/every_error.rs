//! Every error answer is a problem+json document with a `code`: the router's
//! fallbacks for a path no route serves (404 `not_found`) and a method a route does
//! not serve (405 `method_not_allowed`, with axum's `Allow` header), a panic caught
//! as a 500, and a layer that turns whatever other error a layer or extractor
//! answers with in its own form (an empty body, plain text) into a problem, keeping
//! its status and headers.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::routes::PROBLEM_JSON;

/// The most of a non-problem error body read to explain it.
const DETAIL_LIMIT: usize = 16 * 1024;

/// The answer to a path no route serves.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound {
        what: format!("route {method} {}", uri.path()),
    }
}

/// The answer to a method the route does not serve (axum adds `Allow`).
pub async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// The answer to a handler that panicked: the cause is logged, never shown.
pub fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let cause = cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    ApiError::internal(format!("a handler panicked: {cause}")).into_response()
}

/// The middleware: an error answer that is not a problem document yet becomes one.
pub async fn layer(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, DETAIL_LIMIT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let mut problem = from_status(status, text).into_response();
    // Keep what the original answer said in its headers (`Allow`, `Retry-After`, …),
    // not what described its old body.
    let own: Vec<header::HeaderName> = problem.headers().keys().cloned().collect();
    for (name, value) in &parts.headers {
        if own.contains(name) || name == header::CONTENT_LENGTH {
            continue;
        }
        problem.headers_mut().append(name.clone(), value.clone());
    }
    problem
}

/// True when `response` is a problem document already.
fn is_problem(response: &Response) -> bool {
    let kind = response.headers().get(header::CONTENT_TYPE);
    // The web app's error pages are HTML for people, in words: kept as they are.
    kind == Some(&HeaderValue::from_static(PROBLEM_JSON))
        || kind.is_some_and(|k| k.as_bytes().starts_with(b"text/html"))
}

/// The problem for an error `status` answered with `text` (its body, maybe empty).
fn from_status(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        s if s.is_client_error() => "client_error",
        _ => "internal",
    };
    let reason = status.canonical_reason().unwrap_or("error").to_owned();
    let detail = if status.is_server_error() {
        // A 5xx reveals nothing: the log gets what it said.
        if !text.is_empty() {
            tracing::error!(status = status.as_u16(), body = %text, "a layer answered with an error");
        }
        reason
    } else if text.is_empty() {
        reason
    } else {
        text
    };
    ApiError::Http {
        status,
        code,
        detail,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A router whose handlers answer errors in their own forms, behind the layers.
    fn app() -> axum::Router {
        axum::Router::new()
            .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
            .route(
                "/text",
                get(|| async {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, "7")],
                        "slow down",
                    )
                }),
            )
            .route(
                "/broken",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("a handler's bug");
                    }
                    "unreachable"
                }),
            )
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
            .layer(axum::middleware::from_fn(layer))
    }

    async fn ask(path: &str) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let request = axum::http::Request::get(path).body(Body::empty()).unwrap();
        let response = app().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn any_error_answer_becomes_a_problem_keeping_its_status_and_headers() {
        let (status, headers, body) = ask("/teapot").await;
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(body["code"], "client_error");
        assert_eq!(body["detail"], "I'm a teapot");
        let (status, headers, body) = ask("/text").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "7");
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(
            (&body["code"], &body["detail"]),
            (&"too_many_requests".into(), &"slow down".into())
        );
        let (status, _, body) = ask("/broken").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            (&body["code"], &body["detail"]),
            (&"internal".into(), &"internal error".into())
        );
    }

    #[test]
    fn a_server_error_reveals_nothing_and_a_client_error_says_what() {
        let hidden = from_status(
            StatusCode::BAD_GATEWAY,
            "connection to 10.0.0.7 refused".into(),
        );
        assert_eq!(hidden.code(), "internal");
        assert_eq!(hidden.to_string(), "Bad Gateway");
        let said = from_status(StatusCode::BAD_REQUEST, "Invalid header".into());
        assert_eq!(
            (said.code(), said.to_string()),
            ("bad_request", "Invalid header".into())
        );
        let empty = from_status(StatusCode::METHOD_NOT_ALLOWED, String::new());
        assert_eq!(
            (empty.code(), empty.status()),
            ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED)
        );
    }
}
