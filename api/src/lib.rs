//! The CRM's HTTP API: axum routes, extractors, auth, problem+json errors, OpenAPI.
//! The `crm` binary, the seed generator and the embedded PostgreSQL cluster are
//! `crm-cli`'s.

pub mod access;
pub mod answers;
pub mod auth;
pub mod automation;
pub mod commands;
pub mod error;
pub mod event_view;
pub mod every_error;
pub mod export;
pub mod extract;
pub mod failed_auth;
pub mod hidden;
pub mod idempotency;
pub mod limits;
pub mod login;
pub mod paging;
pub mod personal;
pub mod read_model;
pub mod routes;
pub mod server;
pub mod state;
pub mod webapp;
pub mod webhooks;

/// The API's own migrations (versions 2026112210xxxx: tokens, idempotency keys;
/// 20261206214xxx: server secrets, idempotency keys' expiry; 20261206216xxx: passwords
/// and sessions; 20261207330xxx: the automation runner's tables; 20261207340xxx:
/// webhooks).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations")
};

/// Applies every crate's migrations: the log's, the projections', then the API's.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    crm_eventlog::MIGRATOR.run(pool).await?;
    crm_projections::MIGRATOR.run(pool).await?;
    MIGRATOR.run(pool).await
}

/// A pool to `url` for serving: waits at most 3 s for a connection, so that requests
/// get a 503 quickly while PostgreSQL is down, and recovers by itself when it is back.
pub async fn connect_pool(url: &str, max_connections: u32) -> Result<sqlx::PgPool, sqlx::Error> {
    connect_pool_with(url.parse()?, max_connections).await
}

/// [`connect_pool`] with parsed connect options.
pub async fn connect_pool_with(
    options: sqlx::postgres::PgConnectOptions,
    max_connections: u32,
) -> Result<sqlx::PgPool, sqlx::Error> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect_with(options)
        .await
}
