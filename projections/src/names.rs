//! The names a list shows beside the ids it holds (a deal's client, stage and
//! manager, …), joined at query time from the read models that keep them, so that
//! renames and erasures show at once. A query that joins them reads those models
//! too: read-your-writes waits for each ([`crate::deals::NAME`] and the others).

/// The SQL of the name of client `c` (a `client_cards` row) that a reader reaching
/// the managers in parameter `reach` (`uuid[]`, NULL: everyone) may see, as
/// `client_name`: NULL for a client outside his reach (its card is hidden from him
/// too) or none.
pub(crate) fn client_name(reach: &str) -> String {
    format!(
        "CASE WHEN {reach}::uuid[] IS NULL OR c.manager_id = ANY({reach}::uuid[]) \
         THEN c.name END AS client_name"
    )
}

/// The SQL of the title of deal `dl` (a `deals` row) that a reader reaching the
/// managers in parameter `reach` may see, as `deal_title`: NULL for a deal outside
/// his reach, or none.
pub(crate) fn deal_title(reach: &str) -> String {
    format!(
        "CASE WHEN {reach}::uuid[] IS NULL OR dl.manager_id = ANY({reach}::uuid[]) \
         THEN dl.title END AS deal_title"
    )
}
