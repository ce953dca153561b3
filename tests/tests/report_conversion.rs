//! Conversion of a cohort through a pipeline against the stages the test's deals
//! visited: opened at later stages, moved back, won, lost and reopened.

use axum::http::StatusCode;
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A deal of the test: who opened it, when, every stage index it stood at, whether it
/// was ever won, and its outcome now.
struct Track {
    manager: usize,
    month: u32,
    visited: Vec<usize>,
    ever_won: bool,
    now: &'static str,
}

/// A deal to make: manager, month opened, opening stage, then steps: ("stage", i),
/// ("win", _), ("lose", _) or ("reopen", i).
type Plan = (usize, u32, usize, Vec<(&'static str, usize)>);

fn ratio(part: i64, whole: i64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!((part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
    }
}

#[sqlx::test(migrations = false)]
async fn conversion_follows_its_definition(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let managers = [manager(&app, "Olena").await, manager(&app, "Ivan").await];
    let c = client(&app, managers[0]).await;
    let stages: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let body = json!({"name": "Wholesale", "stages": stages.iter().enumerate().map(|(i, id)|
        json!({"id": id, "name": format!("S{i}"), "probability": 0.2 * i as f64})).collect::<Vec<_>>()});
    let pipeline = app.post("/pipelines", &body).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut tracks = Vec::new();
    let mut position = 0;
    let plans: Vec<Plan> = vec![
        (0, 1, 0, vec![("stage", 1), ("stage", 2), ("stage", 1)]),
        (0, 1, 2, vec![("lose", 0)]),
        (0, 1, 0, vec![("win", 0)]),
        (0, 1, 0, vec![("lose", 0), ("reopen", 3)]),
        (1, 1, 1, vec![]),
        (0, 2, 0, vec![("stage", 3)]),
        (0, 1, 0, vec![("win", 0), ("reopen", 0)]),
    ];
    for (m, month, first, steps) in plans {
        let opened = format!("2026-{month:02}-10T10:00:00Z");
        let body = json!({"client_id": c, "pipeline_id": pipeline, "stage_id": stages[first], "title": "D",
                          "amount": 100, "manager_id": managers[m], "occurred_at": opened});
        let answer = app.post("/deals", &body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        let id = answer.body["id"].as_str().unwrap().to_owned();
        position = answer.body["position"].as_i64().unwrap();
        let mut track = Track {
            manager: m,
            month,
            visited: vec![first],
            ever_won: false,
            now: "open",
        };
        for (what, stage) in steps {
            let body = match what {
                "stage" | "reopen" => json!({"stage_id": stages[stage]}),
                "lose" => json!({"reason": "price"}),
                _ => json!({}),
            };
            let answer = app.post(&format!("/deals/{id}/{what}"), &body).await;
            assert!(answer.status.is_success(), "{what}: {:?}", answer.body);
            position = answer.body["position"].as_i64().unwrap();
            match what {
                "stage" | "reopen" => {
                    track.visited.push(stage);
                    track.now = "open";
                }
                "win" => {
                    track.ever_won = true;
                    track.now = "won";
                }
                _ => track.now = "lost",
            }
        }
        tracks.push(track);
    }

    for (query, manager) in [
        (String::new(), None),
        (format!("&manager_id={}", managers[0]), Some(0)),
    ] {
        let cohort: Vec<&Track> = tracks
            .iter()
            .filter(|t| t.month == 1 && manager.is_none_or(|m| m == t.manager))
            .collect();
        let highest = |t: &Track| {
            if t.ever_won {
                3
            } else {
                *t.visited.iter().max().unwrap()
            }
        };
        let reached: Vec<i64> = (0..4)
            .map(|i| cohort.iter().filter(|t| highest(t) >= i).count() as i64)
            .collect();
        let count = |now: &str| cohort.iter().filter(|t| t.now == now).count() as i64;
        let (won, lost, open) = (count("won"), count("lost"), count("open"));
        let expected_stages: Vec<Value> = (0..4)
            .map(|i| {
                json!({"stage_id": stages[i], "name": format!("S{i}"), "reached": reached[i],
                       "conversion_from_previous": if i == 0 { Value::Null } else { ratio(reached[i], reached[i - 1]) }})
            })
            .collect();
        let path = format!("/reports/conversion?pipeline_id={pipeline}&from=2026-01-01&to=2026-02-01&min_position={position}{query}");
        let answer = app.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(answer.body["cohort"], cohort.len());
        assert_eq!(answer.body["stages"], json!(expected_stages), "{query}");
        assert_eq!(
            (
                answer.body["won"].as_i64(),
                answer.body["lost"].as_i64(),
                answer.body["open"].as_i64()
            ),
            (Some(won), Some(lost), Some(open))
        );
        assert_eq!(answer.body["win_rate"], ratio(won, won + lost));
        assert_eq!(
            answer.body["conversion_to_won"],
            ratio(won, cohort.len() as i64)
        );
    }
    // By hand for the whole cohort (6 deals): reached 6, 6, 5, 3; S2 5/6 = 0.8333.
    let whole = app
        .get(&format!(
            "/reports/conversion?pipeline_id={pipeline}&from=2026-01-01&to=2026-02-01"
        ))
        .await;
    let reached: Vec<i64> = whole.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reached"].as_i64().unwrap())
        .collect();
    assert_eq!(reached, [6, 6, 5, 3]);
    assert_eq!(whole.body["stages"][2]["conversion_from_previous"], 0.8333);
    // An empty cohort: null ratios.
    let empty = app
        .get(&format!(
            "/reports/conversion?pipeline_id={pipeline}&from=2025-01-01&to=2025-02-01"
        ))
        .await;
    assert_eq!(
        (
            empty.body["cohort"].as_i64(),
            &empty.body["win_rate"],
            &empty.body["conversion_to_won"]
        ),
        (Some(0), &Value::Null, &Value::Null)
    );
    assert!(empty.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["conversion_from_previous"].is_null()));
    projectors.shutdown().await;
    app.log.close().await;
}
