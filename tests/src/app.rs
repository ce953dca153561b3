//! `TestApp`: the real router on a fresh database, driven request by request.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use crm_api::state::AppState;
use crm_eventlog::EventLog;
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

/// The admin token every `TestApp` accepts (as `CRM_BOOTSTRAP_TOKEN`).
pub const ADMIN_TOKEN: &str = "test-bootstrap-admin-token-0123456789abcdef";

/// The application on a test's own database.
#[derive(Clone)]
pub struct TestApp {
    /// The router, exactly as `crm serve` builds it.
    pub router: Router,
    /// The log underneath, to check what was appended.
    pub log: EventLog,
}

/// One answer: status, headers and the body parsed as JSON (Null when empty).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON; a body that is not JSON is a JSON string.
    pub body: Value,
}

impl Answer {
    /// The problem's `code`, for error answers.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// Migrates `pool`'s database and builds the app on it.
    pub async fn new(pool: PgPool) -> Result<TestApp, sqlx::migrate::MigrateError> {
        TestApp::with(pool, |state| state).await
    }

    /// Migrates `pool`'s database and builds the app on the state `configure` makes
    /// of the default one (e.g. with hidden fields).
    pub async fn with(
        pool: PgPool,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Result<TestApp, sqlx::migrate::MigrateError> {
        crm_api::migrate(&pool).await?;
        let log = EventLog::new(pool);
        let state = AppState::new(log.clone(), Some(ADMIN_TOKEN.into()))
            // Look every token up, so that a revocation shows at once.
            .with_token_ttl(std::time::Duration::ZERO);
        let state = configure(state);
        Ok(TestApp {
            router: crm_api::server::app(state),
            log,
        })
    }

    /// [`TestApp::new`] with these limits on requests in flight.
    pub async fn with_limits(
        pool: PgPool,
        limits: crm_api::limits::Limits,
    ) -> Result<TestApp, sqlx::migrate::MigrateError> {
        let mut app = TestApp::new(pool).await?;
        let state = AppState::new(app.log.clone(), Some(ADMIN_TOKEN.into()))
            .with_token_ttl(std::time::Duration::ZERO);
        app.router = crm_api::server::app_with(state, limits);
        Ok(app)
    }

    /// Sends a request with `token` (if any) and a JSON `body` (if any).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send_raw(request.body(body).unwrap_or_default()).await
    }

    /// Sends a request built by the test.
    pub async fn send_raw(&self, request: Request<Body>) -> Answer {
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Every item of the paginated list at `path`, following `next_cursor` page after
    /// page of `limit`, as the admin; panics on an answer other than 200.
    pub async fn all_items(&self, path: &str, limit: usize) -> Vec<Value> {
        self.all_items_as(ADMIN_TOKEN, path, limit).await
    }

    /// [`TestApp::all_items`] with `token`.
    pub async fn all_items_as(&self, token: &str, path: &str, limit: usize) -> Vec<Value> {
        let (mut items, mut cursor) = (Vec::new(), String::new());
        let join = if path.contains('?') { '&' } else { '?' };
        loop {
            let uri = format!("{path}{join}limit={limit}&cursor={cursor}");
            let answer = self.send(Method::GET, &uri, Some(token), None, &[]).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            if let Some(page) = answer.body["items"].as_array() {
                items.extend(page.iter().cloned());
            }
            match answer.body["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return items,
            }
        }
    }

    /// GET as the admin.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, Some(ADMIN_TOKEN), None, &[])
            .await
    }

