//! Benchmarks run by `crm bench`: each prints its figure beside the raw-SQL
//! baseline measured in the same run on the same PostgreSQL.

pub mod api;
pub mod eventlog;
mod measure;
