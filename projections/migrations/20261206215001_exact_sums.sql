-- Sums of amounts and seconds that a read model accumulates in a column are numeric:
-- each amount and duration fits a bigint, their sum need not (9,224 wins of the
-- largest amount the API takes, 10^15, pass 2^63 - 1, and two events appended before
-- that bound with amounts near it do). numeric never overflows; queries read these
-- columns as text into 128 bits (crm_projections::total). Counts stay bigint.
ALTER TABLE projections.client_cards ALTER COLUMN won_amount TYPE numeric;
ALTER TABLE projections.kpi_daily
    ALTER COLUMN call_seconds TYPE numeric,
    ALTER COLUMN won_amount TYPE numeric;
ALTER TABLE projections.kpi_monthly
    ALTER COLUMN call_seconds TYPE numeric,
    ALTER COLUMN won_amount TYPE numeric;

-- A rebuild beside the live tables that was under way keeps its copies (made LIKE
-- the live tables when it began): they get the same columns, so that the swap does
-- not bring bigint back.
DO $$
BEGIN
    IF to_regclass('projections_rebuild_clients.client_cards') IS NOT NULL THEN
        ALTER TABLE projections_rebuild_clients.client_cards
            ALTER COLUMN won_amount TYPE numeric;
    END IF;
    IF to_regclass('projections_rebuild_manager_kpis.kpi_daily') IS NOT NULL THEN
        ALTER TABLE projections_rebuild_manager_kpis.kpi_daily
            ALTER COLUMN call_seconds TYPE numeric,
            ALTER COLUMN won_amount TYPE numeric;
    END IF;
    IF to_regclass('projections_rebuild_manager_kpis.kpi_monthly') IS NOT NULL THEN
        ALTER TABLE projections_rebuild_manager_kpis.kpi_monthly
            ALTER COLUMN call_seconds TYPE numeric,
            ALTER COLUMN won_amount TYPE numeric;
    END IF;
END $$;
