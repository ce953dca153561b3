//! The real `crm` binary: `crm serve` answers over TCP and stops cleanly on SIGTERM.
//! (Here rather than in the workspace's tests/ because cargo builds a package's
//! binary only for that package's own integration tests.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use crate::common::{database_url, free_port, http, terminate, wait_healthy};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The bootstrap token the server is started with (32 characters at least).
const TOKEN: &str = "binary-test-token-0123456789abcdef";

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
        .env("CRM_BOOTSTRAP_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the crm binary");

    wait_healthy(port).await;

    let body = r#"{"name": "Olena", "department": "Wholesale", "role": "manager"}"#;
    let (status, answer) = http(port, "POST", "/managers", Some(TOKEN), body)
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

#[tokio::test]
async fn crm_serve_refuses_a_short_bootstrap_token_before_it_starts() {
    // No database is reachable here: the token is checked before anything starts.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("CRM_BOOTSTRAP_TOKEN", "admin-password-31-characters-xx")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("crm serve exits")
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CRM_BOOTSTRAP_TOKEN has 31 characters") && stderr.contains("at least 32"),
        "{stderr}"
    );
}
