//! Validation helpers shared by the aggregates: non-empty text, non-negative
//! numbers, active managers.

use crate::aggregate::Ref;
use crate::codes;
use crate::manager::{Manager, ManagerState};
use crate::DomainError;

/// Refuses blank text with `code`.
pub(crate) fn non_empty(value: &str, code: &'static str, what: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        Err(DomainError::rule(code, format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// Refuses a negative amount.
pub(crate) fn amount(value: i64) -> Result<(), DomainError> {
    if value < 0 {
        Err(DomainError::rule(
            codes::NEGATIVE_AMOUNT,
            format!("amount must not be negative, got {value}"),
        ))
    } else {
        Ok(())
    }
}

/// The referenced manager, refused unless it exists and is active.
pub(crate) fn active_manager(manager: &Ref<ManagerState>) -> Result<&Manager, DomainError> {
    let found = manager.get()?;
    if found.active {
        Ok(found)
    } else {
        Err(inactive(found))
    }
}

/// The refusal for a deactivated manager.
pub(crate) fn inactive(manager: &Manager) -> DomainError {
    DomainError::rule(
        codes::MANAGER_INACTIVE,
        format!("manager {} is deactivated", manager.id),
    )
}

/// The ids of an optional client and deal, refused unless each exists and the deal
/// is the client's when both are given.
pub(crate) fn client_and_deal(
    client: Option<&Ref<crate::client::ClientState>>,
    deal: Option<&Ref<crate::deal::DealState>>,
) -> Result<(Option<uuid::Uuid>, Option<uuid::Uuid>), DomainError> {
    let client = client.map(Ref::get).transpose()?;
    let deal = deal.map(Ref::get).transpose()?;
    if let (Some(client), Some(deal)) = (client, deal) {
        if deal.client_id != client.id {
            return Err(DomainError::rule(
                codes::CLIENT_MISMATCH,
                format!("deal {} is not a deal of client {}", deal.id, client.id),
            ));
        }
    }
    Ok((client.map(|c| c.id), deal.map(|d| d.id)))
}
