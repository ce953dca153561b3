//! The real `crm` binary: `crm serve` answers over TCP and stops cleanly on SIGTERM.
//! (Here rather than in the workspace's tests/ because cargo builds a package's
//! binary only for that package's own integration tests.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;

use common::{database_url, free_port, http, terminate, wait_healthy};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test(migrations = false)]
async fn crm_serve_answers_and_stops_cleanly_on_sigterm(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let url = database_url(&conn);
    let port = free_port();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .args([
            "--database-url",
            &url,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("CRM_BOOTSTRAP_TOKEN", "binary-test-token")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the crm binary");

    wait_healthy(port).await;

    let body = r#"{"name": "Olena", "department": "Wholesale", "role": "manager"}"#;
    let (status, answer) = http(port, "POST", "/managers", Some("binary-test-token"), body)
        .await
        .unwrap();
    assert_eq!(status, 201, "{answer}");
    let (status, _) = http(port, "GET", "/events", None, "").await.unwrap();
    assert_eq!(status, 401);

    let exit = terminate(&mut child).await;
    assert!(exit.success(), "exit status {exit:?}");

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(conn)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM eventlog.events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 1);
    pool.close().await;
}
