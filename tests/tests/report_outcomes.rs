//! Loss reasons and revenue against the wins and losses the test itself records.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

/// A win or a loss as the test saw it: when, amount then, manager then, reason,
/// and the deal's source, pipeline and client.
struct Outcome {
    won: bool,
    at: &'static str,
    amount: i64,
    manager: String,
    reason: &'static str,
    source: Option<&'static str>,
    pipeline: String,
    client: String,
}

#[sqlx::test(migrations = false)]
async fn loss_reasons_and_revenue_follow_their_definitions(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let (m1, m2) = (
        manager(&app, "Olena").await.to_string(),
        manager(&app, "Ivan").await.to_string(),
    );
    let (c1, c2) = (
        client(&app, m1.parse().unwrap()).await.to_string(),
        client(&app, m2.parse().unwrap()).await.to_string(),
    );
    let mut pipelines = Vec::new();
    for name in ["Wholesale", "Retail"] {
        let answer = app
            .post(
                "/pipelines",
                &json!({"name": name, "stages": [{"name": "S", "probability": 0.5}]}),
            )
            .await;
        pipelines.push(answer.body["id"].as_str().unwrap().to_owned());
    }
    let post = |path: String, body: Value| app.post_ok(path, body);
    let mut outcomes = Vec::new();
    let open = |pipeline: &str, client: &str, manager: &str, amount: i64, source: Option<&str>| {
        json!({"client_id": client, "pipeline_id": pipeline, "title": "D", "amount": amount, "manager_id": manager,
               "source": source, "occurred_at": "2026-01-01T09:00:00Z"})
    };

    // d1: won by m1 in January at a changed amount.
    let d1 = post(
        "/deals".into(),
        open(&pipelines[0], &c1, &m1, 1_000, Some("website")),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        format!("/deals/{d1}/amount"),
        json!({"amount": 1_200, "occurred_at": "2026-01-05T09:00:00Z"}),
    )
    .await;
    post(
        format!("/deals/{d1}/win"),
        json!({"occurred_at": "2026-01-10T09:00:00Z"}),
    )
    .await;
    outcomes.push(Outcome {
        won: true,
        at: "2026-01-10",
        amount: 1_200,
        manager: m1.clone(),
        reason: "",
        source: Some("website"),
        pipeline: pipelines[0].clone(),
        client: c1.clone(),
    });
    // d2: reassigned to m2, then won in February with an amount of its own.
    let d2 = post(
        "/deals".into(),
        open(&pipelines[1], &c2, &m1, 5_000, Some("referral")),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        format!("/deals/{d2}/assign"),
        json!({"manager_id": m2, "occurred_at": "2026-01-20T09:00:00Z"}),
    )
    .await;
    post(
        format!("/deals/{d2}/win"),
        json!({"amount": 4_500, "occurred_at": "2026-02-02T09:00:00Z"}),
    )
    .await;
    outcomes.push(Outcome {
        won: true,
        at: "2026-02-02",
        amount: 4_500,
        manager: m2.clone(),
        reason: "",
        source: Some("referral"),
        pipeline: pipelines[1].clone(),
        client: c2.clone(),
    });
    // d3: lost for price, reopened, amount cut, lost for price again: counts twice.
    let d3 = post("/deals".into(), open(&pipelines[0], &c1, &m1, 3_000, None)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        format!("/deals/{d3}/lose"),
        json!({"reason": "price", "occurred_at": "2026-01-15T09:00:00Z"}),
    )
    .await;
    outcomes.push(Outcome {
        won: false,
        at: "2026-01-15",
        amount: 3_000,
        manager: m1.clone(),
        reason: "price",
        source: None,
        pipeline: pipelines[0].clone(),
        client: c1.clone(),
    });
    post(
        format!("/deals/{d3}/reopen"),
        json!({"occurred_at": "2026-01-16T09:00:00Z"}),
    )
    .await;
    post(
        format!("/deals/{d3}/amount"),
        json!({"amount": 2_500, "occurred_at": "2026-01-17T09:00:00Z"}),
    )
    .await;
    post(
        format!("/deals/{d3}/lose"),
        json!({"reason": "price", "occurred_at": "2026-01-25T09:00:00Z"}),
    )
    .await;
    outcomes.push(Outcome {
        won: false,
        at: "2026-01-25",
        amount: 2_500,
        manager: m1.clone(),
        reason: "price",
        source: None,
        pipeline: pipelines[0].clone(),
        client: c1.clone(),
    });
    // d4: lost by m2 for late delivery; d5: lost in March (outside the period).
    let d4 = post(
        "/deals".into(),
        open(&pipelines[1], &c2, &m2, 700, Some("website")),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        format!("/deals/{d4}/lose"),
        json!({"reason": "delivery", "occurred_at": "2026-01-28T09:00:00Z"}),
    )
    .await;
    outcomes.push(Outcome {
        won: false,
        at: "2026-01-28",
        amount: 700,
        manager: m2.clone(),
        reason: "delivery",
        source: Some("website"),
        pipeline: pipelines[1].clone(),
        client: c2.clone(),
    });
    let d5 = post("/deals".into(), open(&pipelines[0], &c1, &m1, 900, None)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let last = post(
        format!("/deals/{d5}/lose"),
        json!({"reason": "delivery", "occurred_at": "2026-03-03T09:00:00Z"}),
    )
    .await;
    outcomes.push(Outcome {
        won: false,
        at: "2026-03-03",
        amount: 900,
        manager: m1.clone(),
        reason: "delivery",
        source: None,
        pipeline: pipelines[0].clone(),
        client: c1.clone(),
    });
    let position = last["position"].as_i64().unwrap();

    let in_period = |o: &&Outcome, from: &str, to: &str| o.at >= from && o.at < to;
    // Loss reasons in January and February, all and by manager / pipeline.
    let losses = |manager: Option<&str>, pipeline: Option<&str>| {
        let mut by: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for o in outcomes
            .iter()
            .filter(|o| !o.won)
            .filter(|o| in_period(o, "2026-01-01", "2026-03-01"))
        {
            if manager.is_some_and(|m| m != o.manager) || pipeline.is_some_and(|p| p != o.pipeline)
            {
                continue;
            }
            let e = by.entry(o.reason).or_default();
            e.0 += 1;
            e.1 += o.amount;
        }
        let mut rows: Vec<_> = by.into_iter().collect();
        rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        json!(rows.into_iter().map(|(reason, (deals, amount))| json!({"reason": reason, "deals": deals, "amount": amount})).collect::<Vec<_>>())
    };
    let period = format!("from=2026-01-01&to=2026-03-01&min_position={position}");
    for (extra, manager, pipeline) in [
        (String::new(), None, None),
        (format!("&manager_id={m2}"), Some(m2.as_str()), None),
        (
            format!("&pipeline_id={}", pipelines[0]),
            None,
            Some(pipelines[0].as_str()),
        ),
    ] {
        let answer = app
            .get(&format!("/reports/loss-reasons?{period}{extra}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.body["reasons"], losses(manager, pipeline), "{extra}");
    }
    assert_eq!(
        losses(None, None)[0],
        json!({"reason": "price", "deals": 2, "amount": 5_500}),
        "by hand"
    );

    // Revenue in January only, and in January–February, by each key.
    for (from, to) in [
        ("2026-01-01", "2026-02-01"),
        ("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
    ] {
        for by in ["manager", "source", "pipeline", "client"] {
            let mut groups: BTreeMap<Option<String>, (i64, i64)> = BTreeMap::new();
            for o in outcomes
                .iter()
                .filter(|o| o.won)
                .filter(|o| in_period(o, &from[..10], &to[..10]))
            {
                let key = match by {
                    "manager" => Some(o.manager.clone()),
                    "source" => o.source.map(str::to_owned),
                    "pipeline" => Some(o.pipeline.clone()),
                    _ => Some(o.client.clone()),
                };
                let e = groups.entry(key).or_default();
                e.0 += 1;
                e.1 += o.amount;
            }
            let mut rows: Vec<_> = groups.into_iter().collect();
            rows.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
            let expected = json!(rows
                .into_iter()
                .map(|(key, (deals, amount))| json!({"key": key, "deals": deals, "amount": amount}))
                .collect::<Vec<_>>());
            let answer = app
                .get(&format!(
                    "/reports/revenue?by={by}&from={from}&to={to}&min_position={position}"
                ))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            assert_eq!(answer.body["groups"], expected, "by {by} {from}..{to}");
        }
    }
    assert_eq!(
        app.get("/reports/revenue?by=planet&from=2026-01-01&to=2026-02-01")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/reports/revenue?by=manager&from=2026-02-01&to=2026-01-01")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/reports/loss-reasons?from=2026-01-01")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    projectors.shutdown().await;
    app.log.close().await;
}
