-- The event log: one append-only table, its guard, and the append function.
-- Owned by crm-eventlog; no other crate reads or writes these objects directly.

CREATE SCHEMA IF NOT EXISTS eventlog;

CREATE SEQUENCE eventlog.events_position_seq AS bigint;

CREATE TABLE eventlog.events (
    -- global position, from a sequence: increasing with each append, not the feed order
    position        bigint      PRIMARY KEY DEFAULT nextval('eventlog.events_position_seq'),
    -- the writing transaction's id (pg_current_xact_id); the feed reads in (tx_id, position) order
    tx_id           bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL CHECK (version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    -- sha256(previous hash in the stream || canonical bytes of this event)
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

-- The canonical text of an event, hashed into its stream's chain. The Rust verifier
-- (crm_eventlog::verify) computes the same bytes independently.
CREATE FUNCTION eventlog.canonical_text(
    p_event_id uuid, p_stream text, p_version bigint, p_position bigint, p_type text,
    p_schema_version integer, p_occurred_at timestamptz, p_recorded_at timestamptz,
    p_data jsonb, p_metadata jsonb
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_event_id::text || E'\n' || p_stream || E'\n' || p_version::text || E'\n'
        || p_position::text || E'\n' || p_type || E'\n' || p_schema_version::text || E'\n'
        || to_char(p_occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n'
        || to_char(p_recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n'
        || p_data::text || E'\n' || p_metadata::text
$$;

-- Appends events to one or more streams in the calling transaction.
--
-- p_streams/p_expected: the distinct streams and, for each, the expected version
-- (NULL: any, 0: no stream yet, n: exactly n). Each event names its stream by a
-- 1-based index into p_streams (p_event_stream).
--
-- Every stream's advisory lock is taken first, in a fixed order and before any write,
-- so that the transaction id (assigned at the first write) of a later append to a
-- stream is always greater than that of an earlier one: the feed's (tx_id, position)
-- order then keeps every stream in version order, and no global lock is taken.
--
-- Raises CR001 (version conflict, DETAIL is JSON {stream, actual}) or CR002 (an
-- event id already stored with other content, DETAIL is JSON {event_id}). An append
-- whose event ids are all stored with the same content returns the stored events
-- with r_replayed = true and writes nothing.
CREATE FUNCTION eventlog.append(
    p_streams         text[],
    p_expected        bigint[],
    p_event_stream    integer[],
    p_event_ids       uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_occurred_at     timestamptz[],
    p_data            jsonb[],
    p_metadata        jsonb[]
) RETURNS TABLE (
    r_event_id    uuid,
    r_stream_id   text,
    r_version     bigint,
    r_position    bigint,
    r_tx_id       bigint,
    r_recorded_at timestamptz,
    r_replayed    boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    n_streams  integer := coalesce(array_length(p_streams, 1), 0);
    n_events   integer := coalesce(array_length(p_event_ids, 1), 0);
    genesis    constant bytea := decode(repeat('00', 32), 'hex');
    v_key      bigint;
    v_found    integer;
    v_bad      uuid;
    v_version  bigint;
    v_hash     bytea;
    v_expected bigint;
    v_tx       bigint;
    v_now      timestamptz;
    v_s        integer;
    v_pos      bigint;
    head_ver   bigint[] := '{}';
    head_hash  bytea[] := '{}';
    a_pos      bigint[] := '{}';
    a_ver      bigint[] := '{}';
    a_hash     bytea[] := '{}';
BEGIN
    IF n_events = 0 OR n_streams = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an append needs at least one event';
    END IF;

    -- 1. Lock every stream, in a fixed order, before anything is written.
    FOR v_key IN
        SELECT DISTINCT hashtextextended(s, 0) FROM unnest(p_streams) AS s ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(v_key);
    END LOOP;

    -- 2. Idempotency: are any of these event ids stored already?
    SELECT count(*)::integer,
           (array_agg(x.id) FILTER (
               WHERE e.stream_id <> p_streams[x.s] OR e.event_type <> x.t
                  OR e.schema_version <> x.sv OR e.data <> x.d))[1]
      INTO v_found, v_bad
      FROM unnest(p_event_ids, p_event_stream, p_types, p_schema_versions, p_data)
               AS x(id, s, t, sv, d)
      JOIN eventlog.events e ON e.event_id = x.id;
    IF v_found > 0 THEN
        IF v_bad IS NULL AND v_found = n_events THEN
            RETURN QUERY
                SELECT e.event_id, e.stream_id, e.version, e.position, e.tx_id, e.recorded_at, true
                  FROM unnest(p_event_ids) WITH ORDINALITY AS x(id, n)
                  JOIN eventlog.events e ON e.event_id = x.id
                 ORDER BY x.n;
            RETURN;
        END IF;
        IF v_bad IS NULL THEN
            SELECT x.id INTO v_bad
              FROM unnest(p_event_ids) AS x(id)
              JOIN eventlog.events e ON e.event_id = x.id
             LIMIT 1;
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'CR002',
            MESSAGE = format('event %s is already stored with other content', v_bad),
            DETAIL = json_build_object('event_id', v_bad)::text;
    END IF;

    -- 3. Check each stream's expected version against its head.
    FOR i IN 1 .. n_streams LOOP
        SELECT e.version, e.hash INTO v_version, v_hash
          FROM eventlog.events e
         WHERE e.stream_id = p_streams[i]
         ORDER BY e.version DESC
         LIMIT 1;
        IF NOT FOUND THEN
            v_version := 0;
            v_hash := genesis;
        END IF;
        v_expected := p_expected[i];
        IF v_expected IS NOT NULL AND v_expected <> v_version THEN
            RAISE EXCEPTION USING
                ERRCODE = 'CR001',
                MESSAGE = format('stream %s is at version %s, expected %s', p_streams[i], v_version, v_expected),
                DETAIL = json_build_object('stream', p_streams[i], 'actual', v_version)::text;
        END IF;
        head_ver[i] := v_version;
        head_hash[i] := v_hash;
    END LOOP;

    -- 4. Number, chain and write the events. The first write assigns the transaction id.
    v_tx := pg_current_xact_id()::text::bigint;
    v_now := clock_timestamp();
    FOR j IN 1 .. n_events LOOP
        v_s := p_event_stream[j];
        head_ver[v_s] := head_ver[v_s] + 1;
        v_pos := nextval('eventlog.events_position_seq');
        head_hash[v_s] := sha256(head_hash[v_s] || convert_to(eventlog.canonical_text(
            p_event_ids[j], p_streams[v_s], head_ver[v_s], v_pos, p_types[j],
            p_schema_versions[j], p_occurred_at[j], v_now, p_data[j], p_metadata[j]), 'UTF8'));
        a_pos[j] := v_pos;
        a_ver[j] := head_ver[v_s];
        a_hash[j] := head_hash[v_s];
    END LOOP;

    INSERT INTO eventlog.events AS e
           (position, tx_id, event_id, stream_id, version, event_type, schema_version,
            occurred_at, recorded_at, data, metadata, hash)
    SELECT x.pos, v_tx, x.id, p_streams[x.s], x.ver, x.t, x.sv, x.oc, v_now, x.d, x.m, x.h
      FROM unnest(a_pos, p_event_ids, p_event_stream, a_ver, p_types, p_schema_versions,
                  p_occurred_at, p_data, p_metadata, a_hash)
               AS x(pos, id, s, ver, t, sv, oc, d, m, h);

    RETURN QUERY
        SELECT x.id, p_streams[x.s], x.ver, x.pos, v_tx, v_now, false
          FROM unnest(p_event_ids, p_event_stream, a_ver, a_pos) AS x(id, s, ver, pos);
END
$$;
