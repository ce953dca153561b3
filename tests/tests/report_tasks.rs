//! The task list and the overdue tasks report against the tasks the test tracks:
//! rescheduled, reassigned, completed and cancelled ones.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use crm_tests::read::at;
use crm_tests::scenario::manager;
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A task as the test knows it: id, assignee, due time, status.
struct Tracked {
    id: String,
    assignee: Uuid,
    due: DateTime<Utc>,
    status: &'static str,
}

#[sqlx::test(migrations = false)]
async fn overdue_tasks_follow_their_definition(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let (a, b) = (manager(&app, "Olena").await, manager(&app, "Ivan").await);
    let mut tracked = Vec::new();
    let post = |path: String, body: Value| app.post_ok(path, body);
    for (assignee, due) in [
        (a, "2026-03-10T09:00:00Z"),
        (a, "2026-03-12T09:00:00Z"),
        (b, "2026-03-11T09:00:00Z"),
        (b, "2026-03-20T09:00:00Z"),
        (a, "2026-03-09T09:00:00Z"),
        (b, "2026-03-08T09:00:00Z"),
    ] {
        let body = post(
            "/tasks".into(),
            json!({"title": "Call back", "assignee_id": assignee, "due_at": due}),
        )
        .await;
        tracked.push(Tracked {
            id: body["id"].as_str().unwrap().to_owned(),
            assignee,
            due: at(due),
            status: "open",
        });
    }
    // Rescheduled later (no longer overdue), reassigned, completed, cancelled.
    let later = "2026-03-16T09:00:00Z";
    post(
        format!("/tasks/{}/reschedule", tracked[1].id),
        json!({"due_at": later}),
    )
    .await;
    tracked[1].due = at(later);
    post(
        format!("/tasks/{}/assign", tracked[2].id),
        json!({"assignee_id": a}),
    )
    .await;
    tracked[2].assignee = a;
    post(format!("/tasks/{}/complete", tracked[4].id), json!({})).await;
    tracked[4].status = "completed";
    let cancelled = post(
        format!("/tasks/{}/cancel", tracked[5].id),
        json!({"reason": "client left"}),
    )
    .await;
    let position = cancelled["position"].as_i64().unwrap();
    tracked[5].status = "cancelled";

    let now = at("2026-03-15T12:00:00Z");
    for manager in [None, Some(a), Some(b)] {
        let mut overdue: Vec<&Tracked> = tracked
            .iter()
            .filter(|t| {
                t.status == "open" && t.due < now && manager.is_none_or(|m| m == t.assignee)
            })
            .collect();
        overdue.sort_by(|x, y| x.due.cmp(&y.due).then(x.id.cmp(&y.id)));
        let expected: Vec<Value> = overdue
            .iter()
            .map(|t| json!([t.id, t.assignee, (now - t.due).num_seconds()]))
            .collect();
        let filter = manager
            .map(|m| format!("&manager_id={m}"))
            .unwrap_or_default();
        let answer = app
            .get(&format!(
                "/reports/overdue/tasks?now=2026-03-15T12:00:00Z&min_position={position}{filter}"
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let got: Vec<Value> = answer.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| json!([t["task_id"], t["assignee_id"], t["overdue_seconds"]]))
            .collect();
        assert_eq!(got, expected, "{filter}");
        let mut counts: Vec<(i64, String)> = Vec::new();
        for m in [a, b] {
            let n = overdue.iter().filter(|t| t.assignee == m).count() as i64;
            if n > 0 {
                counts.push((n, m.to_string()));
            }
        }
        counts.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let by_manager: Vec<Value> = counts
            .into_iter()
            .map(|(n, m)| json!({"manager_id": m, "overdue": n}))
            .collect();
        assert_eq!(answer.body["by_manager"], json!(by_manager), "{filter}");
    }
    // By hand: tasks 0 (3/10) and 2 (3/11, now Olena's) are overdue; 3/10 09:00 to 3/15 12:00 is 5 days 3 hours.
    let all = app
        .get("/reports/overdue/tasks?now=2026-03-15T12:00:00Z")
        .await;
    assert_eq!(
        all.body["tasks"][0]["overdue_seconds"],
        5 * 86_400 + 3 * 3_600
    );
    assert_eq!(
        all.body["by_manager"],
        json!([{"manager_id": a, "overdue": 2}])
    );

    // The task list: Olena's open tasks; and a page at a time.
    let open_a = app
        .get(&format!("/tasks?assignee_id={a}&status=open"))
        .await;
    let mut ids: Vec<String> = open_a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want: Vec<String> = tracked
        .iter()
        .filter(|t| t.assignee == a && t.status == "open")
        .map(|t| t.id.clone())
        .collect();
    want.sort();
    assert_eq!(ids, want);
    let first = app.get("/tasks?limit=4").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 4);
    let rest = app
        .get(&format!(
            "/tasks?limit=4&cursor={}",
            first.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);
    assert!(rest.body["next_cursor"].is_null());
    assert_eq!(
        app.get("/tasks?status=late").await.status,
        StatusCode::BAD_REQUEST
    );
    projectors.shutdown().await;
    app.log.close().await;
}
