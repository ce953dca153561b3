-- The automation runner's own tables (crm-api's `automation`): where it stands in
-- the feed, the deadlines its rules keep (the read model of what is due), and the
-- manager each round robin rule assigned last. Owned by crm-api.
CREATE TABLE api.automation_checkpoint (
    id         integer     PRIMARY KEY CHECK (id = 1),
    tx_id      bigint      NOT NULL,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One deadline per rule and subject (a lead for lead_sla, a task for task_reminder):
-- automation::Due, plus the business time of the lead's first answer when it came
-- after the deadline (the entry stays, to fire).
CREATE TABLE api.automation_due (
    rule_id     uuid        NOT NULL,
    subject_id  uuid        NOT NULL,
    due_at      timestamptz NOT NULL,
    cause_id    uuid        NOT NULL,
    task_due_at timestamptz,
    answered_at timestamptz,
    PRIMARY KEY (rule_id, subject_id)
);
CREATE INDEX automation_due_at_idx ON api.automation_due (due_at, rule_id, subject_id);

CREATE TABLE api.automation_last_assigned (
    rule_id    uuid PRIMARY KEY,
    manager_id uuid NOT NULL
);
