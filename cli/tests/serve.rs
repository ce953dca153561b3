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

/// `POST path` as the bootstrap admin; the answer's `id`.
async fn create(port: u16, path: &str, body: serde_json::Value) -> String {
    let (status, answer) = http(port, "POST", path, Some(TOKEN), &body.to_string())
        .await
        .unwrap();
    assert!(
        (200..300).contains(&status),
        "POST {path}: {status} {answer}"
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    answer["id"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = false)]
async fn crm_serve_writes_the_web_apps_money_in_the_currency_and_locale_it_is_given(
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
            "--currency",
            "usd",
            "--locale",
            "en-US",
        ])
        .env("CRM_BOOTSTRAP_TOKEN", TOKEN)
        // The flags win over the environment.
        .env("CRM_CURRENCY", "EUR")
        .env("CRM_LOCALE", "uk")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the crm binary");
    wait_healthy(port).await;

    let manager = create(
        port,
        "/managers",
        serde_json::json!({"name": "Olena", "department": "Sales", "role": "manager"}),
    )
    .await;
    let stage = uuid::Uuid::new_v4();
    let pipeline = create(
        port,
        "/pipelines",
        serde_json::json!({"name": "Sales", "stages": [{"id": stage, "name": "First call", "probability": 0.2}]}),
    )
    .await;
    let client = create(
        port,
        "/clients",
        serde_json::json!({"name": "Acme", "kind": "company", "manager_id": manager, "contacts": []}),
    )
    .await;
    // 123,456 minor units: one thousand two hundred thirty-four dollars and 56 cents.
    let deal = create(
        port,
        "/deals",
        serde_json::json!({"client_id": client, "pipeline_id": pipeline, "stage_id": stage,
            "title": "Boxes", "amount": 123_456, "manager_id": manager}),
    )
    .await;

    let (status, page) = http(port, "GET", &format!("/ui/deals/{deal}"), Some(TOKEN), "")
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"<dd data-field="amount">$1,234.56</dd>"#),
        "{page}"
    );
    assert!(!page.contains('€') && !page.contains('₴'), "{page}");

    let exit = terminate(&mut child).await;
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn crm_serve_refuses_a_currency_or_a_locale_it_cannot_write_before_it_starts() {
    // No database is reachable here: the flags are checked before anything starts.
    let refused = |args: &'static [&'static str], env: &'static [(&'static str, &'static str)]| async move {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
            .args([
                "--database-url",
                "postgres://nobody@127.0.0.1:1/none",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env_remove("CRM_CURRENCY")
            .env_remove("CRM_LOCALE")
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), output)
            .await
            .expect("crm serve exits")
            .unwrap();
        assert!(!output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(&["--currency", "US$"], &[]).await;
    assert!(
        stderr.contains("--currency") && stderr.contains("\"US$\" is not an ISO 4217 code"),
        "{stderr}"
    );
    let stderr = refused(&[], &[("CRM_LOCALE", "fr")]).await;
    assert!(
        stderr.contains("--locale") && stderr.contains("\"fr\" is not one the web app knows"),
        "{stderr}"
    );
}
