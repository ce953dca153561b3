-- The event log: one append-only table and its guard.
-- Owned by crm-eventlog; no other crate reads or writes these objects directly.
--
-- An append is one INSERT statement in a transaction of its own, with each stream's
-- next version computed from heads read before it: a version n+1 can only be written
-- by a transaction that saw version n committed, so it gets a larger transaction id,
-- and the feed's (tx_id, position) order keeps every stream in version order.

CREATE SCHEMA IF NOT EXISTS eventlog;

CREATE SEQUENCE eventlog.events_position_seq AS bigint;

CREATE TABLE eventlog.events (
    -- global position, from a sequence: increasing with each append, not the feed order
    position        bigint      PRIMARY KEY DEFAULT nextval('eventlog.events_position_seq'),
    -- the writing transaction's id; the feed reads in (tx_id, position) order
    tx_id           bigint      NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL CHECK (version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    -- sha256(previous hash in the stream || canonical bytes of this event), see crm_eventlog::chain
    hash            bytea       NOT NULL,
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);
ALTER SEQUENCE eventlog.events_position_seq OWNED BY eventlog.events.position;

CREATE INDEX events_feed_idx ON eventlog.events (tx_id, position);

-- Events are never updated, deleted or truncated. ENABLE ALWAYS makes the guard fire
-- even with session_replication_role = replica: only ALTER TABLE ... DISABLE TRIGGER,
-- a deliberate act, lets a superuser past it.
CREATE FUNCTION eventlog.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'CR003',
        MESSAGE = format('the event log is append-only: %s on %s is refused', TG_OP, TG_TABLE_NAME),
        HINT = 'events are never changed; append a compensating event instead';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON eventlog.events
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON eventlog.events
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();
ALTER TABLE eventlog.events ENABLE ALWAYS TRIGGER events_append_only;
ALTER TABLE eventlog.events ENABLE ALWAYS TRIGGER events_no_truncate;

-- The hash of an event: sha256(previous hash in the stream || canonical bytes), the
-- canonical bytes being one line per field, timestamps in microseconds since 1970 and
-- JSON in the canonical form of crm_eventlog::chain::canonical_json (computed by the
-- appender and passed in). The verifier recomputes every hash in Rust from the
-- stored fields, so a wrong canonical text is caught, not trusted.
CREATE FUNCTION eventlog.event_hash(
    p_prev bytea, p_event_id uuid, p_stream text, p_version bigint, p_position bigint,
    p_type text, p_schema_version integer, p_occurred_at timestamptz,
    p_recorded_at timestamptz, p_data_canonical text, p_metadata_canonical text
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(p_prev || convert_to(
        p_event_id::text || E'\n' || p_stream || E'\n' || p_version::text || E'\n'
        || p_position::text || E'\n' || p_type || E'\n' || p_schema_version::text || E'\n'
        || (extract(epoch FROM p_occurred_at) * 1000000)::bigint::text || E'\n'
        || (extract(epoch FROM p_recorded_at) * 1000000)::bigint::text || E'\n'
        || p_data_canonical || E'\n' || p_metadata_canonical, 'UTF8'))
$$;
