-- append_one.sql with the previous hash stored as the event's: what the chain's sha256
-- of the canonical text costs.
\set r random(1, 2000000000)
WITH v AS (SELECT gen_random_uuid() AS id, 'deal-' || gen_random_uuid() AS stream,
                  jsonb_build_object('deal_id', md5(:r::text)::uuid, 'from_stage_id', md5(:r::text || 'a')::uuid, 'to_stage_id', md5(:r::text || 'b')::uuid) AS data),
head AS (SELECT e.version, e.hash FROM eventlog.events e, v WHERE e.stream_id = v.stream ORDER BY e.version DESC LIMIT 1)
INSERT INTO eventlog.events (position, event_id, stream_id, version, event_type, schema_version, occurred_at, recorded_at, data, metadata, hash)
SELECT p.position, v.id, v.stream, n.version, 'DealStageChanged', 1, now(), p.now, v.data, '{"actor":"bench"}',
       n.prev
  FROM v, (SELECT nextval('eventlog.events_position_seq') AS position, clock_timestamp() AS now) p
  LEFT JOIN head h ON true
 CROSS JOIN LATERAL (SELECT coalesce(h.version, 0) + 1 AS version, coalesce(h.hash, '\x00'::bytea) AS prev) n
RETURNING position, tx_id, version, recorded_at;
