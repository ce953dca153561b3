-- A single-row INSERT per transaction into bench_raw (the table `crm bench log` makes:
-- the log's columns and four indexes, no chain): the raw baseline. A new stream each.
\set r random(1, 2000000000)
INSERT INTO bench_raw (event_id, stream_id, version, event_type, schema_version, occurred_at, data, metadata, hash)
VALUES (gen_random_uuid(), 'deal-' || gen_random_uuid(), 1, 'DealStageChanged', 1, now(),
 jsonb_build_object('deal_id', md5(:r::text)::uuid, 'from_stage_id', md5(:r::text || 'a')::uuid, 'to_stage_id', md5(:r::text || 'b')::uuid),
 '{"actor":"bench"}', sha256(:r::text::bytea));
