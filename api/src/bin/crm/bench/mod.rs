//! Benchmarks run by `crm bench`: each prints its figure beside the raw-SQL
//! baseline measured in the same run on the same PostgreSQL.

pub mod api;
pub mod eventlog;
pub mod export;
mod measure;
pub mod projections;

use std::future::Future;
use std::str::FromStr;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// Runs `measure` on a database created for it on the server of `admin_url`
/// (named `<prefix>_<time>`), and drops the database afterwards, whatever happened.
pub async fn in_fresh_database<F, Fut>(
    admin_url: &str,
    prefix: &str,
    measure: F,
) -> anyhow::Result<String>
where
    F: FnOnce(PgConnectOptions) -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let admin = PgConnectOptions::from_str(admin_url).context("parsing the database URL")?;
    let db = format!("{prefix}_{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let mut conn = PgConnection::connect_with(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut conn)
        .await?;
    let result = measure(admin.clone().database(&db)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    result
}
