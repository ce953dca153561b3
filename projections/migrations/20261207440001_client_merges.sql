-- Merged clients (issue 18), kept by the `clients` projection: the merges in force
-- (ClientMerged not undone by a ClientUnmerged), and each merged client's survivor at
-- the end of its chain (a survivor may itself be merged later). Every report, card and
-- list that groups or filters by client resolves client ids through
-- `client_survivors` (a client without a row is its own survivor).
CREATE TABLE projections.client_merges (
    client_id      uuid PRIMARY KEY,
    into_client_id uuid NOT NULL
);
CREATE TABLE projections.client_survivors (
    client_id   uuid PRIMARY KEY,
    survivor_id uuid NOT NULL
);
CREATE INDEX client_survivors_survivor_idx ON projections.client_survivors (survivor_id, client_id);

-- Who scheduled each task (the actor of its TaskScheduled, when a manager; NULL for a
-- role's token or the automation), kept by the `tasks` projection for
-- `GET /reports/tasks/people`. Filled by the projection's replay (its version moved).
ALTER TABLE projections.tasks ADD COLUMN scheduled_by uuid;
-- Open tasks by kind and due time: the tails of a manager's day.
CREATE INDEX tasks_open_kind_due_idx ON projections.tasks (assignee_id, kind, due_at) WHERE status = 'open';
