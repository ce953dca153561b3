//! Reading personal data: the one step that turns stored events into events whose
//! personal values are plaintext, or [`ERASED`] once their subject's key is gone.
//! Every path from the log to a read model or an answer goes through [`reveal`]: the
//! feed's pages (shared and live), the client card's `as_of` fold, the timeline, and
//! the API's commands, log routes and exports; answers to people through
//! [`reveal_current`].

use crm_domain::personal;
use crm_eventlog::{EventLog, EventLogError, RecordedEvent};

pub use crm_domain::personal::ERASED;

/// Decrypts the personal values of `events` in place (see `crm_eventlog::Vault::reveal`);
/// an erasure event among them first drops its subject's key from this process's
/// cache, so an erasure made by another process is seen as soon as its event is read.
/// For the feed's readers: what they build follows the feed's order, erasures included.
pub async fn reveal(log: &EventLog, events: &mut [RecordedEvent]) -> Result<(), EventLogError> {
    forget_erased(log, events);
    log.vault().reveal(events).await
}

/// [`reveal`] with every key as the vault holds it now (`Vault::reveal_current`):
/// for answers read from the log directly (streams, the feed, exports, timelines),
/// so that none shows a value once an erasure by any process has answered.
pub async fn reveal_current(
    log: &EventLog,
    events: &mut [RecordedEvent],
) -> Result<(), EventLogError> {
    forget_erased(log, events);
    log.vault().reveal_current(events).await
}

/// Drops from this process's key cache the subjects an erasure among `events` erased.
fn forget_erased(log: &EventLog, events: &[RecordedEvent]) {
    for event in events {
        if let Some(subject) = personal::erased_subject_stored(&event.event_type, &event.data) {
            log.vault().forget(subject);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_domain_and_the_log_mark_erased_values_alike() {
        assert_eq!(super::ERASED, crm_eventlog::ERASED);
    }
}
