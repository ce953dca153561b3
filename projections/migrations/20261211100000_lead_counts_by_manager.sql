-- The leads report's rollup per manager: what `lead_counts` counts by source and by
-- status, per manager now (leads without a manager are not counted). A head's or a
-- manager's report reads its managers' whole months and days here instead of their
-- leads. Rows at zero are deleted, so the table depends only on the leads as they
-- stand. Owned by the `leads` projection.
CREATE TABLE projections.lead_counts_by_manager (
    span       text   NOT NULL,
    bucket     date   NOT NULL,
    dim        text   NOT NULL,
    manager_id uuid   NOT NULL,
    key        text   NOT NULL,
    leads      bigint NOT NULL,
    PRIMARY KEY (span, dim, manager_id, bucket, key)
);

-- Filled from the leads already projected.
INSERT INTO projections.lead_counts_by_manager (span, bucket, dim, manager_id, key, leads)
SELECT s.span, b.bucket, d.dim, l.manager_id, d.key, count(*)
  FROM projections.leads l
 CROSS JOIN LATERAL (VALUES ('day'), ('month')) s(span)
 CROSS JOIN LATERAL (VALUES (CASE WHEN s.span = 'day'
                                  THEN (l.received_at AT TIME ZONE 'UTC')::date
                                  ELSE date_trunc('month', l.received_at AT TIME ZONE 'UTC')::date END)) b(bucket)
 CROSS JOIN LATERAL (VALUES ('source', l.source), ('status', l.status)) d(dim, key)
 WHERE l.manager_id IS NOT NULL
 GROUP BY 1, 2, 3, 4, 5;
