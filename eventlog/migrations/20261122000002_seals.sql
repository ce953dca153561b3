-- Seals over the global feed: tamper evidence across streams.
-- Owned by crm-eventlog (see crm_eventlog::seal).
--
-- A seal covers the next range of settled events in feed order ((tx_id, position),
-- only transactions older than the oldest still running), after the previous seal's
-- range. It keeps, per event, its position, id and hash (`entries`, 56-byte records:
-- position as 8 bytes big-endian, the uuid's 16 bytes, the sha256), so a verifier can
-- name the event that was altered, deleted, inserted or moved. Seals are chained:
-- `seal_hash` = sha256(prev_hash || seq, end cursor, settled_below, count, sha256(entries)).
-- The primary key on `seq` makes two sealers racing for the same range write one seal.

CREATE TABLE eventlog.seals (
    -- 1, 2, 3…: each seal's range follows the previous one's in feed order
    seq            bigint      PRIMARY KEY CHECK (seq > 0),
    -- the feed cursor at the range's last event
    end_tx_id      bigint      NOT NULL,
    end_position   bigint      NOT NULL,
    -- when the seal took every settled event: the feed bound then (every event with a
    -- smaller tx_id is in this seal or an earlier one); NULL when the size cap cut it
    settled_below  bigint,
    event_count    integer     NOT NULL CHECK (event_count > 0),
    entries        bytea       NOT NULL CHECK (length(entries) = event_count * 56),
    range_hash     bytea       NOT NULL,
    prev_hash      bytea       NOT NULL,
    seal_hash      bytea       NOT NULL,
    sealed_at      timestamptz NOT NULL DEFAULT now()
);

-- Seals are never changed either (the same guard as the events').
CREATE TRIGGER seals_append_only
    BEFORE UPDATE OR DELETE ON eventlog.seals
    FOR EACH ROW EXECUTE FUNCTION eventlog.refuse_change();
CREATE TRIGGER seals_no_truncate
    BEFORE TRUNCATE ON eventlog.seals
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog.refuse_change();
ALTER TABLE eventlog.seals ENABLE ALWAYS TRIGGER seals_append_only;
ALTER TABLE eventlog.seals ENABLE ALWAYS TRIGGER seals_no_truncate;
