//! Declares in the OpenAPI document every error answer a route can give, each as a
//! problem+json document: the handlers' annotations name the errors of their own
//! logic; the errors of the layers around every route (malformed input, auth,
//! limits, time) are added here, so that the document never contradicts an answer.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa::{Modify, PartialSchema, ToSchema};

/// A problem document (RFC 9457), as every error is answered.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Describes what `ApiError::problem` writes; never built itself.
pub struct Problem {
    /// `/problems/<code>`.
    r#type: String,
    /// The status's reason phrase.
    title: String,
    /// The HTTP status.
    status: u16,
    /// What went wrong, for a person.
    detail: String,
    /// A stable machine word naming the problem.
    code: String,
    /// With `version_conflict`: the entity's current version.
    current_version: Option<i64>,
    /// With `invalid_definition`: each problem of a custom projection's definition.
    #[schema(value_type = Option<Vec<Object>>)]
    errors: Option<Vec<serde_json::Value>>,
}

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Adds the layers' error answers to every operation and a problem+json body to
/// every error answer.
pub struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("Problem".into(), <Problem as PartialSchema>::schema());
        for (path, item) in openapi.paths.paths.iter_mut() {
            let live = path == "/health/live";
            for (method, operation) in [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ] {
                if let Some(operation) = operation {
                    declare(operation, method != "get", live);
                }
            }
        }
    }
}

/// The error answers `operation` can give besides its own.
fn declare(operation: &mut Operation, command: bool, live: bool) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_path_params = operation.parameters.as_ref().is_some_and(|params| {
        params
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path))
    });
    let has_body = operation.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    };
    if !live {
        add("400", "a malformed query, path parameter, header or body");
        add("408", "the request took longer than the server allows");
        add(
            "429",
            "this client has as many requests in flight as it may, or its address sent \
             too many unknown tokens lately (see Retry-After)",
        );
        add(
            "503",
            "the server is overloaded (see Retry-After) or the store is unavailable",
        );
    }
    if secured {
        add("401", "no bearer token, or not a valid one");
        add("403", "the token's owner may not do this");
    }
    if has_path_params {
        add("404", "no such entity");
    }
    if has_body {
        add("413", "the body is larger than the server accepts");
        add("415", "the body is not JSON");
    }
    if command {
        add(
            "409",
            "a version conflict, or an idempotency key reused with another body",
        );
        add("422", "a domain rule refused the command");
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response) {
            response
                .content
                .entry(PROBLEM_JSON.to_owned())
                .or_insert_with(|| Content::new(Some(Ref::from_schema_name("Problem"))));
        }
    }
}
