-- Calls with a goal (issue 18): the manager KPIs count the calls that carry a goal
-- (`goal` or `goal_reached` said) and those that reached it (`goal_reached` true).
-- The projection's version goes up with this, so its facts are replayed with them.
ALTER TABLE projections.kpi_facts
    ADD COLUMN goal boolean NOT NULL DEFAULT false,
    ADD COLUMN goal_reached boolean NOT NULL DEFAULT false;
ALTER TABLE projections.kpi_daily
    ADD COLUMN calls_with_goal bigint NOT NULL DEFAULT 0,
    ADD COLUMN calls_goal_reached bigint NOT NULL DEFAULT 0;
ALTER TABLE projections.kpi_monthly
    ADD COLUMN calls_with_goal bigint NOT NULL DEFAULT 0,
    ADD COLUMN calls_goal_reached bigint NOT NULL DEFAULT 0;

-- A rebuild beside the live tables that was under way keeps its copies (made LIKE
-- the live tables when it began): they get the same columns.
DO $$
BEGIN
    IF to_regclass('projections_rebuild_manager_kpis.kpi_facts') IS NOT NULL THEN
        ALTER TABLE projections_rebuild_manager_kpis.kpi_facts
            ADD COLUMN goal boolean NOT NULL DEFAULT false,
            ADD COLUMN goal_reached boolean NOT NULL DEFAULT false;
    END IF;
    IF to_regclass('projections_rebuild_manager_kpis.kpi_daily') IS NOT NULL THEN
        ALTER TABLE projections_rebuild_manager_kpis.kpi_daily
            ADD COLUMN calls_with_goal bigint NOT NULL DEFAULT 0,
            ADD COLUMN calls_goal_reached bigint NOT NULL DEFAULT 0;
    END IF;
    IF to_regclass('projections_rebuild_manager_kpis.kpi_monthly') IS NOT NULL THEN
        ALTER TABLE projections_rebuild_manager_kpis.kpi_monthly
            ADD COLUMN calls_with_goal bigint NOT NULL DEFAULT 0,
            ADD COLUMN calls_goal_reached bigint NOT NULL DEFAULT 0;
    END IF;
END $$;
