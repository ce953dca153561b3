//! Validation helpers shared by the aggregates: non-empty text, text and list
//! lengths, non-negative numbers, active managers.

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

/// The most characters of a name, title or other one-line text (names, titles,
/// departments, sources, kinds, reasons, phones, e-mails…).
pub const MAX_NAME_CHARS: usize = 200;

/// The most characters of a free text (an interaction's notes, outcome and goal, a
/// loss comment, a task's result or cancellation reason).
pub const MAX_TEXT_CHARS: usize = 10_000;

/// The most items of a list in a command (contacts, stages, co-executors, observers).
pub const MAX_ITEMS: usize = 100;

/// The largest amount a command takes, in minor units: 10^15 (ten trillion in a
/// currency of cents), below 2^53, so a JavaScript client reads every amount exactly.
/// Sums of amounts are exact whatever their size (docs/reports.md).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// The longest duration of an interaction a command takes, in seconds: 7 days.
pub const MAX_DURATION_S: i64 = 604_800;

const _: () = assert!(MAX_AMOUNT < 1 << 53, "amounts stay exact in JavaScript");

/// Refuses text longer than `max` characters (Unicode scalar values, as JSON
/// Schema's `maxLength` counts) with `text_too_long`, and text that is not
/// [`storable`] with `invalid_text`.
pub(crate) fn at_most(value: &str, max: usize, what: &str) -> Result<(), DomainError> {
    storable(value, what)?;
    // Counting stops past the limit: a huge string costs no more than max + 1 steps.
    if value.chars().nth(max).is_some() {
        Err(DomainError::rule(
            codes::TEXT_TOO_LONG,
            format!("{what} must be at most {max} characters"),
        ))
    } else {
        Ok(())
    }
}

/// Refuses text that PostgreSQL cannot store in a `text` or `jsonb` value: one
/// holding U+0000 (NUL). (Rust strings hold no lone surrogates.)
pub(crate) fn storable(value: &str, what: &str) -> Result<(), DomainError> {
    if value.contains('\0') {
        Err(DomainError::rule(
            codes::INVALID_TEXT,
            format!("{what} must not contain the character U+0000 (NUL)"),
        ))
    } else {
        Ok(())
    }
}

/// [`at_most`] [`MAX_NAME_CHARS`] for an optional one-line text.
pub(crate) fn short(value: Option<&str>, what: &str) -> Result<(), DomainError> {
    value.map_or(Ok(()), |v| at_most(v, MAX_NAME_CHARS, what))
}

/// [`at_most`] [`MAX_TEXT_CHARS`] for an optional free text.
pub(crate) fn long(value: Option<&str>, what: &str) -> Result<(), DomainError> {
    value.map_or(Ok(()), |v| at_most(v, MAX_TEXT_CHARS, what))
}

/// Refuses a list of more than [`MAX_ITEMS`] items with `too_many_items`.
pub(crate) fn items(len: usize, what: &str) -> Result<(), DomainError> {
    if len > MAX_ITEMS {
        Err(DomainError::rule(
            codes::TOO_MANY_ITEMS,
            format!("{what} must have at most {MAX_ITEMS} items, got {len}"),
        ))
    } else {
        Ok(())
    }
}

/// Refuses a negative amount (`negative_amount`) and one above [`MAX_AMOUNT`]
/// (`amount_too_large`).
pub(crate) fn amount(value: i64) -> Result<(), DomainError> {
    let codes = (codes::NEGATIVE_AMOUNT, codes::AMOUNT_TOO_LARGE);
    within(value, MAX_AMOUNT, codes, "amount", " minor units")
}

/// Refuses a negative duration (`negative_duration`) and one above
/// [`MAX_DURATION_S`] (`duration_too_long`).
pub(crate) fn duration(seconds: i64) -> Result<(), DomainError> {
    let codes = (codes::NEGATIVE_DURATION, codes::DURATION_TOO_LONG);
    within(seconds, MAX_DURATION_S, codes, "duration_s", " (7 days)")
}

/// Refuses `value` below 0 with the first code and above `max` with the second.
fn within(
    value: i64,
    max: i64,
    (negative, too_large): (&'static str, &'static str),
    what: &str,
    unit: &str,
) -> Result<(), DomainError> {
    if value < 0 {
        Err(DomainError::rule(
            negative,
            format!("{what} must not be negative, got {value}"),
        ))
    } else if value > max {
        Err(DomainError::rule(
            too_large,
            format!("{what} must be at most {max}{unit}, got {value}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_in_characters_not_bytes() {
        // 200 two-byte characters are 400 bytes and still fit.
        let cyrillic = "ж".repeat(200);
        assert_eq!(at_most(&cyrillic, 200, "name"), Ok(()));
        let longer = "ж".repeat(201);
        let err = at_most(&longer, 200, "name").map_err(|e| e.code());
        assert_eq!(err, Err("text_too_long"));
    }

    #[test]
    fn a_nul_character_is_refused_other_controls_kept() {
        assert_eq!(
            at_most("Evil\0Corp", 200, "client name").map_err(|e| e.code()),
            Err("invalid_text")
        );
        assert_eq!(
            long(Some("\0"), "notes").map_err(|e| e.code()),
            Err("invalid_text")
        );
        assert_eq!(at_most("tab\there\u{1b}[31m\u{202e}", 200, "name"), Ok(()));
    }

    #[test]
    fn lists_of_more_than_a_hundred_items_are_refused() {
        assert_eq!(items(100, "contacts"), Ok(()));
        assert_eq!(
            items(101, "contacts").map_err(|e| e.code()),
            Err("too_many_items")
        );
    }

    #[test]
    fn amounts_and_durations_are_bounded_on_both_sides() {
        let code = |r: Result<(), DomainError>| r.map_err(|e| e.code());
        assert_eq!(amount(0), Ok(()));
        assert_eq!(amount(1_000_000_000_000_000), Ok(()));
        assert_eq!(code(amount(1_000_000_000_000_001)), Err("amount_too_large"));
        assert_eq!(code(amount(i64::MAX)), Err("amount_too_large"));
        assert_eq!(code(amount(-1)), Err("negative_amount"));
        assert_eq!(duration(604_800), Ok(()));
        assert_eq!(code(duration(604_801)), Err("duration_too_long"));
        assert_eq!(code(duration(-1)), Err("negative_duration"));
    }

    #[test]
    fn optional_texts_are_checked_only_when_given() {
        assert_eq!(short(None, "email"), Ok(()));
        assert_eq!(long(Some(&"x".repeat(10_000)), "notes"), Ok(()));
        assert_eq!(
            long(Some(&"x".repeat(10_001)), "notes").map_err(|e| e.code()),
            Err("text_too_long")
        );
        assert_eq!(
            short(Some(&"x".repeat(201)), "email").map_err(|e| e.code()),
            Err("text_too_long")
        );
    }
}
