//! How the OpenAPI document states tags on the cached routes: `If-None-Match`, the
//! `ETag` of a 200 and the `304`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, OpenApi, RefOr, Required, ResponseBuilder, Type};
use utoipa::Modify;

/// What the `ETag` header of a 200 says.
const ETAG: &str = "The answer's tag: a function of the query (without `min_position`), the \
    caller (role, manager, hidden fields) and the positions of the read models it reads; it \
    changes when any of them does. Absent when the answer is judged at the server's clock \
    (a `now` parameter left out).";

/// What `If-None-Match` does.
const IF_NONE_MATCH: &str = "Tags of answers held (`ETag`): when the answer would be a 200 with \
    one of them, a 304 without a body is given instead.";

/// States tags on every GET operation that `crate::routes::cacheable` names.
pub struct EtagDoc;

impl Modify for EtagDoc {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if crate::routes::cacheable(path).is_none() {
                continue;
            }
            let Some(operation) = item.get.as_mut() else {
                continue;
            };
            let string = || ObjectBuilder::new().schema_type(Type::String).build();
            operation.parameters.get_or_insert_with(Vec::new).push(
                ParameterBuilder::new()
                    .name("If-None-Match")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(IF_NONE_MATCH))
                    .schema(Some(string()))
                    .build(),
            );
            let tag = || {
                HeaderBuilder::new()
                    .schema(string())
                    .description(Some(ETAG))
                    .build()
            };
            if let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") {
                ok.headers.insert("ETag".to_owned(), tag());
            }
            operation.responses.responses.insert(
                "304".to_owned(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(
                            "Not modified: the answer would be the one the `If-None-Match` \
                             tag names. No body.",
                        )
                        .header("ETag", tag())
                        .build(),
                ),
            );
        }
    }
}
