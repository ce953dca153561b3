-- Bearer tokens of the HTTP API, stored hashed. Owned by crm-api.
CREATE SCHEMA IF NOT EXISTS api;

CREATE TABLE api.tokens (
    -- sha256 of the token; the token itself is shown once, when created
    token_hash  bytea       PRIMARY KEY,
    -- the manager the token acts for (NULL: a system token such as an admin's)
    manager_id  uuid,
    role        text        NOT NULL,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
