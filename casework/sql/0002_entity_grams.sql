-- Entity search by any part of the name, one character or more. pg_trgm needs three
-- characters of the pattern to use its index, and Chinese names are searched by two as often
-- as by more ("鹰潭", "超市"); and a fragment that half the register holds ("有限公司") made its
-- bitmap as large as the table. Instead every character and every pair of adjacent characters
-- of the name (lower case) is kept in a GIN-indexed array: a query's pairs (its character, for
-- one) must all be there, then the name is checked with ILIKE. ANALYZE keeps the pairs'
-- frequencies (most-common-element statistics, a large target), so the planner reads a rare
-- fragment through the index and a common one by scanning until the first page is full.
CREATE FUNCTION gw_grams(s text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT g), '{}') FROM (
    SELECT substr(lower(s), i, 1) AS g FROM generate_series(1, length(s)) AS i
    UNION ALL
    SELECT substr(lower(s), i, 2) FROM generate_series(1, length(s) - 1) AS i) AS grams
$$;

ALTER TABLE entities ADD COLUMN name_grams text[] GENERATED ALWAYS AS (gw_grams(name)) STORED;
ALTER TABLE entities ALTER COLUMN name_grams SET STATISTICS 2000;
CREATE INDEX entities_name_grams ON entities USING gin (name_grams);
DROP INDEX entities_name_trgm;

-- The register listed by grid or category without a name: in name order.
CREATE INDEX entities_name_order ON entities (name, uscc) WHERE active;
