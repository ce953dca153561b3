-- Webhooks: where the CRM POSTs the events of its log, and how far each has got.
-- Configuration and delivery state, not business facts, so not events: the secret
-- must be readable by the deliverer (an HMAC key cannot be stored hashed) and
-- must never sit in the log, which is kept forever and exported to auditors; the
-- cursor, retry and lease columns change with every delivery. Owned by crm-api.
CREATE TABLE api.webhooks (
    id                uuid        PRIMARY KEY,
    url               text        NOT NULL,
    -- Only events of these types; empty: every type.
    event_types       text[]      NOT NULL DEFAULT '{}',
    -- The HMAC-SHA256 key of `X-CRM-Signature`; never answered by the API.
    secret            text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- The actor who defined it (`admin` or `manager:<uuid>`).
    created_by        text        NOT NULL,
    status            text        NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'disabled', 'failing')),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    -- The feed cursor (`crm_eventlog::Cursor`) the next delivery continues after.
    feed_cursor       text        NOT NULL,
    -- The snapshot taken at the definition (`crm_eventlog::Snapshot`): events
    -- after the cursor it saw committed came before the webhook, and are skipped.
    start_snapshot    text        NOT NULL,
    -- The position of the last event passed (delivered, or skipped by its type).
    last_position     bigint,
    delivered         bigint      NOT NULL DEFAULT 0,
    -- The first failed attempt at the event now being delivered, and how many.
    failing_since     timestamptz,
    failures          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz,
    -- The server delivering it now, until when: one at a time across servers.
    lease_owner       uuid,
    lease_until       timestamptz
);

-- The latest attempts of each webhook (older ones are pruned as new ones come).
CREATE TABLE api.webhook_attempts (
    id            bigserial   PRIMARY KEY,
    webhook_id    uuid        NOT NULL REFERENCES api.webhooks (id) ON DELETE CASCADE,
    event_id      uuid        NOT NULL,
    position      bigint      NOT NULL,
    attempted_at  timestamptz NOT NULL,
    duration_ms   integer     NOT NULL,
    -- The receiver's status code; null when no answer came (`error` says why).
    status_code   integer,
    error         text
);
CREATE INDEX webhook_attempts_by_webhook ON api.webhook_attempts (webhook_id, id DESC);
