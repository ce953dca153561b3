-- When a read model's live tables last changed (issue 19): a value from a sequence,
-- taken anew by every commit that applies events, every reset and every rebuild
-- swapped in, in the transaction that changes the tables. A checkpoint moved over
-- events a filter passes by keeps it, so answers keyed by it stay valid.
CREATE SEQUENCE projections.checkpoint_changes;
ALTER TABLE projections.checkpoints
    ADD COLUMN changed bigint NOT NULL DEFAULT nextval('projections.checkpoint_changes');
