//! The real server on a loopback port, as a benchmark runs it, and an HTTP client of
//! it with an admin's bearer token.

use std::future::Future;

use axum::body::Body;
use axum::http::{Method, Request};
use crm_api::state::AppState;
use crm_eventlog::EventLog;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::api::{call, HttpClient};

/// `crm_api::server::serve` of an app on a free loopback port, until [`Served::stop`].
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Serves `app` (e.g. `crm_api::server::app(state)`) on a free loopback port.
    pub async fn start(app: axum::Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(crm_api::server::serve(listener, app, async {
            let _ = stopped.await;
        }));
        Ok(Served { base, stop, task })
    }

    /// Stops serving once the requests in flight have finished.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// Runs `f` with an admin's client of the real server over `log`, served meanwhile.
pub async fn as_admin<F, Fut, T>(log: &EventLog, f: F) -> anyhow::Result<T>
where
    F: FnOnce(Web) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let served = Served::start(crm_api::server::app(AppState::new(log.clone(), None))).await?;
    let web = Web::admin(log.pool(), &served.base).await?;
    let result = f(web).await;
    served.stop().await?;
    result
}

/// The HTTP client of a benchmark's server, sending a bearer token.
#[derive(Clone)]
pub struct Web {
    pub http: HttpClient,
    pub base: String,
    pub token: String,
}

impl Web {
    /// A client of the server at `base` with a new admin token of `pool`'s database.
    pub async fn admin(pool: &PgPool, base: &str) -> anyhow::Result<Self> {
        let token = crm_api::auth::create_token(pool, None, "admin", Some("bench"))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Web {
            http: Client::builder(TokioExecutor::new()).build_http(),
            base: base.to_owned(),
            token,
        })
    }

    /// GETs `path`; fails unless the answer is a success.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = call(
            &self.http,
            &self.base,
            &self.token,
            Method::GET,
            path,
            &Value::Null,
        )
        .await?;
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
        Ok(body)
    }

    /// GETs `path` and reads its whole body without parsing it (what a timed sample
    /// measures: the server's answer to its last byte, not the client's JSON parse);
    /// fails unless the answer is a success. Returns the body's length.
    pub async fn fetch(&self, path: &str) -> anyhow::Result<usize> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::empty())?;
        let response = self.http.request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status.is_success(), "GET {path}: {status}");
        Ok(bytes.len())
    }

    /// POSTs `body` to `path`; fails unless the answer is a success.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let (status, answer) = call(
            &self.http,
            &self.base,
            &self.token,
            Method::POST,
            path,
            body,
        )
        .await?;
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {answer}");
        Ok(answer)
    }
}
