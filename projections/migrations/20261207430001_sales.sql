-- The `sales` read model (issue 18). Owned by the `sales` projection
-- (crm_projections::sales): the catalogue, deal lines and the lines at each win,
-- each client's first interaction, invoices with what has been paid, and managers'
-- monthly plans.

-- The catalogue: every product defined.
CREATE TABLE projections.sales_products (
    product_id uuid   PRIMARY KEY,
    name       text   NOT NULL,
    category   text   NOT NULL,
    price      bigint
);
CREATE INDEX sales_products_name_idx ON projections.sales_products (name COLLATE "C", product_id);

-- Every deal: its client and the manager responsible now.
CREATE TABLE projections.sales_deals (
    deal_id    uuid PRIMARY KEY,
    client_id  uuid NOT NULL,
    manager_id uuid NOT NULL
);

-- Each deal's lines as they stand now (a removed line is gone).
CREATE TABLE projections.sales_deal_lines (
    deal_id    uuid   NOT NULL,
    line_id    uuid   NOT NULL,
    product_id uuid   NOT NULL,
    quantity   bigint NOT NULL,
    price      bigint NOT NULL,
    PRIMARY KEY (deal_id, line_id)
);

-- Every DealWon (a deal won, reopened and won again has two): the deal's client and
-- the manager responsible at the win, the amount it recorded.
CREATE TABLE projections.sales_wins (
    deal_id     uuid        NOT NULL,
    version     bigint      NOT NULL,
    position    bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    client_id   uuid        NOT NULL,
    manager_id  uuid        NOT NULL,
    amount      bigint      NOT NULL,
    PRIMARY KEY (deal_id, version)
);
CREATE INDEX sales_wins_time_idx ON projections.sales_wins (occurred_at);
CREATE INDEX sales_wins_client_idx ON projections.sales_wins (client_id, occurred_at, position);

-- The deal's lines as they stood at each DealWon, with the win's time and manager.
CREATE TABLE projections.sales_won_lines (
    deal_id     uuid        NOT NULL,
    version     bigint      NOT NULL,
    line_id     uuid        NOT NULL,
    occurred_at timestamptz NOT NULL,
    manager_id  uuid        NOT NULL,
    product_id  uuid        NOT NULL,
    quantity    bigint      NOT NULL,
    price       bigint      NOT NULL,
    PRIMARY KEY (deal_id, version, line_id)
);
CREATE INDEX sales_won_lines_time_idx ON projections.sales_won_lines (occurred_at);

-- Each client's first interaction, by (occurred_at, position), and its direction.
CREATE TABLE projections.sales_first_contacts (
    client_id   uuid        PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    position    bigint      NOT NULL,
    direction   text        NOT NULL
);

-- Every invoice: its deal's client and the manager responsible at the issue, and the
-- sum of its payments so far (never above its amount: the domain's rule).
CREATE TABLE projections.sales_invoices (
    invoice_id uuid        PRIMARY KEY,
    deal_id    uuid        NOT NULL,
    client_id  uuid        NOT NULL,
    manager_id uuid        NOT NULL,
    number     text        NOT NULL,
    amount     bigint      NOT NULL,
    due_on     date        NOT NULL,
    issued_at  timestamptz NOT NULL,
    paid       bigint      NOT NULL
);
CREATE INDEX sales_invoices_time_idx ON projections.sales_invoices (issued_at);

-- Each manager's plan for a month (its first day): the latest PlanSet's targets
-- (null: no target for that figure).
CREATE TABLE projections.sales_plans (
    manager_id   uuid   NOT NULL,
    month        date   NOT NULL,
    calls        bigint,
    meetings     bigint,
    call_seconds bigint,
    deals_won    bigint,
    won_amount   bigint,
    PRIMARY KEY (manager_id, month)
);
