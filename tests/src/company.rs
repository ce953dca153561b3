//! A company of two departments for the tests of who may see and do what: North
//! (head Hanna, managers Andriy and Bohdan) and South (manager Ciril); a pipeline;
//! a client and a deal each for Andriy, Bohdan and Ciril; leads of Andriy and Ciril;
//! a task each, Ciril's observed by Andriy; a token for every role; the read models
//! running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use crm_api::hidden::HiddenFields;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::app::{Answer, TestApp};
use crate::scenario::{pipeline, registered, response_id, token};

/// The company, its entities and tokens.
pub struct Company {
    /// The app on the company's database.
    pub app: TestApp,
    /// The pipeline (stages New, Offer).
    pub pipeline: Uuid,
    /// Its stages, in order.
    pub stages: Vec<Uuid>,
    /// A manager of North.
    pub andriy: Uuid,
    /// Another manager of North.
    pub bohdan: Uuid,
    /// The manager of South.
    pub ciril: Uuid,
    /// The head of North.
    pub hanna: Uuid,
    /// Clients of Andriy, Bohdan, Ciril.
    pub clients: [Uuid; 3],
    /// Deals of Andriy, Bohdan, Ciril (1000, 2000, 3000), one per client.
    pub deals: [Uuid; 3],
    /// Leads of Andriy and Ciril.
    pub leads: [Uuid; 2],
    /// Andriy's task; Ciril's task that Andriy observes; Bohdan's task.
    pub tasks: [Uuid; 3],
    /// A token for each role.
    pub tokens: Tokens,
    /// The position every read model must reflect before a query answers.
    pub position: i64,
    _projectors: crm_projections::RunningProjectors,
}

/// A token for each role.
pub struct Tokens {
    /// Andriy's (manager).
    pub andriy: String,
    /// Bohdan's (manager).
    pub bohdan: String,
    /// Ciril's (manager).
    pub ciril: String,
    /// Hanna's (head of North).
    pub hanna: String,
    /// A director's.
    pub director: String,
    /// An admin's (not the bootstrap token).
    pub admin: String,
    /// An auditor's.
    pub auditor: String,
    /// An analyst's.
    pub analyst: String,
}

/// Checks `answer` is a 403 problem with `code`.
pub fn forbidden(answer: &Answer, code: &str) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(answer.code(), code, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
}

