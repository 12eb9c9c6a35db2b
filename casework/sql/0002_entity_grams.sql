-- Entity search by 1 or 2 characters: pg_trgm needs 3 characters of the pattern to use its
-- index, and Chinese names are searched by two characters as often as by more ("鹰潭",
-- "超市"). Every character and every pair of adjacent characters of the name (lower case),
-- in a GIN-indexed array: `name_grams @> ARRAY[q]` finds the names holding q.
CREATE FUNCTION gw_grams(s text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT g), '{}') FROM (
    SELECT substr(lower(s), i, 1) AS g FROM generate_series(1, length(s)) AS i
    UNION ALL
    SELECT substr(lower(s), i, 2) FROM generate_series(1, length(s) - 1) AS i) AS grams
$$;

ALTER TABLE entities ADD COLUMN name_grams text[] GENERATED ALWAYS AS (gw_grams(name)) STORED;
CREATE INDEX entities_name_grams ON entities USING gin (name_grams);

-- The register listed by grid or category without a name: in name order.
CREATE INDEX entities_name_order ON entities (name, uscc) WHERE active;