    /// POST a JSON body as the admin.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(ADMIN_TOKEN), Some(body), &[])
            .await
    }

    /// POST a JSON body as the admin, checked to succeed; its answer's body.
    pub async fn post_ok(&self, path: String, body: Value) -> Value {
        let answer = self.post(&path, &body).await;
        assert!(
            answer.status.is_success(),
            "{path} {body}: {:?}",
            answer.body
        );
        answer.body
    }

    /// Runs the built-in projectors and the custom projections on this app's database
    /// until the result is shut down.
    pub fn start_projectors(&self) -> crm_projections::RunningProjectors {
        self.start_projectors_with(crm_projections::RunnerConfig::default())
    }

    /// [`TestApp::start_projectors`] with runners configured by `config`.
    pub fn start_projectors_with(
        &self,
        config: crm_projections::RunnerConfig,
    ) -> crm_projections::RunningProjectors {
        let set = crm_projections::builtin()
            .into_iter()
            .fold(
                crm_projections::ProjectorSet::new(self.log.clone()),
                |set, p| set.with(p),
            )
            .with_config(config)
            .with_custom_projections();
        match set.spawn() {
            Ok(running) => running,
            Err(err) => panic!("cannot start the projectors: {err}"),
        }
    }

    /// Runs the automation runner on this app's database (as another `crm serve`
    /// would) until the result is shut down or dropped (dropping it kills it).
    pub fn start_automation(&self) -> crm_api::automation::Running {
        crm_api::automation::Runner::new(EventLog::new(self.log.pool().clone())).spawn()
    }

    /// Waits (up to 60 s) until no rebuild of read model `name` is under way: its
    /// rebuilt copy has been swapped in. Panics past the deadline.
    pub async fn wait_rebuilt(&self, name: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match crm_projections::rebuild_progress(self.log.pool(), name).await {
                Ok(None) => return,
                Ok(Some(_)) | Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => panic!("the rebuild of {name} did not finish: {other:?}"),
            }
        }
    }

    /// The invariant after hostile input: every read model (built-in and custom) has
    /// applied the whole log within 60 s, and `GET /projections` shows none failed
    /// and none lagging. Panics naming the read model otherwise.
    pub async fn assert_read_models_healthy(&self) {
        let wait = std::time::Duration::from_secs(60);
        if let Ok(Some(head)) = self.log.last_position().await {
            // The built-in ones (a runner just started has no checkpoint yet), and
            // every other that has one (custom projections).
            let mut names: Vec<String> = crm_projections::builtin()
                .iter()
                .map(|p| p.name().to_owned())
                .collect();
            let statuses = crm_projections::status(self.log.pool(), &self.log)
                .await
                .unwrap_or_else(|e| panic!("projection status: {e}"));
            names.extend(statuses.into_iter().map(|s| s.name));
            names.sort_unstable();
            names.dedup();
            for name in names {
                if let Err(err) =
                    crm_projections::wait_until_reflects(&self.log, &name, head, wait).await
                {
                    let all = self.get("/projections").await;
                    panic!(
                        "read model {name} does not reach position {head}: {err}; {}",
                        all.body
                    );
                }
            }
        }
        let answer = self.get("/projections").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let models = answer.body.as_array().cloned().unwrap_or_default();
        assert!(!models.is_empty(), "no read model runs");
        for model in models {
            assert_ne!(model["status"], "failed", "{model}");
            assert_eq!(model["lag_events"], 0, "{model}");
            assert_eq!(model["last_error"], Value::Null, "{model}");
        }
    }

    /// Waits (up to 120 s) until custom projection `name` answers from generation
    /// `generation` or later. Panics past the deadline.
    pub async fn wait_custom_live(&self, name: &str, generation: i64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let answer = self.get(&format!("/projections/{name}")).await;
            if answer.status == StatusCode::OK
                && answer.body["state"] == "live"
                && answer.body["live"]["generation"].as_i64() >= Some(generation)
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} never went live: {}",
                answer.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The same application as another server process on the same database: its own
    /// log handle and caches (keys, states, tokens), its state made by `configure`.
    pub fn another_process(&self, configure: impl FnOnce(AppState) -> AppState) -> TestApp {
        let log = EventLog::new(self.log.pool().clone());
        let state = AppState::new(log.clone(), Some(ADMIN_TOKEN.into()))
            .with_token_ttl(std::time::Duration::ZERO);
        TestApp {
            router: crm_api::server::app(configure(state)),
            log,
        }
    }

    /// The OpenAPI document the router serves.
    pub async fn openapi(&self) -> Value {
        let answer = self.get("/openapi.json").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// How many events the log holds.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM eventlog.events")
            .fetch_one(self.log.pool())
            .await
            .unwrap_or(-1)
    }

    /// Every row of these read-model tables (schema `projections`), as text prefixed
    /// with its table, in a stable order: two read models compare row for row.
    pub async fn table_rows(&self, tables: &[&str]) -> Vec<String> {
        let mut rows = Vec::new();
        for table in tables {
            let sql = format!("SELECT t::text FROM projections.\"{table}\" t ORDER BY 1");
            let texts: Vec<String> = sqlx::query_scalar(&sql)
                .fetch_all(self.log.pool())
                .await
                .unwrap_or_else(|e| panic!("reading {table}: {e}"));
            rows.extend(texts.into_iter().map(|r| format!("{table} {r}")));
        }
        rows
    }
}
