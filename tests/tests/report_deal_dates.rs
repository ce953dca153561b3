//! The forecast and the overdue deals report against figures computed in the test.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::NaiveDate;
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A deal as the test set it up: pipeline, stage probability, amount, close date, outcome.
struct Planned {
    pipeline: usize,
    stage: usize,
    amount: i64,
    close: Option<&'static str>,
    outcome: Option<&'static str>,
}

#[sqlx::test(migrations = false)]
async fn forecast_and_overdue_deals_follow_their_definitions(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let m = manager(&app, "Olena").await;
    let c = client(&app, m).await;
    let probabilities = [[0.1, 0.45, 0.8], [0.2, 0.5, 0.9]];
    let mut pipelines = Vec::new();
    for (n, probs) in probabilities.iter().enumerate() {
        let stages: Vec<Value> = probs
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"id": Uuid::new_v4(), "name": format!("S{i}"), "probability": p}))
            .collect();
        let answer = app
            .post(
                "/pipelines",
                &json!({"name": format!("P{n}"), "stages": stages}),
            )
            .await;
        let id = answer.body["id"].as_str().unwrap().to_owned();
        pipelines.push((id, stages));
    }
    let plan = [
        Planned {
            pipeline: 0,
            stage: 0,
            amount: 1_001,
            close: Some("2026-03-14"),
            outcome: None,
        },
        Planned {
            pipeline: 0,
            stage: 1,
            amount: 2_003,
            close: Some("2026-03-15"),
            outcome: None,
        },
        Planned {
            pipeline: 0,
            stage: 2,
            amount: 3_007,
            close: Some("2026-04-01"),
            outcome: None,
        },
        Planned {
            pipeline: 0,
            stage: 2,
            amount: 4_011,
            close: Some("2026-01-31"),
            outcome: Some("win"),
        },
        Planned {
            pipeline: 0,
            stage: 1,
            amount: 5_013,
            close: Some("2026-02-10"),
            outcome: Some("lose"),
        },
        Planned {
            pipeline: 0,
            stage: 1,
            amount: 6_017,
            close: None,
            outcome: None,
        },
        Planned {
            pipeline: 1,
            stage: 2,
            amount: 7_019,
            close: Some("2026-02-28"),
            outcome: None,
        },
        Planned {
            pipeline: 1,
            stage: 0,
            amount: 8_023,
            close: Some("2026-04-30"),
            outcome: None,
        },
    ];
    let mut ids = Vec::new();
    let mut position = 0;
    for p in &plan {
        let (pipeline, stages) = &pipelines[p.pipeline];
        let mut body = json!({"client_id": c, "pipeline_id": pipeline, "stage_id": stages[p.stage]["id"], "title": "D", "amount": p.amount, "manager_id": m});
        if let Some(close) = p.close {
            body["expected_close_on"] = json!(close);
        }
        let answer = app.post("/deals", &body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        let id = answer.body["id"].as_str().unwrap().to_owned();
        position = answer.body["position"].as_i64().unwrap();
        if let Some(outcome) = p.outcome {
            let body = if outcome == "lose" {
                json!({"reason": "price"})
            } else {
                json!({})
            };
            position = app
                .post(&format!("/deals/{id}/{outcome}"), &body)
                .await
                .body["position"]
                .as_i64()
                .unwrap();
        }
        ids.push(id);
    }

    // The forecast, computed here: open deals with a date, by month.
    let expected = |only: Option<usize>| {
        let mut months: BTreeMap<String, (i64, i64, f64)> = BTreeMap::new();
        for p in plan
            .iter()
            .filter(|p| p.outcome.is_none() && only.is_none_or(|o| o == p.pipeline))
        {
            let Some(close) = p.close else { continue };
            let entry = months.entry(close[..7].to_owned()).or_default();
            entry.0 += 1;
            entry.1 += p.amount;
            entry.2 += p.amount as f64 * probabilities[p.pipeline][p.stage];
        }
        months
            .into_iter()
            .map(|(month, (deals, amount, weighted))| json!({"month": month, "deals": deals, "amount": amount, "weighted_amount": weighted.round() as i64}))
            .collect::<Vec<_>>()
    };
    let all = app
        .get(&format!("/reports/forecast?min_position={position}"))
        .await;
    assert_eq!(all.status, StatusCode::OK, "{:?}", all.body);
    assert_eq!(all.body["months"], json!(expected(None)));
    let first = app
        .get(&format!(
            "/reports/forecast?pipeline_id={}&min_position={position}",
            pipelines[0].0
        ))
        .await;
    assert_eq!(first.body["months"], json!(expected(Some(0))));
    // By hand, for March: 1,001 × 0.1 + 2,003 × 0.45 = 100.1 + 901.35 = 1,001.45 → 1,001.
    assert_eq!(
        first.body["months"][0],
        json!({"month": "2026-03", "deals": 2, "amount": 3_004, "weighted_amount": 1_001})
    );

    // Overdue as of 2026-03-15 10:00 UTC: open deals expected before that date.
    let now = "2026-03-15T10:00:00Z";
    let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
    let mut overdue: Vec<(NaiveDate, String, i64)> = plan
        .iter()
        .zip(&ids)
        .filter(|(p, _)| p.outcome.is_none())
        .filter_map(|(p, id)| {
            let close = NaiveDate::parse_from_str(p.close?, "%Y-%m-%d").ok()?;
            (close < today).then(|| (close, id.clone(), (today - close).num_days()))
        })
        .collect();
    overdue.sort();
    let answer = app
        .get(&format!(
            "/reports/overdue/deals?now={now}&min_position={position}"
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["now"], now);
    let got: Vec<(String, String, i64)> = answer.body["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["expected_close_on"].as_str().unwrap().to_owned(),
                d["deal_id"].as_str().unwrap().to_owned(),
                d["days_overdue"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, i64)> = overdue
        .into_iter()
        .map(|(d, id, n)| (d.to_string(), id, n))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        want.len(),
        2,
        "2026-02-28 and 2026-03-14; not the won, lost, undated or later ones"
    );
    assert_eq!(
        app.get("/reports/overdue/deals?now=soon").await.status,
        StatusCode::BAD_REQUEST
    );
    projectors.shutdown().await;
    app.log.close().await;
}
