-- Events an operator told a read model how to get past (issue 14): `crm projection
-- skip` (apply nothing of it) or `crm projection sanitize` (apply it with every
-- U+0000 in its text made U+FFFD). A read model that failed on an event keeps
-- failing on it until one is recorded here; live batches and rebuilds alike honour
-- it. Rows are never changed or deleted: this is the audit trail of every repair.
CREATE TABLE projections.event_repairs (
    -- the read model (its checkpoint's name: `clients`, `custom.<name>.<generation>`)
    projection  text        NOT NULL,
    -- the event, by its position in the log, and what it was
    position    bigint      NOT NULL,
    event_id    uuid        NOT NULL,
    event_type  text        NOT NULL,
    stream_id   text        NOT NULL,
    action      text        NOT NULL CHECK (action IN ('skip', 'sanitize')),
    -- why, who and when
    reason      text        NOT NULL,
    repaired_by text        NOT NULL,
    repaired_at timestamptz NOT NULL DEFAULT now(),
    -- the error the read model had failed with on it, if it had
    error       text,
    PRIMARY KEY (projection, position)
);

CREATE FUNCTION projections.refuse_repair_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'projections.event_repairs is append-only'
        USING ERRCODE = 'insufficient_privilege',
        HINT = 'a repair is never changed; record another one';
END
$$;

CREATE TRIGGER event_repairs_append_only
    BEFORE UPDATE OR DELETE ON projections.event_repairs
    FOR EACH ROW EXECUTE FUNCTION projections.refuse_repair_change();
CREATE TRIGGER event_repairs_no_truncate
    BEFORE TRUNCATE ON projections.event_repairs
    FOR EACH STATEMENT EXECUTE FUNCTION projections.refuse_repair_change();
ALTER TABLE projections.event_repairs ENABLE ALWAYS TRIGGER event_repairs_append_only;
ALTER TABLE projections.event_repairs ENABLE ALWAYS TRIGGER event_repairs_no_truncate;
