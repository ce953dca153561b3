-- Rebuilding beside the live tables: while rebuild_cursor is set, the projection's
-- active runner fills a shadow schema (projections_rebuild_<name>) from the start of
-- the feed, then swaps it in when it has caught up with the live checkpoint.
ALTER TABLE projections.checkpoints
    -- the shadow's cursor (NULL: no rebuild in progress)
    ADD COLUMN rebuild_cursor     text,
    -- events the shadow has applied so far
    ADD COLUMN rebuild_events     bigint NOT NULL DEFAULT 0 CHECK (rebuild_events >= 0),
    -- when the rebuild was requested
    ADD COLUMN rebuild_started_at timestamptz;
