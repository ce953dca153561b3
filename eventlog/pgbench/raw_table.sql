-- The same rows as the log's table, without the log: its columns and its four
-- indexes, no chain, no trigger. The raw baseline of `crm bench log` and of run.sh.
CREATE TABLE bench_raw (
    position        bigserial   PRIMARY KEY,
    tx_id           bigint      NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    hash            bytea       NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX ON bench_raw (tx_id, position);
