//! The events behind a figure of the manager KPIs report: the `kpi_facts` rows the
//! figure counts (or sums), for one manager over `[from, to)`, by position. Each
//! figure's condition is the one its rollup's aggregate filters on ([`super::MEASURES`]),
//! so the rows listed are exactly those counted.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ProjectionError;

/// A figure of the manager KPIs report whose events can be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Calls in and out: the `calls` count, and the calls whose durations `call_seconds` sums.
    Calls,
    /// Outbound calls.
    CallsOutbound,
    /// Inbound calls.
    CallsInbound,
    /// The calls whose `duration_s` the figure sums (the same events as [`Figure::Calls`]).
    CallSeconds,
    /// Calls that carry a goal (`goal` or `goal_reached` given).
    CallsWithGoal,
    /// Calls whose `goal_reached` is true.
    CallsGoalReached,
    /// Meetings.
    Meetings,
    /// E-mails.
    Emails,
    /// Messages.
    Messages,
    /// The period's first interaction with each distinct client: one per client counted.
    ClientsContacted,
    /// Calls naming a client: the numerator of `calls_per_client`.
    CallsPerClient,
    /// LeadAssigned naming the manager.
    LeadsAssigned,
    /// LeadConverted of leads he was responsible for then.
    LeadsConverted,
    /// LeadRejected of leads he was responsible for then.
    LeadsRejected,
    /// DealOpened with him as the deal's manager.
    DealsOpened,
    /// DealWon while he was responsible.
    DealsWon,
    /// DealLost while he was responsible.
    DealsLost,
    /// The DealWon whose amounts the figure sums (the same events as [`Figure::DealsWon`]).
    WonAmount,
    /// DealWon and DealLost: the deals `win_rate` divides.
    WinRate,
    /// TaskCompleted of tasks he was assignee of then.
    TasksCompleted,
    /// Of those, completed after the due time then in force.
    TasksCompletedLate,
}

/// Every figure with its name in the report.
pub const FIGURES: [(&str, Figure); 21] = [
    ("calls", Figure::Calls),
    ("calls_outbound", Figure::CallsOutbound),
    ("calls_inbound", Figure::CallsInbound),
    ("call_seconds", Figure::CallSeconds),
    ("calls_with_goal", Figure::CallsWithGoal),
    ("calls_goal_reached", Figure::CallsGoalReached),
    ("meetings", Figure::Meetings),
    ("emails", Figure::Emails),
    ("messages", Figure::Messages),
    ("clients_contacted", Figure::ClientsContacted),
    ("calls_per_client", Figure::CallsPerClient),
    ("leads_assigned", Figure::LeadsAssigned),
    ("leads_converted", Figure::LeadsConverted),
    ("leads_rejected", Figure::LeadsRejected),
    ("deals_opened", Figure::DealsOpened),
    ("deals_won", Figure::DealsWon),
    ("deals_lost", Figure::DealsLost),
    ("won_amount", Figure::WonAmount),
    ("win_rate", Figure::WinRate),
    ("tasks_completed", Figure::TasksCompleted),
    ("tasks_completed_late", Figure::TasksCompletedLate),
];

impl Figure {
    /// The figure the report calls `name`.
    pub fn parse(name: &str) -> Option<Figure> {
        FIGURES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        FIGURES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("calls", |(n, _)| n)
    }

