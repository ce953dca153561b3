-- Answers to commands sent with an Idempotency-Key, so that a retry gets the first
-- answer and appends nothing. Owned by crm-api.
CREATE TABLE api.idempotency_keys (
    -- sha256 of the Authorization header: keys are scoped to who sent them
    scope         bytea       NOT NULL,
    key           text        NOT NULL,
    -- sha256 of method, path and body
    request_hash  bytea       NOT NULL,
    -- NULL while the first request is still running
    status        smallint,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
