//! The real `crm` binary: `crm serve` answers over TCP and stops cleanly on SIGTERM.
//! (Here rather than in the workspace's tests/ because cargo builds a package's
//! binary only for that package's own integration tests.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bootstrap token the server is started with (32 characters at least).
const TOKEN: &str = "binary-test-token-0123456789abcdef";

/// The `crm` binary cargo built for this test.
fn crm_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crm"))
}

/// One HTTP/1.1 request over a fresh connection; returns the status and the body.
async fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[sqlx::test(migrations = false)]
async fn crm_serve_answers_and_stops_cleanly_on_sigterm(
    _opts: PgPoolOptions,
    conn: PgConnectOptions,
) {
    let base = std::env::var("DATABASE_URL").unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    let url = format!("{server}/{}", conn.get_database().unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let mut child = tokio::process::Command::new(crm_binary())
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

    let mut healthy = false;
    for _ in 0..300 {
        if let Ok((200, _)) = http(port, "GET", "/health", None, "").await {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "crm serve did not become healthy");

    let body = r#"{"name": "Olena", "department": "Wholesale", "role": "manager"}"#;
    let (status, answer) = http(port, "POST", "/managers", Some(TOKEN), body)
        .await
        .unwrap();
    assert_eq!(status, 201, "{answer}");
    let (status, _) = http(port, "GET", "/events", None, "").await.unwrap();
    assert_eq!(status, 401);

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("crm serve stops")
        .unwrap();
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
    let output = tokio::process::Command::new(crm_binary())
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
