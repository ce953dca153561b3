-- The tasks read model: every task as it stands. Owned by the `tasks` projection
-- (crm_projections::tasks).
CREATE TABLE projections.tasks (
    task_id        uuid        PRIMARY KEY,
    title          text        NOT NULL,
    kind           text        NOT NULL,
    assignee_id    uuid        NOT NULL,
    due_at         timestamptz NOT NULL,
    client_id      uuid,
    deal_id        uuid,
    co_executor_ids uuid[]     NOT NULL,
    observer_ids   uuid[]      NOT NULL,
    -- open, completed or cancelled
    status         text        NOT NULL,
    scheduled_at   timestamptz NOT NULL,
    closed_at      timestamptz,
    -- completed after the due_at then in force
    completed_late boolean,
    version        bigint      NOT NULL
);
CREATE INDEX tasks_assignee_idx ON projections.tasks (assignee_id, status);
CREATE INDEX tasks_open_due_idx ON projections.tasks (due_at, task_id) WHERE status = 'open';