impl Company {
    /// The company on `pool`'s database, `hidden` hidden from each role, its read
    /// models caught up.
    pub async fn new(pool: PgPool, hidden: HiddenFields) -> Company {
        let app = TestApp::with(pool, |s| s.with_hidden_fields(hidden))
            .await
            .unwrap();
        let andriy = registered(&app, "Andriy", "North", "manager").await;
        let bohdan = registered(&app, "Bohdan", "North", "manager").await;
        let ciril = registered(&app, "Ciril", "South", "manager").await;
        let hanna = registered(&app, "Hanna", "North", "head").await;
        let pipeline = pipeline(&app).await;
        let stages = stages(&app, pipeline).await;
        let mut clients = [Uuid::nil(); 3];
        let mut deals = [Uuid::nil(); 3];
        for (n, (manager, name)) in [(andriy, "Alpha"), (bohdan, "Beta"), (ciril, "Gamma")]
            .into_iter()
            .enumerate()
        {
            let answer = app
                .post(
                    "/clients",
                    &json!({"name": name, "kind": "company", "industry": "retail", "region": "Kyiv",
                            "manager_id": manager,
                            "contacts": [{"name": format!("{name} Boss"), "phone": "+380501112233",
                                          "email": "boss@example.com"}]}),
                )
                .await;
            clients[n] = response_id(&answer, StatusCode::CREATED, "client", 1);
            let answer = app
                .post(
                    "/deals",
                    &json!({"client_id": clients[n], "pipeline_id": pipeline, "title": format!("{name} deal"),
                            "amount": 1000 * (n as i64 + 1), "manager_id": manager,
                            "expected_close_on": "2026-01-10"}),
                )
                .await;
            deals[n] = response_id(&answer, StatusCode::CREATED, "deal", 1);
        }
        let mut leads = [Uuid::nil(); 2];
        for (n, manager) in [andriy, ciril].into_iter().enumerate() {
            let answer = app
                .post(
                    "/leads",
                    &json!({"source": "web", "name": format!("Lead {n}"), "phone": "+380671234567",
                            "email": "lead@example.com", "manager_id": manager,
                            "occurred_at": "2026-01-05T10:00:00Z"}),
                )
                .await;
            leads[n] = response_id(&answer, StatusCode::CREATED, "lead", 2);
        }
        let mut tasks = [Uuid::nil(); 3];
        for (n, (assignee, observers)) in
            [(andriy, vec![]), (ciril, vec![andriy]), (bohdan, vec![])]
                .into_iter()
                .enumerate()
        {
            let answer = app
                .post(
                    "/tasks",
                    &json!({"title": format!("Task {n}"), "assignee_id": assignee,
                            "due_at": "2026-01-02T09:00:00Z", "observer_ids": observers}),
                )
                .await;
            tasks[n] = response_id(&answer, StatusCode::CREATED, "task", 1);
        }
        let tokens = Tokens {
            andriy: token(&app, Some(andriy), "manager").await,
            bohdan: token(&app, Some(bohdan), "manager").await,
            ciril: token(&app, Some(ciril), "manager").await,
            hanna: token(&app, Some(hanna), "head").await,
            director: token(&app, None, "director").await,
            admin: token(&app, None, "admin").await,
            auditor: token(&app, None, "auditor").await,
            analyst: token(&app, None, "analyst").await,
        };
        let projectors = app.start_projectors();
        let mut company = Company {
            app,
            pipeline,
            stages,
            andriy,
            bohdan,
            ciril,
            hanna,
            clients,
            deals,
            leads,
            tasks,
            tokens,
            position: 0,
            _projectors: projectors,
        };
        company.position = company.last_position().await;
        // Heads' departments come from the managers' read model: wait for it.
        company.settle().await;
        company
    }

    /// The log's last position.
    pub async fn last_position(&self) -> i64 {
        sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM eventlog.events")
            .fetch_one(self.app.log.pool())
            .await
            .unwrap()
    }

    /// Waits (up to 60 s) until every built-in read model reflects every event so
    /// far (and everything committed before them).
    pub async fn settle(&self) {
        let position = self.last_position().await;
        if position == 0 {
            return;
        }
        for projection in crm_projections::builtin() {
            let name = projection.name();
            crate::retry(
                Duration::from_secs(60),
                |e: &crm_projections::ProjectionError| {
                    matches!(e, crm_projections::ProjectionError::Lagging { .. })
                },
                || {
                    crm_projections::wait_until_reflects(
                        &self.app.log,
                        name,
                        position,
                        Duration::from_secs(5),
                    )
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{name} does not reflect position {position}: {e}"));
        }
    }

    /// GET `path` as `token`, once the read models reflect every event so far.
    pub async fn get(&self, token: &str, path: &str) -> Answer {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}min_position={}", self.position);
        self.app
            .send(Method::GET, &path, Some(token), None, &[])
            .await
    }

    /// GET `path` as `token` without waiting on read models (log endpoints).
    pub async fn get_raw(&self, token: &str, path: &str) -> Answer {
        self.app
            .send(Method::GET, path, Some(token), None, &[])
            .await
    }

    /// POST `body` to `path` as `token`.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        self.app
            .send(Method::POST, path, Some(token), Some(&body), &[])
            .await
    }

    /// The ids of a list's items under `key`.
    pub async fn ids(&self, token: &str, path: &str, key: &str) -> BTreeSet<Uuid> {
        let answer = self.get(token, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].as_str().unwrap().parse().unwrap())
            .collect()
    }
}

/// The stage ids of `pipeline`, in order, from its stream.
async fn stages(app: &TestApp, pipeline: Uuid) -> Vec<Uuid> {
    let events = crate::scenario::events(app, &format!("pipeline-{pipeline}")).await;
    events[0]["data"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage_id"].as_str().unwrap().parse().unwrap())
        .collect()
}
