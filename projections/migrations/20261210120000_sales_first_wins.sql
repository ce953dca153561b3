-- Each client's first DealWon, by (occurred_at, position), kept by the `sales`
-- projection (crm_projections::sales) beside every win in `sales_wins`, so revenue by
-- novelty looks a client's first win up instead of sorting all of the client's wins
-- on every call. Keyed by the deal's own client: a merge group's first win is the
-- earliest of its members' rows, found at query time, so a merge or an unmerge
-- rewrites nothing here.
CREATE TABLE projections.sales_first_wins (
    client_id   uuid        PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    position    bigint      NOT NULL,
    deal_id     uuid        NOT NULL
);

-- A model built before this table: its first wins from the wins it holds.
INSERT INTO projections.sales_first_wins (client_id, occurred_at, position, deal_id)
SELECT DISTINCT ON (client_id) client_id, occurred_at, position, deal_id
  FROM projections.sales_wins
 ORDER BY client_id, occurred_at, position;
