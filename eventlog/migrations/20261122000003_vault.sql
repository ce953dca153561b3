-- The key vault: one key per data subject (a client, a lead), kept apart from the log.
-- Personal values in event payloads are encrypted under their subject's key;
-- erasure sets the key to NULL and records erased_at (a tombstone: the subject never
-- gets a new key). Rows are never deleted, so a tombstone cannot be lost.
CREATE SCHEMA IF NOT EXISTS vault;

CREATE TABLE vault.subject_keys (
    subject_id uuid PRIMARY KEY,
    key        bytea NULL CHECK (key IS NULL OR octet_length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz NULL,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
);
