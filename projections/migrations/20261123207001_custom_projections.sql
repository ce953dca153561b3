-- Custom projections defined by analysts (POST /projections).
--
-- custom_catalog is the read model of the definitions (ProjectionDefined, -Redefined,
-- -Dropped): the current definition of each defined name. Written only by the
-- `custom_catalog` projection.
CREATE TABLE projections.custom_catalog (
    name          text        PRIMARY KEY,
    projection_id uuid        NOT NULL UNIQUE,
    -- the stream version of the event that gave the current definition
    generation    bigint      NOT NULL,
    definition    jsonb       NOT NULL,
    defined_at    timestamptz NOT NULL,
    defined_by    text
);

-- custom_runtime: the generations the supervisors run. A new generation is built
-- from the start of the log beside the live one; once caught up it becomes live and
-- the generations before it are dropped with their tables (cp<generation>_<name>,
-- cp<generation>d_<name>, cp<generation>e_<name>). Written only by the supervisor
-- (crm_projections::custom::supervisor).
CREATE TABLE projections.custom_runtime (
    name        text        NOT NULL,
    generation  bigint      NOT NULL,
    definition  jsonb       NOT NULL,
    live        boolean     NOT NULL DEFAULT false,
    started_at  timestamptz NOT NULL DEFAULT now(),
    live_since  timestamptz,
    PRIMARY KEY (name, generation)
);
-- At most one live generation per name.
CREATE UNIQUE INDEX custom_runtime_live ON projections.custom_runtime (name) WHERE live;
