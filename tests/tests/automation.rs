//! Automation rules through the API: each kind defined and listed with its params,
//! disabled once; only admins and directors define, disable or list them (everyone
//! else a 403 that appends nothing); bad kinds and params refused with the domain's
//! code; the document's bounds are the domain's.

use axum::http::{Method, StatusCode};
use crm_tests::scenario::{refused, registered, response_id, token};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// The log's last position (0 when empty).
async fn last_position(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM eventlog.events")
        .fetch_one(app.log.pool())
        .await
        .unwrap()
}

/// A pipeline with the one stage `stage`.
async fn pipeline_with(app: &TestApp, stage: Uuid) -> Uuid {
    let answer = app
        .post(
            "/pipelines",
            &json!({"name": "Sales", "stages": [{"id": stage, "name": "Offer", "probability": 0.5}]}),
        )
        .await;
    response_id(&answer, StatusCode::CREATED, "pipeline", 1)
}

/// Every rule listed as `token` reads them, waiting for `position` (asked again
/// while the read model lags: a loaded machine may take longer than one wait).
async fn listed(app: &TestApp, token: &str, query: &str, position: i64) -> Vec<Value> {
    let path = format!("/automation/rules?min_position={position}{query}");
    let mut answer = app.send(Method::GET, &path, Some(token), None, &[]).await;
    for _ in 0..10 {
        if answer.code() != "projection_lagging" {
            break;
        }
        answer = app.send(Method::GET, &path, Some(token), None, &[]).await;
    }
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    answer.body["items"].as_array().cloned().unwrap_or_default()
}

#[sqlx::test(migrations = false)]
async fn each_kind_is_defined_and_listed_with_its_params(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let _projectors = app.start_projectors();
    let stage = Uuid::new_v4();
    let pipeline = pipeline_with(&app, stage).await;
    let kinds = [
        (
            "lead_round_robin",
            json!({"department": "Retail", "strategy": "least_busy"}),
        ),
        (
            "task_on_stage",
            json!({"pipeline_id": pipeline, "stage_id": stage, "title": "Send the offer",
                   "kind": "call", "due_in_hours": 0}),
        ),
        ("lead_sla", json!({"sla_minutes": 30})),
        (
            "follow_up_after_win",
            json!({"after_days": 7, "title": "How is it going?"}),
        ),
        ("task_reminder", json!({"before_minutes": 15})),
    ];
    let mut expected = Vec::new();
    for (n, (kind, params)) in kinds.iter().enumerate() {
        let id = Uuid::new_v4();
        let name = format!("Rule {n}");
        let answer = app
            .post(
                "/automation/rules",
                &json!({"id": id, "name": name, "kind": kind, "params": params}),
            )
            .await;
        assert_eq!(response_id(&answer, StatusCode::CREATED, "rule", 1), id);
        let events = crm_tests::scenario::events(&app, &format!("rule-{id}")).await;
        assert_eq!(events[0]["type"], "RuleDefined");
        assert_eq!(events[0]["data"]["kind"], *kind);
        assert_eq!(events[0]["data"]["params"], *params);
        expected.push((id, name, kind.to_string(), params.clone(), Value::Null));
    }
    // A director defines one too, without an id; he is its definer.
    let director = registered(&app, "Dana", "Board", "director").await;
    let director_token = token(&app, Some(director), "director").await;
    let answer = app
        .send(
            Method::POST,
            "/automation/rules",
            Some(&director_token),
            Some(&json!({"name": "Remind early", "kind": "task_reminder",
                         "params": {"before_minutes": 120}, "occurred_at": "2026-02-02T10:00:00Z"})),
            &[],
        )
        .await;
    let id = response_id(&answer, StatusCode::CREATED, "rule", 1);
    let position = answer.body["position"].as_i64().unwrap();
    expected.push((
        id,
        "Remind early".into(),
        "task_reminder".into(),
        json!({"before_minutes": 120}),
        json!(director),
    ));

    for reader in [ADMIN_TOKEN, director_token.as_str()] {
        let items = listed(&app, reader, "", position).await;
        let got: Vec<_> = items
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().parse::<Uuid>().unwrap(),
                    r["name"].as_str().unwrap().to_owned(),
                    r["kind"].as_str().unwrap().to_owned(),
                    r["params"].clone(),
                    r["defined_by"].clone(),
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(items[5]["defined_at"], "2026-02-02T10:00:00Z");
        assert!(items.iter().all(|r| r["enabled"] == true
            && r["disabled_at"].is_null()
            && r["defined_at"].is_string()));
        let positions: Vec<i64> = items
            .iter()
            .map(|r| r["position"].as_i64().unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert_eq!(positions.last(), Some(&position));
    }
    // Pages of two follow each other.
    let paged = app.all_items("/automation/rules", 2).await;
    assert_eq!(paged.len(), 6);
    assert_eq!(paged[5]["id"], id.to_string());
}

#[sqlx::test(migrations = false)]
async fn only_admins_and_directors_define_disable_or_list_rules(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let rule = Uuid::new_v4();
    app.post_ok(
        "/automation/rules".into(),
        json!({"id": rule, "name": "SLA", "kind": "lead_sla", "params": {"sla_minutes": 60}}),
    )
    .await;
    for role in ["head", "manager", "analyst", "auditor"] {
        let member = registered(&app, "Someone", "Retail", role).await;
        let bearer = token(&app, Some(member), role).await;
        let before = last_position(&app).await;
        let cases = [
            (
                Method::POST,
                "/automation/rules".to_owned(),
                Some(json!({"name": "Mine", "kind": "lead_sla", "params": {"sla_minutes": 5}})),
            ),
            // Even a bad kind: the role is checked before anything is decided.
            (
                Method::POST,
                "/automation/rules".to_owned(),
                Some(json!({"name": "Mine", "kind": "teleport", "params": {}})),
            ),
            (
                Method::POST,
                format!("/automation/rules/{rule}/disable"),
                None,
            ),
            (Method::GET, "/automation/rules".to_owned(), None),
        ];
        for (method, path, body) in cases {
            let answer = app
                .send(method.clone(), &path, Some(&bearer), body.as_ref(), &[])
                .await;
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{role} {method} {path}: {}",
                answer.body
            );
            assert_eq!(
                answer.headers["content-type"], "application/problem+json",
                "{role} {path}"
            );
        }
        assert_eq!(last_position(&app).await, before, "{role} appended");
    }
    // The rule is still enabled: its stream has its one event.
    let events = crm_tests::scenario::events(&app, &format!("rule-{rule}")).await;
    assert_eq!(events.len(), 1);
}

