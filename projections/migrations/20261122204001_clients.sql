-- The clients read model: every client's card (fields, deal outcomes, first and
-- last win) and interaction tally, each client's win times (segments at any `now`),
-- and the streams about each client (its timeline, whose events come from the log).
-- Owned by the `clients` projection (crm_projections::clients).
--
-- Cards and tallies are rewritten batch after batch: room left in their pages
-- (fillfactor) lets PostgreSQL update them in place when no indexed column changes.

CREATE TABLE projections.client_cards (
    client_id           uuid        PRIMARY KEY,
    -- ordered in code point order (COLLATE "C"): the same on every deployment
    name                text        COLLATE "C" NOT NULL,
    -- the name lowercased (Rust's str::to_lowercase), for `q`
    name_folded         text        NOT NULL,
    kind                text        NOT NULL,
    size                text,
    industry            text,
    region              text,
    source              text,
    manager_id          uuid        NOT NULL,
    contacts            jsonb       NOT NULL,
    registered_at       timestamptz NOT NULL,
    -- the client's deals by their current outcome
    open_deals          bigint      NOT NULL,
    won_deals           bigint      NOT NULL,
    lost_deals          bigint      NOT NULL,
    -- the amounts recorded by the last DealWon of each deal now won
    won_amount          bigint      NOT NULL,
    -- the earliest and the latest DealWon of its deals (every win, reopened or not)
    first_won_at        timestamptz,
    last_won_at         timestamptz,
    -- the client stream's version
    version             bigint      NOT NULL
) WITH (fillfactor = 80);
-- The list: in name order, with every column its filters read, so that finding a
-- page reads this index only (an index-only scan).
CREATE INDEX client_cards_list_idx ON projections.client_cards (name, client_id)
    INCLUDE (name_folded, manager_id, region, industry, source, open_deals, first_won_at,
             last_won_at);

-- Interactions naming each client, and the latest one's occurred_at (apart from the
-- card: they come far more often than anything else that changes it).
CREATE TABLE projections.client_interactions (
    client_id           uuid        PRIMARY KEY,
    interactions        bigint      NOT NULL,
    last_interaction_at timestamptz NOT NULL
) WITH (fillfactor = 70);

-- Each deal's client, current outcome (open, won, lost) and the amount its last
-- DealWon recorded.
CREATE TABLE projections.client_deals (
    deal_id    uuid   PRIMARY KEY,
    client_id  uuid   NOT NULL,
    status     text   NOT NULL,
    won_amount bigint
) WITH (fillfactor = 80);

-- Every DealWon, by client: whether a client had won by a given `now`, and when.
CREATE TABLE projections.client_wins (
    deal_id   uuid        NOT NULL,
    version   bigint      NOT NULL,
    client_id uuid        NOT NULL,
    won_at    timestamptz NOT NULL,
    PRIMARY KEY (deal_id, version)
);
-- by client (one card's segment), and by time (the clients with a win in a window)
CREATE INDEX client_wins_client_idx ON projections.client_wins (client_id, won_at);
CREATE INDEX client_wins_time_idx ON projections.client_wins (won_at, client_id);

-- The streams about each client: its own, its leads', deals', and the interactions'
-- and tasks' that name it, one of its deals or (interactions) one of its leads.
-- Each pair is written once (no unique index to check on every insert: this is
-- the read model's largest table).
CREATE TABLE projections.client_streams (
    client_id uuid NOT NULL,
    stream    text NOT NULL
);
CREATE INDEX client_streams_client_idx ON projections.client_streams (client_id);

-- Which clients each lead is linked to (its client_id when captured, the client it
-- was converted into), and the interactions that named each lead: a lead linked to
-- a client later brings them into the client's timeline.
CREATE TABLE projections.client_lead_links (
    lead_id   uuid NOT NULL,
    client_id uuid NOT NULL,
    PRIMARY KEY (lead_id, client_id)
);
CREATE TABLE projections.client_lead_streams (
    lead_id uuid NOT NULL,
    stream  text NOT NULL,
    PRIMARY KEY (lead_id, stream)
);
