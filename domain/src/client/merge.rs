//! Merging a duplicate client into another, and undoing it. `ClientMerged` and
//! `ClientUnmerged` go on the merged client's stream; the survivor's stream is not
//! written, and neither client's history is rewritten: read models count the merged
//! client's deals, interactions, tasks and leads for the survivor while the merge
//! stands. A survivor is never a merged client, so merges form no cycles; a client
//! that absorbed others may itself be merged later (the read models then follow the
//! chain to its end).

use super::{Client, ClientState};
use crate::aggregate::Ref;
use crate::events::{ClientMerged, ClientUnmerged};
use crate::{codes, DomainError, DomainEvent};

/// `ClientMerged`, or why not: not into itself (`merge_into_itself`), not a client
/// merged already (`client_merged`), not into a merged one (`merge_into_merged`).
pub(crate) fn merge(
    client: &Client,
    into: &Ref<ClientState>,
) -> Result<Vec<DomainEvent>, DomainError> {
    if into.id == client.id {
        return Err(DomainError::rule(
            codes::MERGE_INTO_ITSELF,
            format!("client {} cannot be merged into itself", client.id),
        ));
    }
    if let Some(survivor) = client.merged_into {
        return Err(DomainError::rule(
            codes::CLIENT_MERGED,
            format!(
                "client {} is merged into {survivor} already; unmerge it first",
                client.id
            ),
        ));
    }
    let survivor = into.get()?;
    if let Some(further) = survivor.merged_into {
        return Err(DomainError::rule(
            codes::MERGE_INTO_MERGED,
            format!(
                "client {} is itself merged into {further}; merge into that one",
                survivor.id
            ),
        ));
    }
    Ok(vec![DomainEvent::ClientMerged(ClientMerged {
        client_id: client.id,
        into_client_id: survivor.id,
    })])
}

/// `ClientUnmerged`, or `client_not_merged`.
pub(crate) fn unmerge(client: &Client) -> Result<Vec<DomainEvent>, DomainError> {
    match client.merged_into {
        Some(survivor) => Ok(vec![DomainEvent::ClientUnmerged(ClientUnmerged {
            client_id: client.id,
            from_client_id: survivor,
        })]),
        None => Err(DomainError::rule(
            codes::CLIENT_NOT_MERGED,
            format!("client {} is not merged", client.id),
        )),
    }
}

#[cfg(test)]
mod tests;
