-- Merges folded into the cards (issue 18, "merges at the wrong depth"): a card keeps
-- the client's own figures (`own_*`) beside the figures it shows (`open_deals`,
-- `won_deals`, `lost_deals`, `won_amount`, `first_won_at`, `last_won_at`): the same
-- unless the client is a survivor, whose shown figures sum its own and those of the
-- clients merged into it. Interactions stay in `client_interactions` (the client's
-- own); a survivor's card adds its members' (`members_interactions`,
-- `members_last_interaction_at`). A merged client's card names its survivor
-- (`merged_into_client_id`). The `clients` projection's version moved: its replay
-- fills the new columns.
ALTER TABLE projections.client_cards
    ADD COLUMN own_open_deals              bigint      NOT NULL DEFAULT 0,
    ADD COLUMN own_won_deals               bigint      NOT NULL DEFAULT 0,
    ADD COLUMN own_lost_deals              bigint      NOT NULL DEFAULT 0,
    ADD COLUMN own_won_amount              numeric     NOT NULL DEFAULT 0,
    ADD COLUMN own_first_won_at            timestamptz,
    ADD COLUMN own_last_won_at             timestamptz,
    ADD COLUMN members_interactions        bigint      NOT NULL DEFAULT 0,
    ADD COLUMN members_last_interaction_at timestamptz,
    ADD COLUMN merged_into_client_id       uuid;

-- The list leaves merged clients out: its index holds only the others, so a page is
-- again an index-only scan in name order.
DROP INDEX projections.client_cards_list_idx;
CREATE INDEX client_cards_list_idx ON projections.client_cards (name, client_id)
    INCLUDE (name_folded, manager_id, region, industry, source, open_deals, first_won_at,
             last_won_at)
    WHERE merged_into_client_id IS NULL;

-- A rebuild beside the live tables that was under way keeps its copies (made LIKE
-- the live tables when it began): they get the same columns.
DO $$
BEGIN
    IF to_regclass('projections_rebuild_clients.client_cards') IS NOT NULL THEN
        ALTER TABLE projections_rebuild_clients.client_cards
            ADD COLUMN own_open_deals              bigint      NOT NULL DEFAULT 0,
            ADD COLUMN own_won_deals               bigint      NOT NULL DEFAULT 0,
            ADD COLUMN own_lost_deals              bigint      NOT NULL DEFAULT 0,
            ADD COLUMN own_won_amount              numeric     NOT NULL DEFAULT 0,
            ADD COLUMN own_first_won_at            timestamptz,
            ADD COLUMN own_last_won_at             timestamptz,
            ADD COLUMN members_interactions        bigint      NOT NULL DEFAULT 0,
            ADD COLUMN members_last_interaction_at timestamptz,
            ADD COLUMN merged_into_client_id       uuid;
    END IF;
END $$;
