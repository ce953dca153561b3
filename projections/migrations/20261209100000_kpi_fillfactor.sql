-- The manager KPIs' rows rewritten batch after batch (each entity's owner, the day's,
-- month's and dekad's sums and link counts) get room in their pages, as the clients'
-- cards and tallies have: PostgreSQL then updates them in place (no new index entry)
-- when no indexed column changes. A rebuild's shadow copies take these settings, so
-- the next rebuild fills them that way; the live tables leave the room in the pages
-- they write from now on.
ALTER TABLE projections.kpi_owners SET (fillfactor = 80);
ALTER TABLE projections.kpi_daily SET (fillfactor = 80);
ALTER TABLE projections.kpi_monthly SET (fillfactor = 70);
ALTER TABLE projections.kpi_contact_links SET (fillfactor = 70);
