//! The funnel and the deal list against a small independent model of the scenario:
//! deals opened at later stages, moved, won, lost and reopened, reassigned, their
//! amounts changed, some facts backdated, some after the as-of time.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, TimeZone, Utc};
use crm_tests::scenario::{client, manager};
use crm_tests::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

fn day(month: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, d, 12, 0, 0).unwrap()
}

/// A fact about a deal: when, and the stage, amount, manager and status it set.
type Fact = (
    DateTime<Utc>,
    Option<Uuid>,
    Option<i64>,
    Option<Uuid>,
    Option<&'static str>,
);

/// What the test knows of a deal: its facts in version order, each with its business
/// time and the fields it set (stage, amount, manager, status).
#[derive(Default, Clone)]
struct ModelDeal {
    facts: Vec<Fact>,
}

impl ModelDeal {
    /// The deal folded from its facts that occurred by `t` (None: not opened by then).
    fn at(&self, t: Option<DateTime<Utc>>) -> Option<(Uuid, i64, Uuid, &'static str)> {
        let keep = |at: &DateTime<Utc>| t.is_none_or(|t| *at <= t);
        let (opened, stage, amount, manager, status) = self.facts.first()?;
        if !keep(opened) {
            return None;
        }
        let (mut s, mut a, mut m, mut st) = (
            stage.unwrap(),
            amount.unwrap(),
            manager.unwrap(),
            status.unwrap(),
        );
        for (at, stage, amount, manager, status) in self.facts.iter().skip(1).filter(|f| keep(&f.0))
        {
            let _ = at;
            s = stage.unwrap_or(s);
            a = amount.unwrap_or(a);
            m = manager.unwrap_or(m);
            st = status.unwrap_or(st);
        }
        Some((s, a, m, st))
    }
}

struct Scenario {
    app: TestApp,
    pipeline: Uuid,
    stages: Vec<(Uuid, &'static str)>,
    deals: BTreeMap<Uuid, ModelDeal>,
    managers: [Uuid; 2],
    last_position: i64,
}

impl Scenario {
    async fn post(&mut self, path: &str, body: Value) -> Value {
        let answer = self.app.post(path, &body).await;
        assert!(
            answer.status.is_success(),
            "{path} {body}: {:?}",
            answer.body
        );
        self.last_position = answer.body["position"].as_i64().unwrap();
        answer.body
    }

    async fn open(
        &mut self,
        stage: usize,
        amount: i64,
        manager: usize,
        at: DateTime<Utc>,
        client: Uuid,
    ) -> Uuid {
        let body = json!({"client_id": client, "pipeline_id": self.pipeline, "stage_id": self.stages[stage].0,
                          "title": "Deal", "amount": amount, "manager_id": self.managers[manager], "occurred_at": at});
        let id: Uuid = self.post("/deals", body).await["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let fact = (
            at,
            Some(self.stages[stage].0),
            Some(amount),
            Some(self.managers[manager]),
            Some("open"),
        );
        self.deals.insert(id, ModelDeal { facts: vec![fact] });
        id
    }

    async fn act(
        &mut self,
        deal: Uuid,
        what: &str,
        body: Value,
        at: DateTime<Utc>,
        fact: (
            Option<Uuid>,
            Option<i64>,
            Option<Uuid>,
            Option<&'static str>,
        ),
    ) {
        let mut body = body;
        body["occurred_at"] = json!(at);
        self.post(&format!("/deals/{deal}/{what}"), body).await;
        self.deals
            .get_mut(&deal)
            .unwrap()
            .facts
            .push((at, fact.0, fact.1, fact.2, fact.3));
    }

    /// The funnel the model gives: (stage, deals, amount) per stage in order.
    fn expected(&self, manager: Option<Uuid>, t: Option<DateTime<Utc>>) -> Vec<(String, i64, i64)> {
        self.stages
            .iter()
            .map(|(stage, _)| {
                let open: Vec<_> = self
                    .deals
                    .values()
                    .filter_map(|d| d.at(t))
                    .filter(|(s, _, m, st)| {
                        s == stage && *st == "open" && manager.is_none_or(|x| x == *m)
                    })
                    .collect();
                (
                    stage.to_string(),
                    open.len() as i64,
                    open.iter().map(|d| d.1).sum(),
                )
            })
            .collect()
    }

