-- The read side, complete (issue 13): every entity listed and read.

-- The team (`GET /managers`), kept by the `manager_kpis` projection: each manager's
-- email, whether he is active (no ManagerDeactivated yet) and when he was
-- registered (business time). Filled by the projection's replay (its version moved).
ALTER TABLE projections.kpi_managers
    ADD COLUMN email         text,
    ADD COLUMN active        boolean NOT NULL DEFAULT true,
    ADD COLUMN registered_at timestamptz;

-- Leads as `GET /leads` shows them, kept by the `leads` projection: phone and email
-- (personal data: '[erased]' once erased, like the name), the name and email
-- lowercased (Rust's str::to_lowercase) for `q`, the client (captured for or
-- converted into), the deal converted into, and why it was rejected.
ALTER TABLE projections.leads
    ADD COLUMN phone           text,
    ADD COLUMN email           text,
    ADD COLUMN name_folded     text NOT NULL DEFAULT '',
    ADD COLUMN email_folded    text,
    ADD COLUMN client_id       uuid,
    ADD COLUMN deal_id         uuid,
    ADD COLUMN rejected_reason text;
-- The list, newest first: all leads, or one manager's.
CREATE INDEX leads_newest_idx ON projections.leads (received_at, lead_id);
CREATE INDEX leads_manager_newest_idx ON projections.leads (manager_id, received_at, lead_id);

-- Tasks as `GET /tasks` shows them, kept by the `tasks` projection: what came of a
-- completed task.
ALTER TABLE projections.tasks ADD COLUMN result text;

-- The interactions read model (`GET /interactions`): every interaction logged.
-- Owned by the `interactions` projection (crm_projections::interactions).
CREATE TABLE projections.interactions (
    interaction_id uuid        PRIMARY KEY,
    -- call, email, meeting or message
    kind           text        NOT NULL,
    -- inbound or outbound
    direction      text        NOT NULL,
    manager_id     uuid        NOT NULL,
    client_id      uuid,
    deal_id        uuid,
    lead_id        uuid,
    occurred_at    timestamptz NOT NULL,
    duration_s     bigint,
    outcome        text,
    goal           text,
    notes          text
);
-- The list, newest first: all of them, or those of a manager, client, deal or lead.
CREATE INDEX interactions_newest_idx ON projections.interactions (occurred_at, interaction_id);
CREATE INDEX interactions_manager_idx ON projections.interactions (manager_id, occurred_at, interaction_id);
CREATE INDEX interactions_client_idx ON projections.interactions (client_id, occurred_at, interaction_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX interactions_deal_idx ON projections.interactions (deal_id, occurred_at, interaction_id)
    WHERE deal_id IS NOT NULL;
CREATE INDEX interactions_lead_idx ON projections.interactions (lead_id, occurred_at, interaction_id)
    WHERE lead_id IS NOT NULL;
