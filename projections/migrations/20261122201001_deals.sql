-- The deals read model: pipelines with their ordered stages, every deal as it stands,
-- and each deal's changes with their business time (for states as of a past time).
-- Owned by the `deals` projection (crm_projections::deals).

CREATE TABLE projections.pipelines (
    pipeline_id uuid PRIMARY KEY,
    name        text NOT NULL
);

CREATE TABLE projections.pipeline_stages (
    pipeline_id uuid             NOT NULL,
    stage_id    uuid             NOT NULL,
    name        text             NOT NULL,
    probability double precision NOT NULL,
    idx         integer          NOT NULL,
    PRIMARY KEY (pipeline_id, stage_id)
);

CREATE TABLE projections.deals (
    deal_id           uuid        PRIMARY KEY,
    client_id         uuid        NOT NULL,
    pipeline_id       uuid        NOT NULL,
    stage_id          uuid        NOT NULL,
    title             text        NOT NULL,
    amount            bigint      NOT NULL,
    manager_id        uuid        NOT NULL,
    source            text,
    status            text        NOT NULL,
    expected_close_on date,
    lead_id           uuid,
    opened_at         timestamptz NOT NULL,
    version           bigint      NOT NULL
);
CREATE INDEX deals_pipeline_idx ON projections.deals (pipeline_id, status, stage_id);
CREATE INDEX deals_manager_idx ON projections.deals (manager_id, status);
CREATE INDEX deals_client_idx ON projections.deals (client_id);

-- One row per deal event: the fields it set (NULL: left as it was).
CREATE TABLE projections.deal_changes (
    deal_id     uuid        NOT NULL,
    version     bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    pipeline_id uuid        NOT NULL,
    stage_id    uuid,
    amount      bigint,
    manager_id  uuid,
    status      text,
    PRIMARY KEY (deal_id, version)
);
CREATE INDEX deal_changes_pipeline_idx ON projections.deal_changes (pipeline_id, version, occurred_at);