    async fn funnel(&self, query: &str) -> Vec<(String, i64, i64)> {
        let path = format!(
            "/reports/funnel?pipeline_id={}&min_position={}{query}",
            self.pipeline, self.last_position
        );
        let answer = self.app.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
        let stages = answer.body["stages"].as_array().unwrap();
        let total: i64 = stages.iter().map(|s| s["deals"].as_i64().unwrap()).sum();
        assert_eq!(answer.body["open_deals"], total);
        stages
            .iter()
            .map(|s| {
                (
                    s["stage_id"].as_str().unwrap().to_owned(),
                    s["deals"].as_i64().unwrap(),
                    s["amount"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

#[sqlx::test(migrations = false)]
async fn the_funnel_and_deal_list_agree_with_an_independent_model(pool: PgPool) {
    let app = TestApp::new(pool).await.unwrap();
    let projectors = app.start_projectors();
    let managers = [manager(&app, "Olena").await, manager(&app, "Ivan").await];
    let client = client(&app, managers[0]).await;
    let stages: Vec<(Uuid, &'static str)> = vec![
        (Uuid::new_v4(), "Qualified"),
        (Uuid::new_v4(), "Proposal"),
        (Uuid::new_v4(), "Contract"),
    ];
    let body = json!({"name": "Wholesale", "stages": stages.iter().enumerate().map(|(i, (id, name))|
        json!({"id": id, "name": name, "probability": 0.3 * i as f64})).collect::<Vec<_>>()});
    let answer = app.post("/pipelines", &body).await;
    let pipeline: Uuid = answer.body["id"].as_str().unwrap().parse().unwrap();
    let mut s = Scenario {
        app: app.clone(),
        pipeline,
        stages: stages.clone(),
        deals: BTreeMap::new(),
        managers,
        last_position: 0,
    };
    let (s0, s1, s2) = (stages[0].0, stages[1].0, stages[2].0);

    let d1 = s.open(0, 100, 0, day(1, 1), client).await;
    s.act(
        d1,
        "stage",
        json!({"stage_id": s1}),
        day(1, 10),
        (Some(s1), None, None, None),
    )
    .await;
    // Backdated: recorded after the stage change, but it occurred before it.
    s.act(
        d1,
        "amount",
        json!({"amount": 150}),
        day(1, 8),
        (None, Some(150), None, None),
    )
    .await;
    let _d2 = s.open(2, 200, 1, day(1, 5), client).await; // opened at a later stage
    let d3 = s.open(0, 300, 0, day(1, 2), client).await;
    s.act(
        d3,
        "win",
        json!({"amount": 350}),
        day(1, 20),
        (None, Some(350), None, Some("won")),
    )
    .await;
    let d4 = s.open(1, 400, 0, day(1, 3), client).await;
    s.act(
        d4,
        "lose",
        json!({"reason": "price"}),
        day(1, 15),
        (None, None, None, Some("lost")),
    )
    .await;
    s.act(
        d4,
        "reopen",
        json!({"stage_id": s2}),
        day(2, 1),
        (Some(s2), None, None, Some("open")),
    )
    .await;
    let d5 = s.open(0, 500, 0, day(1, 4), client).await;
    s.act(
        d5,
        "assign",
        json!({"manager_id": managers[1]}),
        day(1, 12),
        (None, None, Some(managers[1]), None),
    )
    .await;
    s.act(
        d5,
        "amount",
        json!({"amount": 550}),
        day(1, 13),
        (None, Some(550), None, None),
    )
    .await;
    let _d6 = s.open(1, 600, 1, day(3, 1), client).await; // after the as-of times
    let d7 = s.open(0, 700, 0, day(1, 6), client).await;
    s.act(
        d7,
        "stage",
        json!({"stage_id": s2}),
        day(1, 7),
        (Some(s2), None, None, None),
    )
    .await;
    s.act(
        d7,
        "amount",
        json!({"amount": 750}),
        day(2, 20),
        (None, Some(750), None, None),
    )
    .await;
    s.act(
        d7,
        "stage",
        json!({"stage_id": s0}),
        day(2, 21),
        (Some(s0), None, None, None),
    )
    .await;

    for (query, manager, t) in [
        (String::new(), None, None),
        (
            format!("&manager_id={}", managers[0]),
            Some(managers[0]),
            None,
        ),
        (
            format!("&manager_id={}", managers[1]),
            Some(managers[1]),
            None,
        ),
        (
            "&as_of=2026-01-09T12:00:00Z".to_owned(),
            None,
            Some(day(1, 9)),
        ),
        (
            "&as_of=2026-01-14T12:00:00Z".to_owned(),
            None,
            Some(day(1, 14)),
        ),
        (
            "&as_of=2026-02-15T12:00:00Z".to_owned(),
            None,
            Some(day(2, 15)),
        ),
        (
            format!("&as_of=2026-02-15T12:00:00Z&manager_id={}", managers[1]),
            Some(managers[1]),
            Some(day(2, 15)),
        ),
        (
            "&as_of=2025-12-31T00:00:00Z".to_owned(),
            None,
            Some(Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).unwrap()),
        ),
    ] {
        let expected = s.expected(manager, t);
        assert_eq!(s.funnel(&query).await, expected, "funnel{query}");
    }
    // Spot-check the model itself on a few figures worked out by hand.
    assert_eq!(
        s.expected(None, Some(day(1, 9)))[0],
        (s0.to_string(), 3, 150 + 300 + 500)
    );
    assert_eq!(s.expected(None, None)[2], (s2.to_string(), 2, 200 + 400));

    // The deal list: open deals of the pipeline, a page of two at a time.
    let mut cursor = String::new();
    let mut listed = Vec::new();
    loop {
        let page = app
            .get(&format!(
                "/deals?pipeline_id={pipeline}&status=open&limit=2&cursor={cursor}"
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        listed.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let mut open: Vec<String> = s
        .deals
        .iter()
        .filter(|(_, d)| d.at(None).unwrap().3 == "open")
        .map(|(id, _)| id.to_string())
        .collect();
    open.sort();
    assert_eq!(listed, open);
    let won = app
        .get(&format!("/deals?status=won&manager_id={}", managers[0]))
        .await;
    assert_eq!(won.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(won.body["items"][0]["amount"], 350);

    assert_eq!(
        app.get(&format!("/reports/funnel?pipeline_id={}", Uuid::new_v4()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/reports/funnel").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/deals?status=pending").await.status,
        StatusCode::BAD_REQUEST
    );
    projectors.shutdown().await;
    app.log.close().await;
}
