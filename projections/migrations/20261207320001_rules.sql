-- The automation rules (`GET /automation/rules`), kept by the `rules` projection
-- (crm_projections::rules): each rule as defined (RuleDefined), enabled until
-- RuleDisabled. `params` as the API took them (the kind's typed params);
-- `defined_at` and `disabled_at` are business times; `position` is the definition's
-- place in the log, the order of the list.
CREATE TABLE projections.rules (
    rule_id     uuid        PRIMARY KEY,
    name        text        NOT NULL,
    kind        text        NOT NULL,
    params      jsonb       NOT NULL,
    enabled     boolean     NOT NULL,
    defined_at  timestamptz NOT NULL,
    defined_by  uuid,
    disabled_at timestamptz,
    position    bigint      NOT NULL UNIQUE
);
