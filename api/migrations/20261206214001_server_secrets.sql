-- Secrets every server of one database shares, made on first use (crm-api's
-- `paging::CursorKey`: the key that seals list cursors). Owned by crm-api.
CREATE TABLE api.secrets (
    name        text        PRIMARY KEY,
    secret      bytea       NOT NULL CHECK (length(secret) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
