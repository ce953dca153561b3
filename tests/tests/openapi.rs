//! The OpenAPI document is complete: every route the router serves is in it with its
//! method (and nothing else is served), every error answer a route can give is
//! declared as a problem+json document, and the field limits it states are the
//! domain's. Every query and path parameter it declares refuses a NUL with a 400,
//! and every time or date parameter a year PostgreSQL cannot hold.

use axum::http::{header, Method, StatusCode};
use crm_tests::scenario::send_text;
use crm_tests::TestApp;
use serde_json::Value;
use sqlx::PgPool;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document, fetched without a token.
async fn document(app: &TestApp) -> Value {
    let answer = app
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.body
}

/// `(path template, method)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                found.push((path.clone(), method.to_owned()));
            }
        }
    }
    found
}

/// The template with each `{parameter}` filled with a well-formed value.
fn concrete(template: &str) -> String {
    template
        .replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{stream}", "client-00000000-0000-0000-0000-000000000000")
        .replace("{name}", "no_such_projection")
        .replace("{line_id}", &uuid::Uuid::new_v4().to_string())
}

#[sqlx::test(migrations = false)]
async fn every_route_served_is_documented_with_its_method(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = document(&app).await;
    let operations = operations(&doc);

    // The router's routes are registered only through utoipa-axum's `routes!` (which
    // documents each handler) plus /openapi.json itself: count the handlers.
    let source = include_str!("../../api/src/routes/mod.rs");
    let handlers = source.matches(".routes(routes!(").count();
    assert_eq!(
        source.matches(".route(").count(),
        1,
        "only /openapi.json is routed outside routes!()"
    );
    assert_eq!(operations.len(), handlers + 1, "{operations:?}");
    assert!(operations.contains(&("/openapi.json".into(), "get".into())));

    for (template, method) in &operations {
        let path = concrete(template);
        let method_up = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // Served: not the router's bare 404 or 405 (a handler's 404 is a problem).
        let body = (method != "get").then_some("{}");
        let answer = send_text(&app, method_up, &path, body, &[]).await;
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if answer.status == StatusCode::NOT_FOUND {
            assert_eq!(
                answer.code(),
                "not_found",
                "{method} {path}: {}",
                answer.body
            );
        }
        // The methods not documented on this path are not served.
        let documented = &doc["paths"][template.as_str()];
        for other in METHODS {
            if documented.get(other).is_none() {
                let other_up = Method::from_bytes(other.to_uppercase().as_bytes()).unwrap();
                let answer = send_text(&app, other_up, &path, None, &[]).await;
                assert_eq!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{other} {path} is served but not documented"
                );
                assert!(answer.headers.contains_key(header::ALLOW), "{other} {path}");
            }
        }
    }
}

#[sqlx::test(migrations = false)]
async fn every_error_answer_is_declared_as_a_problem(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = document(&app).await;
    assert!(doc["components"]["schemas"]["Problem"]["properties"]["code"].is_object());
    for (template, method) in operations(&doc) {
        let op = &doc["paths"][template.as_str()][method.as_str()];
        let responses = op["responses"].as_object().unwrap();
        let mut expected = vec![];
        if template != "/health/live" {
            expected.extend(["400", "408", "429", "503"]);
        }
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            expected.extend(["401", "403"]);
        }
        if template.contains('{') {
            expected.push("404");
        }
        if op.get("requestBody").is_some() {
            expected.extend(["413", "415"]);
        }
        if method != "get" {
            expected.extend(["409", "422"]);
        }
        for status in expected {
            assert!(
                responses.contains_key(status),
                "{method} {template} does not declare {status}"
            );
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {template} {status}"
                );
            }
        }
    }
}

