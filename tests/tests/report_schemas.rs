//! The OpenAPI document states every report's figures: each report operation has a
//! summary and a description, every field of its answer has a description, and the
//! answers carry exactly the fields the document describes (so that the schemas,
//! which only describe the read models' rows, cannot drift from them).

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// The schema `schema` stands for, `$ref`s followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Every property of `schema` and of the objects in it, with its path: `(path, property)`.
fn properties<'a>(
    doc: &'a Value,
    schema: &'a Value,
    path: &str,
    out: &mut Vec<(String, &'a Value)>,
) {
    let schema = resolve(doc, schema);
    if let Some(items) = schema.get("items") {
        properties(doc, items, &format!("{path}[]"), out);
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let at = format!("{path}.{name}");
        out.push((at.clone(), property));
        properties(doc, property, &at, out);
    }
}

/// Checks that `value` has the fields `schema` describes, at every level: all of them
/// (`whole`), or at least the required ones and no others.
fn conforms(doc: &Value, schema: &Value, value: &Value, path: &str, whole: bool) {
    let schema = resolve(doc, schema);
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (n, item) in values.iter().enumerate() {
            conforms(doc, items, item, &format!("{path}[{n}]"), whole);
        }
        return;
    }
    let (Some(described), Some(fields)) = (schema["properties"].as_object(), value.as_object())
    else {
        return;
    };
    let described_names: BTreeSet<&str> = described.keys().map(String::as_str).collect();
    let names: BTreeSet<&str> = fields.keys().map(String::as_str).collect();
    if whole {
        assert_eq!(
            names, described_names,
            "{path}: fields answered vs documented"
        );
    } else {
        assert!(
            names.is_subset(&described_names),
            "{path}: {names:?} beyond {described_names:?}"
        );
        for required in schema["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap();
            assert!(names.contains(required), "{path}: {required} is required");
        }
    }
    for (name, field) in fields {
        conforms(
            doc,
            &described[name],
            field,
            &format!("{path}.{name}"),
            whole,
        );
    }
}

/// The 200 answer's schema of `GET path` in the document.
fn answer_schema<'a>(doc: &'a Value, path: &str) -> &'a Value {
    &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
}

#[sqlx::test(migrations = false)]
async fn every_report_figure_is_described(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = app.get("/openapi.json").await.body;
    let reports: Vec<&String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/reports/"))
        .collect();
    assert_eq!(reports.len(), 13, "{reports:?}");
    for path in reports {
        let operation = &doc["paths"][path.as_str()]["get"];
        for part in ["summary", "description"] {
            let text = operation[part].as_str().unwrap_or("");
            assert!(text.len() > 20, "{path}: no {part}");
        }
        let mut found = Vec::new();
        properties(&doc, answer_schema(&doc, path), path, &mut found);
        assert!(found.len() >= 2, "{path}: {found:?}");
        for (at, property) in found {
            let described = property["description"].as_str().unwrap_or("");
            assert!(!described.trim().is_empty(), "{at} has no description");
        }
    }
}

#[sqlx::test(migrations = false)]
async fn report_answers_carry_exactly_the_documented_fields(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    let stage = Uuid::new_v4();
    let pipeline = app
        .post(
            "/pipelines",
            &json!({"name": "P", "stages": [{"id": stage, "name": "S", "probability": 0.5}]}),
        )
        .await;
    let pipeline = pipeline.body["id"].as_str().unwrap().to_owned();
    let at = "2026-03-02T09:00:00Z";
    let mut deals = Vec::new();
    for source in ["site", "phone"] {
        let answer = app
            .post(
                "/deals",
                &json!({"client_id": c, "pipeline_id": pipeline, "title": "D", "amount": 100,
                        "manager_id": m, "source": source, "expected_close_on": "2026-03-10",
                        "occurred_at": at}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        deals.push(answer.body["id"].as_str().unwrap().to_owned());
    }
    let steps = [
        (
            format!("/deals/{}/win", deals[0]),
            json!({"occurred_at": at}),
        ),
        (
            format!("/deals/{}/lose", deals[1]),
            json!({"reason": "price", "occurred_at": at}),
        ),
        (
            format!("/deals/{}/reopen", deals[1]),
            json!({"occurred_at": at}),
        ),
        (
            "/interactions".to_owned(),
            json!({"kind": "call", "direction": "outbound", "manager_id": m, "client_id": c,
                   "duration_s": 60, "occurred_at": at}),
        ),
        (
            "/tasks".to_owned(),
            json!({"title": "T", "assignee_id": m, "due_at": at, "occurred_at": at}),
        ),
        (
            format!("/deals/{}/invoices", deals[0]),
            json!({"number": "1", "amount": 100, "due_on": "2026-03-20", "occurred_at": at}),
        ),
        (
            "/plans".to_owned(),
            json!({"manager_id": m, "month": "2026-03", "targets": {"calls": 2}, "occurred_at": at}),
        ),
        (
            "/leads".to_owned(),
            json!({"source": "site", "name": "Ivan", "manager_id": m, "occurred_at": at}),
        ),
    ];
    let mut last = 0;
    for (path, body) in steps {
        let answer = app.post(&path, &body).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.body);
        last = answer.body["position"].as_i64().unwrap();
    }
    let period = "from=2026-03-01&to=2026-04-01";
    let now = "now=2026-04-01T00:00:00Z";
    let queries = [
        format!("/reports/funnel?pipeline_id={pipeline}"),
        format!("/reports/conversion?pipeline_id={pipeline}&{period}"),
        format!("/reports/managers?{period}"),
        format!("/reports/overdue/tasks?{now}"),
        format!("/reports/overdue/deals?{now}"),
        format!("/reports/overdue/leads?{now}"),
        format!("/reports/loss-reasons?{period}"),
        "/reports/forecast?pipeline_id=".to_owned() + &pipeline,
        format!("/reports/revenue?by=source&{period}"),
        format!("/reports/leads?by=status&{period}"),
        format!("/reports/revenue?by=novelty&{period}"),
        format!("/reports/invoices?by=client&{period}&{now}"),
        "/reports/plans?month=2026-03".to_owned(),
        "/reports/tasks/people".to_owned(),
    ];
    let doc = app.get("/openapi.json").await.body;
    let analyst = crm_api::auth::create_token(app.log.pool(), None, "analyst", None)
        .await
        .unwrap();
    for query in &queries {
        let separator = if query.contains('?') { '&' } else { '?' };
        let query = format!("{query}{separator}min_position={last}");
        let answer = app.get(&query).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.body);
        // Every list of the answer has rows, so that the rows' fields are compared.
        for (name, field) in answer.body.as_object().unwrap() {
            if let Some(rows) = field.as_array() {
                assert!(!rows.is_empty(), "{query}: {name} is empty");
            }
        }
        let path = query.split('?').next().unwrap();
        conforms(&doc, answer_schema(&doc, path), &answer.body, path, true);
        // An analyst's answer, personal data removed, still fits the document.
        let seen = app
            .send(Method::GET, &query, Some(&analyst), None, &[])
            .await;
        assert_eq!(seen.status, StatusCode::OK, "{query}: {}", seen.body);
        conforms(&doc, answer_schema(&doc, path), &seen.body, path, false);
    }
    projectors.shutdown().await;
}
