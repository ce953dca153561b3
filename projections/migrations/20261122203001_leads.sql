-- The leads read model: every lead as it stands, and whether any interaction has
-- named it. Owned by the `leads` projection (crm_projections::leads).
CREATE TABLE projections.leads (
    lead_id     uuid        PRIMARY KEY,
    name        text        NOT NULL,
    source      text        NOT NULL,
    channel     text,
    manager_id  uuid,
    -- new, assigned, converted or rejected
    status      text        NOT NULL,
    received_at timestamptz NOT NULL,
    contacted   boolean     NOT NULL DEFAULT false,
    version     bigint      NOT NULL
);
CREATE INDEX leads_waiting_idx ON projections.leads (received_at) WHERE status IN ('new', 'assigned') AND NOT contacted;
CREATE INDEX leads_received_idx ON projections.leads (received_at);
