-- The leads report's rollup: leads counted by the UTC day (span 'day') and month
-- (span 'month', its first day) they were received, per source, per status now and
-- per manager now (key '' : no manager). A period reads its whole months and days
-- here and the leads only at its partial days. Rows at zero are deleted, so the
-- table depends only on the leads as they stand. Owned by the `leads` projection.
CREATE TABLE projections.lead_counts (
    span   text   NOT NULL,
    bucket date   NOT NULL,
    dim    text   NOT NULL,
    key    text   NOT NULL,
    leads  bigint NOT NULL,
    PRIMARY KEY (span, dim, bucket, key)
);

-- Filled from the leads already projected.
INSERT INTO projections.lead_counts (span, bucket, dim, key, leads)
SELECT s.span, b.bucket, d.dim, d.key, count(*)
  FROM projections.leads l
 CROSS JOIN LATERAL (VALUES ('day'), ('month')) s(span)
 CROSS JOIN LATERAL (VALUES (CASE WHEN s.span = 'day'
                                  THEN (l.received_at AT TIME ZONE 'UTC')::date
                                  ELSE date_trunc('month', l.received_at AT TIME ZONE 'UTC')::date END)) b(bucket)
 CROSS JOIN LATERAL (VALUES ('source', l.source), ('status', l.status),
                            ('manager', coalesce(l.manager_id::text, ''))) d(dim, key)
 GROUP BY 1, 2, 3, 4;
