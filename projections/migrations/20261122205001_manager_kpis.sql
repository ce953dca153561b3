-- The manager KPIs read model. Owned by the `manager_kpis` projection
-- (crm_projections::managers). Days and months are UTC.

-- Every registered manager.
CREATE TABLE projections.kpi_managers (
    manager_id uuid PRIMARY KEY,
    name       text NOT NULL,
    department text NOT NULL,
    role       text NOT NULL
);

-- The manager responsible now for each lead (null: none yet), deal and task, and a
-- task's due time now (after reschedules).
CREATE TABLE projections.kpi_owners (
    entity_id  uuid PRIMARY KEY,
    manager_id uuid,
    due_at     timestamptz
);

-- One row per counted event, for the manager it counts for. `kind`: call_outbound,
-- call_inbound, meeting, email, message (interactions), lead_assigned,
-- lead_converted, lead_rejected, deal_opened, deal_won, deal_lost, task_completed.
CREATE TABLE projections.kpi_facts (
    position    bigint      PRIMARY KEY,
    manager_id  uuid        NOT NULL,
    occurred_at timestamptz NOT NULL,
    kind        text        NOT NULL,
    -- interactions: the client, if any
    client_id   uuid,
    -- calls: duration_s
    seconds     bigint      NOT NULL,
    -- deal_won: the amount won
    amount      bigint      NOT NULL,
    -- task_completed: after the due_at then in force
    late        boolean     NOT NULL,
    -- Interactions with a client: the previous interaction of the same manager with
    -- the same client, by (occurred_at, position) (-infinity: none). An interaction in [from,
    -- to) whose previous one is before `from` is the first with its client in the
    -- period, so counting those counts distinct clients.
    prev_contact_at timestamptz,
    -- Calls with a client: the previous call of the same manager to the same client.
    prev_call_at    timestamptz
);
CREATE INDEX kpi_facts_time_idx ON projections.kpi_facts (occurred_at)
    INCLUDE (manager_id, prev_contact_at, prev_call_at);
CREATE INDEX kpi_facts_prev_contact_idx ON projections.kpi_facts (prev_contact_at)
    INCLUDE (manager_id, occurred_at) WHERE prev_contact_at IS NOT NULL;
CREATE INDEX kpi_facts_prev_call_idx ON projections.kpi_facts (prev_call_at)
    INCLUDE (manager_id, occurred_at) WHERE prev_call_at IS NOT NULL;
-- Each manager and client's interactions in chain order: the latest, or the whole
-- chain when an interaction from the past lands inside it.
CREATE INDEX kpi_facts_pair_idx ON projections.kpi_facts
    (manager_id, client_id, occurred_at, position) INCLUDE (kind) WHERE client_id IS NOT NULL;

-- The facts summed per manager per UTC day (the report takes whole months from
-- kpi_monthly, other whole days from here, the partial days at a period's edges
-- from the facts).
CREATE TABLE projections.kpi_daily (
    day                  date   NOT NULL,
    manager_id           uuid   NOT NULL,
    calls_outbound       bigint NOT NULL,
    calls_inbound        bigint NOT NULL,
    call_seconds         bigint NOT NULL,
    calls_with_client    bigint NOT NULL,
    meetings             bigint NOT NULL,
    emails               bigint NOT NULL,
    messages             bigint NOT NULL,
    leads_assigned       bigint NOT NULL,
    leads_converted      bigint NOT NULL,
    leads_rejected       bigint NOT NULL,
    deals_opened         bigint NOT NULL,
    deals_won            bigint NOT NULL,
    deals_lost           bigint NOT NULL,
    won_amount           bigint NOT NULL,
    tasks_completed      bigint NOT NULL,
    tasks_completed_late bigint NOT NULL,
    PRIMARY KEY (day, manager_id)
);

-- The same per manager per UTC month (the first day of the month).
CREATE TABLE projections.kpi_monthly (
    month                date   NOT NULL,
    manager_id           uuid   NOT NULL,
    calls_outbound       bigint NOT NULL,
    calls_inbound        bigint NOT NULL,
    call_seconds         bigint NOT NULL,
    calls_with_client    bigint NOT NULL,
    meetings             bigint NOT NULL,
    emails               bigint NOT NULL,
    messages             bigint NOT NULL,
    leads_assigned       bigint NOT NULL,
    leads_converted      bigint NOT NULL,
    leads_rejected       bigint NOT NULL,
    deals_opened         bigint NOT NULL,
    deals_won            bigint NOT NULL,
    deals_lost           bigint NOT NULL,
    won_amount           bigint NOT NULL,
    tasks_completed      bigint NOT NULL,
    tasks_completed_late bigint NOT NULL,
    PRIMARY KEY (month, manager_id)
);

-- Interactions with a client (calls = false) and calls with a client (calls = true)
-- counted by the UTC month (span 'month') or dekad (span 'dekad': the 1st-10th,
-- 11th-20th, 21st-last) of their occurred_at, with the dekad of their previous one
-- with the same client (prev_dekad '-infinity': none). Those of whole dekads and
-- months [W1, W2) whose previous one is before W1 are the distinct clients there.
CREATE TABLE projections.kpi_contact_links (
    span       text    NOT NULL,
    bucket     date    NOT NULL,
    prev_dekad date    NOT NULL,
    calls      boolean NOT NULL,
    manager_id uuid    NOT NULL,
    links      bigint  NOT NULL,
    PRIMARY KEY (span, bucket, prev_dekad, calls, manager_id)
);
-- Long periods: the few links whose previous one is before the period.
CREATE INDEX kpi_contact_links_prev_idx ON projections.kpi_contact_links
    (span, prev_dekad, bucket) INCLUDE (calls, manager_id, links);
