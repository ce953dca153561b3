//! The CRM's HTTP API (axum routes, auth, problem+json errors, OpenAPI) and what the
//! `crm` binary needs around it, such as the embedded PostgreSQL cluster that lets
//! the server run with no database set up.

pub mod embedded;
