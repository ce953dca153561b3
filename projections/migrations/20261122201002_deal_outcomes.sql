-- Every DealWon and DealLost, with what the reports key them by as it stood then.
-- Owned by the `deals` projection (crm_projections::deals).

CREATE TABLE projections.deal_wins (
    deal_id     uuid        NOT NULL,
    version     bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    amount      bigint      NOT NULL,
    manager_id  uuid        NOT NULL,
    source      text,
    pipeline_id uuid        NOT NULL,
    client_id   uuid        NOT NULL,
    PRIMARY KEY (deal_id, version)
);
CREATE INDEX deal_wins_time_idx ON projections.deal_wins (occurred_at);

CREATE TABLE projections.deal_losses (
    deal_id     uuid        NOT NULL,
    version     bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    reason      text        NOT NULL,
    amount      bigint      NOT NULL,
    manager_id  uuid        NOT NULL,
    pipeline_id uuid        NOT NULL,
    PRIMARY KEY (deal_id, version)
);
CREATE INDEX deal_losses_time_idx ON projections.deal_losses (occurred_at);
