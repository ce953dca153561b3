-- For conversion: the highest stage index each deal has ever stood at (every stage
-- once won), and the manager who opened it. Owned by the `deals` projection.
ALTER TABLE projections.deals
    ADD COLUMN max_stage_idx     integer NOT NULL DEFAULT 0,
    ADD COLUMN opened_manager_id uuid;
CREATE INDEX deals_opened_idx ON projections.deals (pipeline_id, opened_at);
