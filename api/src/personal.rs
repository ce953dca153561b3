//! Writing personal data: the one step that encrypts the personal values of events
//! about to be appended (by `crate::commands::append`, the last step of every
//! command and of `crm seed`) under their data subjects' keys, and collects the key
//! vault's writes that go with the append (see
//! `crm_eventlog::EventLog::append_with_keys`). Reading is
//! `crm_projections::personal::reveal`. (Seals, elsewhere, are the log's
//! tamper-evidence; nothing here seals.)

use std::collections::BTreeSet;

use crm_domain::personal;
use crm_eventlog::{EventLog, EventLogError, StreamAppend, VaultWrite};
use uuid::Uuid;

/// Encrypts, in place, every personal value of `batches` under its subject's key
/// (created for a subject's first personal data), and returns the vault writes the
/// append must carry: keys to create, keys that must still be live, and the keys of
/// the subjects an erasure event among the batches erases. A subject erased already
/// is refused with [`EventLogError::SubjectErased`]; a personal value holding a NUL
/// (which the log's own check cannot see once encrypted) with
/// [`EventLogError::Invalid`], before anything is encrypted.
pub async fn encrypt(
    log: &EventLog,
    batches: &mut [StreamAppend],
) -> Result<VaultWrite, EventLogError> {
    let mut subjects = BTreeSet::new();
    let mut erase = BTreeSet::new();
    for event in batches.iter_mut().flat_map(|b| b.events.iter_mut()) {
        if let Some(subject) = personal::erased_subject_stored(&event.event_type, &event.data) {
            erase.insert(subject);
        }
        let Some(subject) = personal::subject(&event.event_type, &event.data) else {
            continue;
        };
        let (mut any, mut nul) = (false, None);
        personal::visit(&event.event_type, &mut event.data, &mut |field, value| {
            any = true;
            if value.contains('\0') {
                nul = Some(field.to_owned());
            }
        });
        if let Some(field) = nul {
            // The log refuses a NUL itself, but would never see this one once encrypted.
            return Err(EventLogError::Invalid(format!(
                "event {}: the personal value {field} contains a NUL character, which \
                 PostgreSQL cannot store",
                event.event_id
            )));
        }
        if any {
            subjects.insert(subject);
        }
    }
    if subjects.is_empty() && erase.is_empty() {
        return Ok(VaultWrite::default());
    }
    let subjects: Vec<Uuid> = subjects.into_iter().collect();
    let keys = log.vault().keys_for_write(&subjects).await?;
    for event in batches.iter_mut().flat_map(|b| b.events.iter_mut()) {
        let Some(subject) = personal::subject(&event.event_type, &event.data) else {
            continue;
        };
        let Some(key) = keys.key(subject) else {
            continue;
        };
        let event_id = event.event_id;
        let mut ordinal: u32 = 0;
        personal::visit(&event.event_type, &mut event.data, &mut |field, value| {
            let mut seed = event_id.as_bytes().to_vec();
            seed.extend_from_slice(&ordinal.to_be_bytes());
            *value = key.encrypt(subject, field, &seed, value);
            ordinal += 1;
        });
    }
    let mut write = keys.into_write();
    write.erase = erase.into_iter().collect();
    Ok(write)
}
