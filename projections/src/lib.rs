//! The projector runtime (checkpoints, batches, rebuilds) and every read model the API
//! queries: funnels, manager KPIs, conversion, overdue lists, client cards.
//!
//! Each read model owns its tables through this crate's migrations and is built only
//! from the event log's feed (`crm_eventlog::EventLog::subscribe`), so any of them can
//! be dropped and rebuilt from the log and come out identical.