#[sqlx::test(migrations = false)]
async fn the_documented_field_limits_are_the_domains(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let client = &schemas["RegisterClientBody"]["properties"];
    assert_eq!(client["name"]["maxLength"], crm_domain::MAX_NAME_CHARS);
    assert_eq!(client["region"]["maxLength"], crm_domain::MAX_NAME_CHARS);
    assert_eq!(client["contacts"]["maxItems"], crm_domain::MAX_ITEMS);
    assert_eq!(
        client["kind"]["oneOf"][0]["enum"],
        serde_json::json!(["company", "person"])
    );
    let interaction = &schemas["LogInteractionBody"]["properties"];
    assert_eq!(
        interaction["notes"]["maxLength"],
        crm_domain::MAX_TEXT_CHARS
    );
    let pipeline = &schemas["DefinePipeline"]["properties"];
    assert_eq!(pipeline["stages"]["maxItems"], crm_domain::MAX_ITEMS);
    let task = &schemas["ScheduleTaskBody"]["properties"];
    assert_eq!(task["observer_ids"]["maxItems"], crm_domain::MAX_ITEMS);
    // Amounts and durations: not negative, at most the domain's bounds.
    for (body, field) in [
        ("OpenDealBody", "amount"),
        ("ChangeAmountBody", "amount"),
        ("WinBody", "amount"),
        ("ConvertLeadDealBody", "amount"),
    ] {
        let amount = &schemas[body]["properties"][field];
        assert_eq!(amount["minimum"], 0, "{body}.{field}: {amount}");
        assert_eq!(
            amount["maximum"],
            crm_domain::MAX_AMOUNT,
            "{body}.{field}: {amount}"
        );
    }
    assert_eq!(interaction["duration_s"]["minimum"], 0);
    assert_eq!(
        interaction["duration_s"]["maximum"],
        crm_domain::MAX_DURATION_S
    );
    // Query parameters are declared in the query, optional unless the handler needs them.
    let params = doc["paths"]["/clients"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["in"], "query");
    assert_eq!(limit["required"], false);
    assert_eq!(limit["schema"]["maximum"], 1000);
}

#[sqlx::test(migrations = false)]
async fn crafted_values_in_any_query_or_path_parameter_are_a_400(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = document(&app).await;
    let (mut nuls, mut times) = (0, 0);
    for (template, method) in operations(&doc) {
        let op = &doc["paths"][template.as_str()][method.as_str()];
        let method_up = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method != "get").then_some("{}");
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap();
            // A NUL anywhere; a time or date PostgreSQL cannot hold where one is taken.
            let mut probes = Vec::new();
            match param["in"].as_str() {
                Some("query") => {
                    probes.push(format!("{}?{name}=a%00b", concrete(&template)));
                    if param["schema"].to_string().contains("\"format\":\"date") {
                        probes.push(format!(
                            "{}?{name}=-5000-01-01T00:00:00Z",
                            concrete(&template)
                        ));
                        probes.push(format!("{}?{name}=-5000-01-01", concrete(&template)));
                        times += 1;
                    }
                }
                Some("path") => {
                    probes.push(concrete(&template.replace(&format!("{{{name}}}"), "a%00b")))
                }
                _ => continue,
            }
            for path in probes {
                let answer = send_text(&app, method_up.clone(), &path, body, &[]).await;
                assert_eq!(
                    answer.status,
                    StatusCode::BAD_REQUEST,
                    "{method} {path}: {}",
                    answer.body
                );
                assert!(
                    ["invalid_query", "invalid_path"].contains(&answer.code()),
                    "{method} {path}: {}",
                    answer.body
                );
            }
            nuls += 1;
        }
    }
    assert!(nuls > 50, "only {nuls} parameters");
    assert!(times > 15, "only {times} time parameters");
}

#[sqlx::test(migrations = false)]
async fn every_command_declares_the_refusals_a_well_formed_request_may_get(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = document(&app).await;
    let mut commands = Vec::new();
    for (template, method) in operations(&doc) {
        if method == "get" {
            continue;
        }
        let op = &doc["paths"][template.as_str()][method.as_str()];
        let id = op["operationId"].as_str().unwrap().to_owned();
        let declared = &op["responses"]["422"]["x-refusals"];
        let mut listed = crm_api::routes::refusals(&id)
            .unwrap_or_else(|| panic!("{method} {template} ({id}) is not in REFUSALS"))
            .to_vec();
        // A NUL is schema-valid JSON the CRM cannot store: every body may carry one.
        if op.get("requestBody").is_some() {
            listed.push("invalid_text");
        }
        assert_eq!(declared, &serde_json::json!(listed), "{id}");
        commands.push(id);
    }
    // Nothing listed that the document does not have.
    for (id, _) in crm_api::routes::REFUSALS {
        assert!(commands.iter().any(|c| c == id), "{id} is not a command");
    }
}
