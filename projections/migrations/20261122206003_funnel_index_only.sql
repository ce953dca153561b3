-- The funnel from indexes alone (once vacuumed).

-- Open deals by pipeline and stage with what the funnel sums: the funnel now, and
-- the deals of a funnel as of a time that have not changed since.
CREATE INDEX deals_open_stage_idx ON projections.deals (pipeline_id, stage_id)
    INCLUDE (deal_id, amount, manager_id)
    WHERE status = 'open';

-- The funnel as of a time folds a deal's changes up to then: the primary key holds
-- the fields they set (deal_changes is append-only, so it stays all-visible).
ALTER TABLE projections.deal_changes
    DROP CONSTRAINT deal_changes_pkey,
    ADD CONSTRAINT deal_changes_pkey PRIMARY KEY (deal_id, version)
        INCLUDE (occurred_at, stage_id, amount, manager_id, status);

-- Only the old funnel as of a time read this (each deal's version 1 by pipeline);
-- deal_changes_time_idx serves it now.
DROP INDEX projections.deal_changes_pipeline_idx;
