//! The GET routes whose answers carry an `ETag` and are cached (`crate::answers`):
//! each with every read model its handler reads (for the revenue, those of its key)
//! and the parameters that fix its clock.
//! A route left out here is answered as computed, without a tag: those that read the
//! log itself (streams, the feed, a deal, the events behind a figure), custom
//! projections, cards with `as_of`, the server's health.

use crate::answers::{Cacheable, ModelsOfQuery};

use super::{deals, interaction_queries, lead_queries, manager_queries, reports, task_queries};

/// `now`: the overdue lists, the clients' segments and the invoices' overdue amounts
/// are judged at it.
const NOW: &[&str] = &["now"];
/// `date`: a manager's day is today's by the server's clock without it.
const DATE: &[&str] = &["date"];

/// The route `path` (as routed: `/deals`) if its answers are cached.
pub fn cacheable(path: &str) -> Option<Cacheable> {
    let (models, clock): (&'static [&'static str], &'static [&'static str]) = match path {
        "/reports/funnel"
        | "/reports/forecast"
        | "/reports/loss-reasons"
        | "/reports/conversion" => (&[crm_projections::deals::NAME], &[]),
        "/reports/revenue" => (reports::deals::REVENUE_MODELS, &[]),
        "/reports/invoices" => (reports::sales::MODELS_OF_INVOICES, NOW),
        "/reports/plans" => (reports::sales::MODELS_OF_PLANS, &[]),
        "/products" => (&[crm_projections::sales::NAME], &[]),
        "/reports/overdue/deals" => (&[crm_projections::deals::NAME], NOW),
        "/reports/overdue/tasks" => (&[crm_projections::tasks::NAME], NOW),
        "/reports/overdue/leads" => (&[crm_projections::leads::NAME], NOW),
        "/reports/leads" => (&[crm_projections::leads::NAME], &[]),
        "/reports/managers" => (reports::team::MANAGERS_MODELS, &[]),
        "/deals" => (deals::LIST_MODELS, &[]),
        "/clients" => (&[crm_projections::clients::NAME], NOW),
        "/tasks" => (task_queries::MODELS, &[]),
        "/leads" => (lead_queries::MODELS, &[]),
        "/interactions" => (interaction_queries::MODELS, &[]),
        "/managers" => (&[crm_projections::managers::NAME], &[]),
        "/managers/{id}/day" => (manager_queries::DAY_MODELS, DATE),
        "/reports/tasks/people" => (reports::team::TASK_PEOPLE_MODELS, &[]),
        "/clients/duplicates" => (&[crm_projections::clients::NAME], &[]),
        "/pipelines" => (&[crm_projections::deals::NAME], &[]),
        "/automation/rules" => (&[crm_projections::rules::NAME], &[]),
        _ => return None,
    };
    // The revenue by a key reads only that key's models.
    let models_of_query: Option<ModelsOfQuery> = match path {
        "/reports/revenue" => Some(reports::deals::revenue_models),
        _ => None,
    };
    Some(Cacheable {
        models,
        clock,
        models_of_query,
    })
}
