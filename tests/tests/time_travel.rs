//! The deal list `as_of` a past time, read from the temporal read model, agrees with
//! each deal folded from its own stream cut at that time, on a generated company.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use crm_api::seed::{self, SeedOptions};
use crm_tests::TestApp;
use serde_json::Value;
use sqlx::PgPool;

/// Every deal of `/deals?{query}`, page after page.
async fn all_pages(app: &TestApp, query: &str) -> Vec<Value> {
    let (mut items, mut cursor) = (Vec::new(), String::new());
    loop {
        let answer = app
            .get(&format!("/deals?{query}&limit=200&cursor={cursor}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        items.extend(answer.body["items"].as_array().unwrap().iter().cloned());
        match answer.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return items,
        }
    }
}

#[sqlx::test(migrations = false)]
async fn the_deal_list_as_of_a_time_is_each_deal_folded_from_its_stream_then(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await.unwrap();
    let until = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    seed::seed(&app.log, &SeedOptions::new(4_000, 5, until), |_| {})
        .await
        .unwrap();
    let projectors = app.start_projectors();
    let last = app.log.last_position().await.unwrap().unwrap();
    crm_projections::wait_until_reflects(&app.log, "deals", last, Duration::from_secs(60))
        .await
        .unwrap();

    for instant in [
        "2025-09-15T12:00:00Z",
        "2026-01-10T00:00:00Z",
        "2026-05-20T08:30:00Z",
    ] {
        let at: DateTime<Utc> = instant.parse().unwrap();
        let listed = all_pages(&app, &format!("as_of={instant}")).await;
        // The deals opened by then, from the log itself.
        let opened: BTreeSet<String> = sqlx::query_scalar(
            "SELECT data->>'deal_id' FROM eventlog.events \
              WHERE event_type = 'DealOpened' AND occurred_at <= $1",
        )
        .bind(at)
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let ids: BTreeSet<String> = listed
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(!ids.is_empty(), "{instant}: some deals were open by then");
        assert_eq!(ids, opened, "{instant}: the deals opened by then");
        // Each one as its own stream, cut at that time, folds it.
        let mut statuses = BTreeSet::new();
        for deal in &listed {
            let id = deal["id"].as_str().unwrap();
            let folded = app.get(&format!("/deals/{id}?as_of={instant}")).await;
            assert_eq!(folded.status, StatusCode::OK, "{}", folded.body);
            assert_eq!(deal, &folded.body, "{instant}: deal {id}");
            statuses.insert(deal["status"].as_str().unwrap().to_owned());
        }
        // Filters apply to the state then.
        for status in &statuses {
            let filtered = all_pages(&app, &format!("as_of={instant}&status={status}")).await;
            let expected: Vec<&Value> = listed.iter().filter(|d| d["status"] == **status).collect();
            assert_eq!(
                filtered.iter().collect::<Vec<_>>(),
                expected,
                "{instant} {status}"
            );
        }
    }
    projectors.shutdown().await;
}
