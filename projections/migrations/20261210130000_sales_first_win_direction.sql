-- Each client's first-win row also carries the direction of the client's first
-- interaction (null when there was none), kept by the `sales` projection
-- (crm_projections::sales) whenever either changes, so revenue by first contact reads
-- the period's wins and the rows of the clients who won, not every client's first
-- interaction.
ALTER TABLE projections.sales_first_wins ADD COLUMN direction text;

-- A model built before this column: the directions it already holds.
UPDATE projections.sales_first_wins w
   SET direction = c.direction
  FROM projections.sales_first_contacts c
 WHERE c.client_id = w.client_id;
