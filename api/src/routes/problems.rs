//! Declares in the OpenAPI document every error answer a route can give, each as a
//! problem+json document: the handlers' annotations name the errors of their own
//! logic; the errors of the layers around every route (malformed input, auth,
//! limits, time) are added here, so that the document never contradicts an answer.

use utoipa::openapi::extensions::ExtensionsBuilder;
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
    /// With `erasure_pending`: the erasure's position (it is recorded).
    position: Option<i64>,
    /// With `invalid_definition`: each problem of a custom projection's definition.
    #[schema(value_type = Option<Vec<Object>>)]
    errors: Option<Vec<serde_json::Value>>,
}

/// The domain refusals (422 and their `code`) each command may give a request the
/// document calls well-formed: those that depend on the log's state (a reference
/// that does not exist, a manager deactivated, a deal already closed, a change that
/// changes nothing, a subject erased) and blank text (JSON Schema's `minLength`
/// counts spaces). A 422 with any other code to a well-formed request contradicts
/// the document (`scripts/fuzz.sh` fails on it); shapes the schema does state
/// (lengths, counts, minimums) never get one. Every command is listed, so that a
/// new one says what it refuses. Declared as `x-refusals` on the 422 answer.
pub const REFUSALS: &[(&str, &[&str])] = &[
    ("register_manager", &["empty_name", "empty_department"]),
    ("deactivate_manager", &["manager_inactive"]),
    (
        "hand_over_manager_book",
        &["reference_not_found", "manager_inactive", "same_manager"],
    ),
    (
        "define_pipeline",
        &["empty_name", "duplicate_stage_id", "duplicate_stage_name"],
    ),
    (
        "register_client",
        &["empty_name", "reference_not_found", "manager_inactive"],
    ),
    (
        "update_client",
        &[
            "empty_name",
            "no_changes",
            "subject_erased",
            "reference_not_found",
            "manager_inactive",
        ],
    ),
    (
        "assign_client",
        &["reference_not_found", "manager_inactive", "same_manager"],
    ),
    ("erase_client", &[]),
    ("erase_lead", &[]),
    (
        "open_deal",
        &[
            "empty_title",
            "reference_not_found",
            "manager_inactive",
            "stage_not_in_pipeline",
        ],
    ),
    (
        "change_deal_stage",
        &["deal_closed", "stage_not_in_pipeline", "same_stage"],
    ),
    ("change_deal_amount", &["deal_closed", "same_amount"]),
    (
        "assign_deal",
        &["reference_not_found", "manager_inactive", "same_manager"],
    ),
    ("win_deal", &["deal_closed"]),
    ("lose_deal", &["deal_closed", "empty_reason"]),
    ("reopen_deal", &["deal_not_closed", "stage_not_in_pipeline"]),
    (
        "log_interaction",
        &["reference_not_found", "manager_inactive", "client_mismatch"],
    ),
    (
        "capture_lead",
        &[
            "empty_name",
            "empty_source",
            "reference_not_found",
            "manager_inactive",
        ],
    ),
    (
        "assign_lead",
        &[
            "lead_closed",
            "reference_not_found",
            "manager_inactive",
            "same_manager",
        ],
    ),
    ("reject_lead", &["lead_closed", "empty_reason"]),
    (
        "convert_lead",
        &[
            "lead_closed",
            "lead_unassigned",
            "empty_title",
            "reference_not_found",
            "manager_inactive",
            "stage_not_in_pipeline",
            "subject_erased",
        ],
    ),
    (
        "schedule_task",
        &[
            "empty_title",
            "empty_kind",
            "reference_not_found",
            "manager_inactive",
            "client_mismatch",
        ],
    ),
    ("reschedule_task", &["task_closed", "same_due_at"]),
    (
        "assign_task",
        &[
            "task_closed",
            "reference_not_found",
            "manager_inactive",
            "same_manager",
        ],
    ),
    ("complete_task", &["task_closed"]),
    ("cancel_task", &["task_closed"]),
    (
        "define_projection",
        &[
            "invalid_definition",
            "invalid_projection_name",
            "reserved_projection_name",
            "too_many_projections",
        ],
    ),
    (
        "redefine_projection",
        &["invalid_definition", "invalid_projection_name"],
    ),
    ("drop_projection", &[]),
    ("rebuild_projection", &[]),
    (
        "set_manager_password",
        &["manager_inactive", "manager_has_no_email", "email_in_use"],
    ),
    (
        "define_rule",
        &[
            "empty_name",
            "empty_department",
            "empty_title",
            "empty_kind",
            "invalid_rule_params",
            "reference_not_found",
            "stage_not_in_pipeline",
        ],
    ),
    ("disable_rule", &["rule_disabled"]),
    (
        "define_webhook",
        &[
            "invalid_webhook_url",
            "unknown_event_type",
            "webhook_target_private",
            "webhook_target_unresolvable",
        ],
    ),
    ("disable_webhook", &[]),
    (
        "enable_webhook",
        &["webhook_target_private", "webhook_target_unresolvable"],
    ),
    ("log_in", &[]),
    ("log_out", &[]),
    ("define_product", &["empty_name", "empty_category"]),
    (
        "add_deal_line",
        &[
            "deal_closed",
            "reference_not_found",
            "duplicate_line_id",
            "amount_too_large",
        ],
    ),
    ("remove_deal_line", &["deal_closed", "line_not_found"]),
    ("issue_invoice", &["empty_number", "zero_amount"]),
    (
        "receive_payment",
        &[
            "zero_amount",
            "payment_exceeds_outstanding",
            "duplicate_payment_id",
        ],
    ),
    ("send_shipment", &[]),
    ("set_plan", &["reference_not_found", "no_targets"]),
    (
        "merge_client",
        &[
            "reference_not_found",
            "merge_into_itself",
            "merge_into_merged",
            "client_merged",
        ],
    ),
    ("unmerge_client", &["client_not_merged"]),
];

/// The refusals `operation_id` declares (None: not a command of [`REFUSALS`]).
pub fn refusals(operation_id: &str) -> Option<&'static [&'static str]> {
    REFUSALS
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, codes)| *codes)
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
        let mut codes: Vec<&str> = operation
            .operation_id
            .as_deref()
            .and_then(refusals)
            .unwrap_or_default()
            .to_vec();
        // JSON Schema cannot say "no NUL": every body may be refused for one.
        if has_body {
            codes.push("invalid_text");
        }
        let description = match codes.as_slice() {
            [] => "a domain rule refused the command".to_owned(),
            codes => format!(
                "a domain rule refused the command: `{}`",
                codes.join("`, `")
            ),
        };
        add("422", &description);
        if let Some(RefOr::T(response)) = operation.responses.responses.get_mut("422") {
            let declared = ExtensionsBuilder::new().add("x-refusals", codes).build();
            response
                .extensions
                .get_or_insert_with(Default::default)
                .merge(declared);
        }
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
