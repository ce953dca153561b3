//! The stable machine words of [`crate::DomainError::code`], one constant per rule.
//! The API puts them in problem+json's `code`; they never change meaning.

/// The entity the command is about does not exist (404).
pub const NOT_FOUND: &str = "not_found";
/// An entity the command refers to does not exist.
pub const REFERENCE_NOT_FOUND: &str = "reference_not_found";
/// A create command for an entity that exists already (409).
pub const ALREADY_EXISTS: &str = "already_exists";
/// An amount below zero.
pub const NEGATIVE_AMOUNT: &str = "negative_amount";
/// A duration below zero.
pub const NEGATIVE_DURATION: &str = "negative_duration";
/// An amount above `rules::MAX_AMOUNT`.
pub const AMOUNT_TOO_LARGE: &str = "amount_too_large";
/// A duration above `rules::MAX_DURATION_S`.
pub const DURATION_TOO_LONG: &str = "duration_too_long";
/// An empty (or blank) name: manager, pipeline, stage, client, contact, lead.
pub const EMPTY_NAME: &str = "empty_name";
/// An empty (or blank) title of a deal or task.
pub const EMPTY_TITLE: &str = "empty_title";
/// An empty (or blank) reason of a loss or a lead's rejection.
pub const EMPTY_REASON: &str = "empty_reason";
/// An empty (or blank) lead source.
pub const EMPTY_SOURCE: &str = "empty_source";
/// An empty (or blank) department of a manager.
pub const EMPTY_DEPARTMENT: &str = "empty_department";
/// An empty (or blank) task kind.
pub const EMPTY_KIND: &str = "empty_kind";
/// A pipeline without stages.
pub const NO_STAGES: &str = "no_stages";
/// Two stages of a pipeline with the same id.
pub const DUPLICATE_STAGE_ID: &str = "duplicate_stage_id";
/// Two stages of a pipeline with the same name.
pub const DUPLICATE_STAGE_NAME: &str = "duplicate_stage_name";
/// A stage probability outside 0..=1 (or not a number).
pub const INVALID_PROBABILITY: &str = "invalid_probability";
/// A stage that is not one of the deal's pipeline.
pub const STAGE_NOT_IN_PIPELINE: &str = "stage_not_in_pipeline";
/// A stage change to the stage the deal is at.
pub const SAME_STAGE: &str = "same_stage";
/// An amount change to the amount the deal has.
pub const SAME_AMOUNT: &str = "same_amount";
/// A reassignment (or handover) to the manager already responsible.
pub const SAME_MANAGER: &str = "same_manager";
/// A reschedule to the due time in force.
pub const SAME_DUE_AT: &str = "same_due_at";
/// A client update that changes nothing.
pub const NO_CHANGES: &str = "no_changes";
/// A won or lost deal asked to change stage, amount or outcome before `reopen`.
pub const DEAL_CLOSED: &str = "deal_closed";
/// `reopen` of a deal that is open.
pub const DEAL_NOT_CLOSED: &str = "deal_not_closed";
/// A deactivated manager given something to be responsible for, or deactivated again.
pub const MANAGER_INACTIVE: &str = "manager_inactive";
/// A completed or cancelled task asked to change.
pub const TASK_CLOSED: &str = "task_closed";
/// A converted or rejected lead asked to change.
pub const LEAD_CLOSED: &str = "lead_closed";
/// A lead converted before any manager was assigned to it.
pub const LEAD_UNASSIGNED: &str = "lead_unassigned";
/// A deal named together with a client it does not belong to.
pub const CLIENT_MISMATCH: &str = "client_mismatch";
/// A custom projection name that is not 1–48 lowercase letters, digits or `_`,
/// starting with a letter.
pub const INVALID_PROJECTION_NAME: &str = "invalid_projection_name";
/// A text longer than its field allows (names and titles: 200 characters, free
/// texts: 10,000).
pub const TEXT_TOO_LONG: &str = "text_too_long";
/// A text holding a character no text column can store: U+0000 (NUL).
pub const INVALID_TEXT: &str = "invalid_text";
/// A list with more items than a command allows (100).
pub const TOO_MANY_ITEMS: &str = "too_many_items";
/// New personal data (a name, contacts) for a data subject whose personal data was
/// erased, or a lead conversion that would copy an erased lead's data.
pub const SUBJECT_ERASED: &str = "subject_erased";
/// An automation rule of a kind that does not exist.
pub const UNKNOWN_RULE_KIND: &str = "unknown_rule_kind";
/// An automation rule's params not of its kind's shape (a field missing, unknown or
/// of another type).
pub const INVALID_RULE_PARAMS: &str = "invalid_rule_params";
/// A rule's period (minutes, hours, days) below its least (0 hours for a task on a
/// stage, 1 for the others) or above 366 days.
pub const INVALID_PERIOD: &str = "invalid_period";
/// A disabled automation rule asked to be disabled again.
pub const RULE_DISABLED: &str = "rule_disabled";
/// A task reminder for a due time the task no longer has.
pub const STALE_REMINDER: &str = "stale_reminder";
/// An empty (or blank) product category.
pub const EMPTY_CATEGORY: &str = "empty_category";
/// A deal line's quantity that is not a positive whole number.
pub const INVALID_QUANTITY: &str = "invalid_quantity";
/// A deal line id the deal has had already, for another line (or a removed one).
pub const DUPLICATE_LINE_ID: &str = "duplicate_line_id";
/// The removal of a line the deal does not have (never added, or removed already).
pub const LINE_NOT_FOUND: &str = "line_not_found";
/// An empty (or blank) invoice number.
pub const EMPTY_NUMBER: &str = "empty_number";
/// An invoice or payment of zero: it must be positive.
pub const ZERO_AMOUNT: &str = "zero_amount";
/// A payment above what is outstanding on its invoice.
pub const PAYMENT_EXCEEDS_OUTSTANDING: &str = "payment_exceeds_outstanding";
/// A payment id the invoice has had already, for another payment.
pub const DUPLICATE_PAYMENT_ID: &str = "duplicate_payment_id";
/// A plan without any target.
pub const NO_TARGETS: &str = "no_targets";
/// A plan target that is not a positive whole number (or an amount above the largest).
pub const INVALID_TARGET: &str = "invalid_target";
/// A plan whose id is not the one its manager and month make (`plan::plan_id`).
pub const PLAN_ID_MISMATCH: &str = "plan_id_mismatch";
/// A client merged into itself.
pub const MERGE_INTO_ITSELF: &str = "merge_into_itself";
/// A client merged into a client that is itself merged into another.
pub const MERGE_INTO_MERGED: &str = "merge_into_merged";
/// A client merged already, asked to be merged again (unmerge it first).
pub const CLIENT_MERGED: &str = "client_merged";
/// The unmerge of a client that is not merged.
pub const CLIENT_NOT_MERGED: &str = "client_not_merged";
