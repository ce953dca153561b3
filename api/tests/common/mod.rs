//! Helpers of the tests that run the real `crm` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::process::Output;

use sqlx::postgres::PgConnectOptions;

/// Runs `crm --database-url <url> <args>` and waits for it.
pub async fn crm(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .args(["--database-url", url])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the crm binary")
}

/// The URL of the test's own database (`#[sqlx::test]` gives its options).
pub fn database_url(conn: &PgConnectOptions) -> String {
    let base = std::env::var("DATABASE_URL").unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{}", conn.get_database().unwrap())
}
