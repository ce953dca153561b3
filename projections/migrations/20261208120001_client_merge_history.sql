-- Every merge and unmerge of clients as it happened (issue 18), kept by the `clients`
-- projection (its version moved: a replay fills it): a client's card and timeline as
-- of a past time find the merges in force then from it (`client_merges` holds only
-- those in force now). `into_client_id` is the survivor of a ClientMerged, NULL for a
-- ClientUnmerged. Merges are few: queries read it whole.
CREATE TABLE projections.client_merge_history (
    position       bigint      PRIMARY KEY,
    client_id      uuid        NOT NULL,
    into_client_id uuid,
    occurred_at    timestamptz NOT NULL
);
