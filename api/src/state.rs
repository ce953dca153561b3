//! What every request handler shares.

use crm_eventlog::EventLog;

/// The application's state: the log and the settings requests need.
#[derive(Clone)]
pub struct AppState {
    /// The event log (and through it, the database pool).
    pub log: EventLog,
    /// `CRM_BOOTSTRAP_TOKEN`: accepted as an admin token when set.
    pub bootstrap_token: Option<String>,
}
