-- Indexes for the reports at a million events: each report reads one index range
-- holding every column it needs (an index-only scan once vacuumed), in the order it
-- answers, instead of scanning or sorting a whole table.

-- Funnel as of a time: the deals with a change after it (only those need folding;
-- the others stand as they are now), and whether that change opened them.
CREATE INDEX deal_changes_time_idx ON projections.deal_changes (pipeline_id, occurred_at)
    INCLUDE (deal_id, version);

-- Conversion: a pipeline's cohort by opening time, with what the report counts.
-- Replaces deals_opened_idx.
CREATE INDEX deals_cohort_idx ON projections.deals (pipeline_id, opened_at)
    INCLUDE (deal_id, max_stage_idx, status, opened_manager_id);
DROP INDEX projections.deals_opened_idx;

-- Overdue deals (in the report's order) and the forecast: open deals by expected
-- close date, with the columns both read.
CREATE INDEX deals_open_close_idx ON projections.deals (expected_close_on, deal_id)
    INCLUDE (pipeline_id, stage_id, amount, manager_id, title)
    WHERE status = 'open' AND expected_close_on IS NOT NULL;

-- Overdue tasks, in the report's order, with the columns it shows. Replaces
-- tasks_open_due_idx.
CREATE INDEX tasks_overdue_idx ON projections.tasks (due_at, task_id)
    INCLUDE (title, assignee_id, client_id, deal_id)
    WHERE status = 'open';
DROP INDEX projections.tasks_open_due_idx;

-- Overdue leads, in the report's order, with the columns it shows. Replaces
-- leads_waiting_idx.
CREATE INDEX leads_overdue_idx ON projections.leads (received_at, lead_id)
    INCLUDE (name, source, manager_id)
    WHERE status IN ('new', 'assigned') AND NOT contacted;
DROP INDEX projections.leads_waiting_idx;

-- Revenue and loss reasons over a period: the wins' and losses' keys and amounts.
CREATE INDEX deal_wins_period_idx ON projections.deal_wins (occurred_at)
    INCLUDE (amount, manager_id, source, pipeline_id, client_id);
DROP INDEX projections.deal_wins_time_idx;
CREATE INDEX deal_losses_period_idx ON projections.deal_losses (occurred_at)
    INCLUDE (reason, amount, manager_id, pipeline_id);
DROP INDEX projections.deal_losses_time_idx;
