//! Leads waiting past the SLA and the leads report, against the leads the test tracks.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use crm_tests::scenario::{manager, token};
use crm_tests::{TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// A lead as the test knows it.
struct Tracked {
    id: String,
    source: &'static str,
    manager: Option<Uuid>,
    received: DateTime<Utc>,
    status: &'static str,
    contacted: bool,
}

#[sqlx::test(migrations = false)]
async fn waiting_leads_and_the_leads_report_follow_their_definitions(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let (a, b) = (manager(&app, "Olena").await, manager(&app, "Ivan").await);
    let pipeline = app
        .post(
            "/pipelines",
            &json!({"name": "P", "stages": [{"name": "S", "probability": 0.5}]}),
        )
        .await
        .body["id"]
        .clone();
    let now: DateTime<Utc> = "2026-03-15T12:00:00Z".parse().unwrap();
    let post = |path: String, body: Value| app.post_ok(path, body);
    let mut leads = Vec::new();
    for (minutes_ago, source, manager) in [
        (120, "website", Some(a)),
        (90, "phone", None),
        (50, "website", Some(b)),
        (30, "exhibition", Some(a)),
        (10, "website", None),
        (20, "phone", Some(b)),
        (600, "website", Some(a)),
        (60 * 24 * 40, "website", Some(b)), // in February
    ] {
        let received = now - Duration::minutes(minutes_ago);
        let mut body = json!({"source": source, "name": "Ivan Petrov", "occurred_at": received});
        if let Some(m) = manager {
            body["manager_id"] = json!(m);
        }
        let id = post("/leads".into(), body).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        leads.push(Tracked {
            id,
            source,
            manager,
            received,
            status: if manager.is_some() { "assigned" } else { "new" },
            contacted: false,
        });
    }
    // Answered by a call; converted; rejected.
    post(
        "/interactions".into(),
        json!({"kind": "call", "direction": "outbound", "manager_id": a, "lead_id": leads[0].id}),
    )
    .await;
    leads[0].contacted = true;
    post(
        format!("/leads/{}/convert", leads[2].id),
        json!({"deal": {"pipeline_id": pipeline, "title": "First", "amount": 100}}),
    )
    .await;
    leads[2].status = "converted";
    post(
        format!("/leads/{}/reject", leads[6].id),
        json!({"reason": "spam"}),
    )
    .await;
    leads[6].status = "rejected";
    // Reassigned, and assigned at last: they count for their manager now.
    post(
        format!("/leads/{}/assign", leads[3].id),
        json!({"manager_id": b}),
    )
    .await;
    leads[3].manager = Some(b);
    let last = post(
        format!("/leads/{}/assign", leads[1].id),
        json!({"manager_id": a}),
    )
    .await;
    leads[1].manager = Some(a);
    leads[1].status = "assigned";
    let position = last["position"].as_i64().unwrap();

    for sla in [15_i64, 60] {
        let mut waiting: Vec<&Tracked> = leads
            .iter()
            .filter(|l| {
                matches!(l.status, "new" | "assigned")
                    && !l.contacted
                    && l.received < now - Duration::minutes(sla)
            })
            .collect();
        waiting.sort_by(|x, y| x.received.cmp(&y.received).then(x.id.cmp(&y.id)));
        let expected: Vec<Value> = waiting
            .iter()
            .map(|l| json!([l.id, l.source, l.manager, (now - l.received).num_seconds()]))
            .collect();
        let answer = app.get(&format!("/reports/overdue/leads?now=2026-03-15T12:00:00Z&sla_minutes={sla}&min_position={position}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let got: Vec<Value> = answer.body["leads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                json!([
                    l["lead_id"],
                    l["source"],
                    l["manager_id"],
                    l["waiting_seconds"]
                ])
            })
            .collect();
        assert_eq!(got, expected, "sla {sla}");
    }
    // By hand, SLA 15: the February lead, then 90 and 30 and 20 minutes ago (not the answered,
    // converted, rejected or 10-minute-old ones).
    let by_hand = app
        .get("/reports/overdue/leads?now=2026-03-15T12:00:00Z")
        .await;
    assert_eq!(by_hand.body["leads"].as_array().unwrap().len(), 4);

    // The leads report for March 1–16 (the February lead is outside); over whole
    // months, whole days and partial days at both ends; and within one day.
    let periods = [
        ("2026-03-01", "2026-03-16"),
        ("2026-01-31T18:00:00Z", "2026-03-15T11:00:00Z"),
        ("2026-02-01", "2026-04-01"),
        ("2026-03-15T10:00:00Z", "2026-03-15T11:45:00Z"),
    ];
    // As the admin (every lead) and as each manager (their own leads: the reach).
    let mut readers = vec![(None, ADMIN_TOKEN.to_owned())];
    for m in [a, b] {
        readers.push((Some(m), token(&app, Some(m), "manager").await));
    }
    for (((from, to), by), (reach, token)) in periods
        .iter()
        .flat_map(|p| ["manager", "status", "source"].map(|by| (*p, by)))
        .flat_map(|p| readers.iter().map(move |r| (p, r)))
    {
        let bound = |b: &str| -> DateTime<Utc> {
            b.parse()
                .unwrap_or_else(|_| format!("{b}T00:00:00Z").parse().unwrap())
        };
        let (start, end) = (bound(from), bound(to));
        let mut groups: BTreeMap<Option<String>, i64> = BTreeMap::new();
        for l in leads.iter().filter(|l| {
            l.received >= start && l.received < end && reach.is_none_or(|m| l.manager == Some(m))
        }) {
            let key = match by {
                "manager" => l.manager.map(|m| m.to_string()),
                "status" => Some(l.status.to_owned()),
                _ => Some(l.source.to_owned()),
            };
            *groups.entry(key).or_default() += 1;
        }
        let mut rows: Vec<(Option<String>, i64)> = groups.into_iter().collect();
        rows.sort_by(|x, y| {
            y.1.cmp(&x.1).then_with(|| match (&x.0, &y.0) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(p), Some(q)) => p.cmp(q),
            })
        });
        let expected: Vec<Value> = rows
            .into_iter()
            .map(|(key, n)| json!({"key": key, "leads": n}))
            .collect();
        let path = format!("/reports/leads?by={by}&from={from}&to={to}&min_position={position}");
        let answer = app.send(Method::GET, &path, Some(token), None, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        assert_eq!(
            answer.body["groups"],
            json!(expected),
            "by {by} {from} {to} as {reach:?}"
        );
    }
    assert_eq!(
        app.get("/reports/leads?by=color&from=2026-03-01&to=2026-03-16")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/reports/overdue/leads?sla_minutes=-5")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    projectors.shutdown().await;
    app.log.close().await;
}
