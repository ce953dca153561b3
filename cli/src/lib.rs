//! What the `crm` binary needs around the HTTP API (`crm-api`): the seed generator
//! (`crm seed`, `crm serve --demo`, and the tests and benchmarks that need a
//! believable company) and the embedded PostgreSQL cluster that lets the server run
//! with no database set up.

pub mod embedded;
pub mod seed;
