//! Copies of a test's database (`CREATE DATABASE … TEMPLATE`), to tamper with one
//! while the original stays as it was.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// Copies the database `conn` points at into a new one and returns where it is. The
/// original must have no open pool: remaining sessions to it are ended first.
pub async fn copy_database(
    conn: &PgConnectOptions,
    suffix: &str,
) -> Result<PgConnectOptions, sqlx::Error> {
    let original = conn.get_database().unwrap_or("postgres").to_owned();
    // Test databases' names are 63 bytes already, PostgreSQL's limit.
    let tail = &original[original.len().saturating_sub(20)..];
    let copy = format!("copy_{tail}_{suffix}");
    let mut admin = PgConnection::connect_with(&conn.clone().database("postgres")).await?;
    // A copy left by an earlier run that failed (test databases' names repeat).
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{copy}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    let mut attempt = 0;
    loop {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
              WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&original)
        .execute(&mut admin)
        .await?;
        let made = sqlx::raw_sql(&format!(
            "CREATE DATABASE \"{copy}\" TEMPLATE \"{original}\""
        ))
        .execute(&mut admin)
        .await;
        match made {
            Ok(_) => break,
            Err(e) if attempt < 100 && e.to_string().contains("being accessed") => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
    admin.close().await?;
    Ok(conn.clone().database(&copy))
}

/// Drops a database made by [`copy_database`].
pub async fn drop_database(conn: &PgConnectOptions) -> Result<(), sqlx::Error> {
    let name = conn.get_database().unwrap_or_default().to_owned();
    let mut admin = PgConnection::connect_with(&conn.clone().database("postgres")).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    admin.close().await
}
