-- A sum of bigints kept as a bigint: cheap per group (PostgreSQL's own sum(bigint)
-- keeps a 128-bit state per group and makes a numeric of it, a third of the time of
-- a report with thousands of groups), and an error (SQLSTATE 22003) where a sum would
-- pass 2^63 - 1, never a wrong figure. Reports sum with it and ask again with sum()
-- when it raises (crm_projections::total::summed). Like sum(): NULLs skipped, NULL
-- over no rows.
CREATE AGGREGATE projections.sum_int8(bigint) (
    SFUNC = int8pl,
    STYPE = bigint,
    COMBINEFUNC = int8pl,
    PARALLEL = SAFE
);
