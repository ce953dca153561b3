-- The funnel as of a time from rollups (issue 19): what it reads depends on the
-- pipeline's stages and the calendar, not on how many deals the history holds.
--
-- A deal whose changes occurred in version order ("regular": none backdated before
-- an earlier one) stands at a time T as the fold of its changes up to T, a prefix;
-- each change moves its contribution to the funnel (one open deal and its amount at
-- a stage, under a manager) from the one before. Those moves are kept one row each,
-- and summed per day and per month: the funnel as of T is the months before T's
-- month, the days of that month before T's day, and the moves of T's day up to T.
-- A deal with a backdated change ("irregular", rare) has no moves: it is folded from
-- deal_changes on each query, as before.

ALTER TABLE projections.deals
    ADD COLUMN changed_at timestamptz,
    ADD COLUMN irregular  boolean NOT NULL DEFAULT false;

-- The irregular deals of a pipeline.
CREATE INDEX deals_irregular_idx ON projections.deals (pipeline_id) WHERE irregular;

-- One row per move of a regular deal's contribution: -1 (and minus the amount) from
-- where it stood, +1 (and the amount) where it stands after the change.
CREATE TABLE projections.funnel_moves (
    deal_id     uuid        NOT NULL,
    version     bigint      NOT NULL,
    deals       integer     NOT NULL,
    occurred_at timestamptz NOT NULL,
    pipeline_id uuid        NOT NULL,
    stage_id    uuid        NOT NULL,
    manager_id  uuid        NOT NULL,
    amount      bigint      NOT NULL,
    PRIMARY KEY (deal_id, version, deals)
);
-- The moves of a day up to a time.
CREATE INDEX funnel_moves_time_idx ON projections.funnel_moves (pipeline_id, occurred_at)
    INCLUDE (stage_id, manager_id, deals, amount);

-- The moves summed per `span` ('day' or 'month') starting at `bucket` (UTC), per
-- manager and for all managers (manager_id the nil uuid).
CREATE TABLE projections.funnel_rollup (
    pipeline_id uuid    NOT NULL,
    manager_id  uuid    NOT NULL,
    span        text    NOT NULL,
    bucket      date    NOT NULL,
    stage_id    uuid    NOT NULL,
    deals       bigint  NOT NULL,
    amount      numeric NOT NULL,
    PRIMARY KEY (pipeline_id, manager_id, span, bucket, stage_id)
);
