-- The projector runtime: one checkpoint per projection.
-- Owned by crm-projections (versions 2026112220xxxx). Read models keep their own
-- tables in this schema too, each created by a migration of this crate.
--
-- A checkpoint row is written in the same transaction as the batch of events it
-- covers, so the read model and the cursor never disagree (exactly once).

CREATE SCHEMA IF NOT EXISTS projections;

CREATE TABLE projections.checkpoints (
    -- the projection's name (Projection::name)
    name            text        PRIMARY KEY,
    -- the projection's version the tables were built with; a different version means rebuild
    version         integer     NOT NULL,
    -- the feed cursor (crm_eventlog::Cursor, as text) just after the last event applied
    cursor          text        NOT NULL,
    -- running: applying or waiting for events; failed: stopped on an event, retrying
    -- with backoff; stopped: its runner was shut down
    status          text        NOT NULL CHECK (status IN ('running', 'failed', 'stopped')),
    -- when failed: the error and the position of the event it failed on
    last_error      text,
    failed_position bigint,
    -- events applied since the last (re)build
    events_applied  bigint      NOT NULL DEFAULT 0 CHECK (events_applied >= 0),
    -- the projection's feed filter (NULL: every type), so status and read-your-writes
    -- can count and compare without the projection's code
    event_types     text[],
    updated_at      timestamptz NOT NULL DEFAULT now()
);