    /// The condition on a `kpi_facts` row (`$2` is the period's start) that the figure's
    /// aggregate in [`super::MEASURES`] (or the distinct clients' count) filters on.
    fn condition(self) -> &'static str {
        const CALLS: &str = "kind IN ('call_outbound', 'call_inbound')";
        match self {
            Figure::Calls | Figure::CallSeconds => CALLS,
            Figure::CallsOutbound => "kind = 'call_outbound'",
            Figure::CallsInbound => "kind = 'call_inbound'",
            Figure::CallsWithGoal => "kind IN ('call_outbound', 'call_inbound') AND goal",
            Figure::CallsGoalReached => {
                "kind IN ('call_outbound', 'call_inbound') AND goal_reached"
            }
            Figure::Meetings => "kind = 'meeting'",
            Figure::Emails => "kind = 'email'",
            Figure::Messages => "kind = 'message'",
            // The interactions whose previous one with the same client is before the
            // period: the first of each client in it (how the report counts them).
            Figure::ClientsContacted => "prev_contact_at IS NOT NULL AND prev_contact_at < $2",
            Figure::CallsPerClient => {
                "kind IN ('call_outbound', 'call_inbound') AND client_id IS NOT NULL"
            }
            Figure::LeadsAssigned => "kind = 'lead_assigned'",
            Figure::LeadsConverted => "kind = 'lead_converted'",
            Figure::LeadsRejected => "kind = 'lead_rejected'",
            Figure::DealsOpened => "kind = 'deal_opened'",
            Figure::DealsWon | Figure::WonAmount => "kind = 'deal_won'",
            Figure::DealsLost => "kind = 'deal_lost'",
            Figure::WinRate => "kind IN ('deal_won', 'deal_lost')",
            Figure::TasksCompleted => "kind = 'task_completed'",
            Figure::TasksCompletedLate => "kind = 'task_completed' AND late",
        }
    }
}

/// The positions of the events behind `figure` for `manager_id` that occurred in
/// `[from, to)`, after position `after`, by position, at most `limit`.
///
/// `clients_contacted` counts a merged client as its survivor (the clients read
/// model's `client_survivors`, as the report does): the interactions with the
/// clients of a merge in force are listed by survivor, the period's first one (by
/// `occurred_at`, then position) with any of them; the others by the client they name.
pub async fn figure_positions(
    pool: &PgPool,
    manager_id: Uuid,
    figure: Figure,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    after: i64,
    limit: i64,
) -> Result<Vec<i64>, ProjectionError> {
    let sql = if figure == Figure::ClientsContacted {
        format!(
            "SELECT position FROM ( \
                 SELECT f.position FROM projections.kpi_facts f \
                  WHERE f.manager_id = $1 AND f.occurred_at >= $2 AND f.occurred_at < $3 \
                    AND ({}) \
                    AND NOT EXISTS (SELECT 1 FROM projections.client_survivors sv \
                                     WHERE sv.client_id = f.client_id) \
                    AND NOT EXISTS (SELECT 1 FROM projections.client_survivors sv \
                                     WHERE sv.survivor_id = f.client_id) \
                 UNION ALL \
                 (SELECT DISTINCT ON (g.survivor_id) f.position \
                   FROM (SELECT client_id, survivor_id FROM projections.client_survivors \
                         UNION SELECT survivor_id, survivor_id FROM projections.client_survivors) g \
                   JOIN projections.kpi_facts f ON f.manager_id = $1 AND f.client_id = g.client_id \
                    AND f.occurred_at >= $2 AND f.occurred_at < $3 \
                  ORDER BY g.survivor_id, f.occurred_at, f.position) \
             ) firsts WHERE position > $4 ORDER BY position LIMIT $5",
            figure.condition()
        )
    } else {
        format!(
            "SELECT position FROM projections.kpi_facts \
              WHERE manager_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
                AND position > $4 AND ({}) \
              ORDER BY position LIMIT $5",
            figure.condition()
        )
    };
    let positions = sqlx::query_scalar(&sql)
        .bind(manager_id)
        .bind(from)
        .bind(to)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_has_one_name_and_back() {
        for (name, figure) in FIGURES {
            assert_eq!(Figure::parse(name), Some(figure));
            assert_eq!(figure.name(), name);
        }
        assert_eq!(
            Figure::parse("calls_with_goal"),
            Some(Figure::CallsWithGoal)
        );
        assert_eq!(Figure::parse("hugs"), None);
    }
}