#[sqlx::test(migrations = false)]
async fn bad_rules_are_refused_with_the_domains_code(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let stage = Uuid::new_v4();
    let pipeline = pipeline_with(&app, stage).await;
    let on_stage = |pipeline: Uuid, stage: Uuid, title: &str| {
        json!({"name": "On offer", "kind": "task_on_stage",
               "params": {"pipeline_id": pipeline, "stage_id": stage, "title": title, "due_in_hours": 4}})
    };
    let long = "x".repeat(201);
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"name": "R", "kind": "teleport", "params": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_rule_kind",
        ),
        (
            json!({"name": "R", "kind": "lead_sla", "params": {"sla_minutes": 0}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
        ),
        (
            json!({"name": "R", "kind": "task_reminder", "params": {"before_minutes": 366 * 24 * 60 + 1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
        ),
        (
            json!({"name": "R", "kind": "lead_sla", "params": {"sla_minutes": 5, "grace": 1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rule_params",
        ),
        (
            json!({"name": "R", "kind": "lead_sla", "params": {"before_minutes": 5}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rule_params",
        ),
        (
            json!({"name": "R", "kind": "lead_round_robin",
                   "params": {"department": "Retail", "strategy": "random"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rule_params",
        ),
        (
            json!({"name": "R", "kind": "follow_up_after_win", "params": {"after_days": 3, "title": "  "}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_title",
        ),
        (
            on_stage(pipeline, stage, ""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_title",
        ),
        (
            on_stage(pipeline, Uuid::new_v4(), "Call"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "stage_not_in_pipeline",
        ),
        (
            on_stage(Uuid::new_v4(), stage, "Call"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reference_not_found",
        ),
        (
            json!({"name": " ", "kind": "lead_sla", "params": {"sla_minutes": 5}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_name",
        ),
        (
            json!({"name": long, "kind": "lead_sla", "params": {"sla_minutes": 5}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_too_long",
        ),
        (
            on_stage(pipeline, stage, &long),
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_too_long",
        ),
        (
            json!({"name": "a\u{0}b", "kind": "lead_sla", "params": {"sla_minutes": 5}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            on_stage(pipeline, stage, "Ca\u{0}ll"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            json!({"name": "R", "kind": "lead_sla"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"name": "R", "kind": "lead_sla", "params": {"sla_minutes": 5}, "when": "2026-01-01T00:00:00Z"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        refused(
            &app,
            Method::POST,
            "/automation/rules",
            &body.to_string(),
            &[],
            status,
            code,
        )
        .await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_rule_is_disabled_once(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let _projectors = app.start_projectors();
    let [kept, dropped] = [(); 2].map(|_| Uuid::new_v4());
    for id in [kept, dropped] {
        app.post_ok(
            "/automation/rules".into(),
            json!({"id": id, "name": format!("SLA {id}"), "kind": "lead_sla", "params": {"sla_minutes": 45}}),
        )
        .await;
    }
    let off = app
        .send(
            Method::POST,
            &format!("/automation/rules/{dropped}/disable"),
            Some(ADMIN_TOKEN),
            Some(&json!({"occurred_at": "2026-03-01T09:00:00Z"})),
            &[],
        )
        .await;
    assert_eq!(response_id(&off, StatusCode::OK, "rule", 2), dropped);
    let events = crm_tests::scenario::events(&app, &format!("rule-{dropped}")).await;
    assert_eq!(events[1]["type"], "RuleDisabled");
    assert_eq!(events[1]["data"], json!({"rule_id": dropped}));

    let position = off.body["position"].as_i64().unwrap();
    let all = listed(&app, ADMIN_TOKEN, "", position).await;
    let state: Vec<(String, Value, Value)> = all
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["enabled"].clone(),
                r["disabled_at"].clone(),
            )
        })
        .collect();
    assert_eq!(
        state,
        vec![
            (kept.to_string(), json!(true), Value::Null),
            (
                dropped.to_string(),
                json!(false),
                json!("2026-03-01T09:00:00Z")
            ),
        ]
    );
    let enabled = listed(&app, ADMIN_TOKEN, "&enabled=true", position).await;
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0]["id"], kept.to_string());
    let disabled = listed(&app, ADMIN_TOKEN, "&enabled=false", position).await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0]["id"], dropped.to_string());

    for (path, body, status, code) in [
        (
            format!("/automation/rules/{dropped}/disable"),
            "{}".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rule_disabled",
        ),
        (
            format!("/automation/rules/{}/disable", Uuid::new_v4()),
            "{}".to_owned(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/automation/rules".to_owned(),
            json!({"id": kept, "name": "Again", "kind": "task_reminder", "params": {"before_minutes": 5}})
                .to_string(),
            StatusCode::CONFLICT,
            "already_exists",
        ),
    ] {
        refused(&app, Method::POST, &path, &body, &[], status, code).await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_retried_definition_with_its_key_defines_one_rule(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let body = json!({"name": "SLA", "kind": "lead_sla", "params": {"sla_minutes": 10}});
    let key = [("idempotency-key", "rule-once")];
    let first = app
        .send(
            Method::POST,
            "/automation/rules",
            Some(ADMIN_TOKEN),
            Some(&body),
            &key,
        )
        .await;
    let id = response_id(&first, StatusCode::CREATED, "rule", 1);
    let before = last_position(&app).await;
    let again = app
        .send(
            Method::POST,
            "/automation/rules",
            Some(ADMIN_TOKEN),
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(
        (again.status, &again.body),
        (StatusCode::CREATED, &first.body)
    );
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(last_position(&app).await, before);
    let events = crm_tests::scenario::events(&app, &format!("rule-{id}")).await;
    assert_eq!(events.len(), 1);
}

#[sqlx::test(migrations = false)]
async fn the_documented_rule_params_are_the_domains(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let doc = app.openapi().await;
    let schemas = &doc["components"]["schemas"];
    let body = &schemas["DefineRuleBody"]["properties"];
    assert_eq!(body["name"]["maxLength"], crm_domain::MAX_NAME_CHARS);
    assert_eq!(
        body["kind"]["oneOf"][0]["enum"],
        json!(crm_domain::rule::RuleSpec::KINDS)
    );
    let max = crm_domain::rule::spec::MAX_PERIOD_MINUTES;
    for (schema, field, min, most) in [
        ("LeadSlaParams", "sla_minutes", 1, max),
        ("TaskReminderParams", "before_minutes", 1, max),
        ("TaskOnStageParams", "due_in_hours", 0, max / 60),
        ("FollowUpAfterWinParams", "after_days", 1, max / 60 / 24),
    ] {
        let bound = &schemas[schema]["properties"][field];
        assert_eq!(
            (bound["minimum"].as_i64(), bound["maximum"].as_i64()),
            (Some(min), Some(most)),
            "{schema}.{field}"
        );
        assert_eq!(schemas[schema]["additionalProperties"], false, "{schema}");
    }
    for (schema, field) in [
        ("TaskOnStageParams", "title"),
        ("FollowUpAfterWinParams", "title"),
        ("LeadRoundRobinParams", "department"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["maxLength"],
            crm_domain::MAX_NAME_CHARS,
            "{schema}.{field}"
        );
    }
    let refusals = &doc["paths"]["/automation/rules"]["post"]["responses"]["422"]["x-refusals"];
    for code in [
        "invalid_rule_params",
        "stage_not_in_pipeline",
        "reference_not_found",
        "invalid_text",
    ] {
        assert!(
            refusals.as_array().unwrap().iter().any(|c| c == code),
            "{code}: {refusals}"
        );
    }
    assert_eq!(
        doc["paths"]["/automation/rules/{id}/disable"]["post"]["responses"]["422"]["x-refusals"],
        json!(["rule_disabled", "invalid_text"])
    );
}

mod exactly_once;
mod kinds;
mod support;
