-- Statistics rollups (CONTRACT.md section 12, docs/statistics.md). Every record adds 1 to some
-- measures on some day of the bureau's time zone; what each record adds is written ONCE, in
-- gw_stats_source(), and used by the triggers (the changed rows only) and by the rebuild (all
-- rows). Two rollups: by grid (level-2 grid, its level-1 grid and branch) and by category (and
-- kind: inspection kind, complaint channel, case source), each by day ('d') and by month ('m',
-- period = the month's first day): a range is its whole months plus the days at its edges.
--
-- Kept current by statement-level triggers with transition tables: one aggregate per
-- statement, so a bulk INSERT ... SELECT of 300k rows costs one GROUP BY, not 300k upserts;
-- and a sealed inspection counts when its transaction commits.

CREATE TABLE stats_config (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  tz text NOT NULL                            -- the time zone the rollups' days are in
);
INSERT INTO stats_config (tz) VALUES ('Asia/Shanghai');

CREATE TABLE stats_grid (
  measure text NOT NULL,
  span    "char" NOT NULL CHECK (span IN ('d', 'm')),
  period  date NOT NULL,
  grid    text NOT NULL,                      -- '' = none on record
  level1  text NOT NULL,
  branch  text NOT NULL,
  n       bigint NOT NULL,
  PRIMARY KEY (measure, span, period, grid, level1, branch)
);

CREATE TABLE stats_category (
  measure  text NOT NULL,
  span     "char" NOT NULL CHECK (span IN ('d', 'm')),
  period   date NOT NULL,
  category text NOT NULL,
  kind     text NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (measure, span, period, category, kind)
);

-- Active entities of the register by grid and category: the denominators of the rates.
CREATE TABLE stats_entities (
  grid     text NOT NULL,
  level1   text NOT NULL,
  branch   text NOT NULL,
  category text NOT NULL,
  n        bigint NOT NULL,
  PRIMARY KEY (grid, level1, branch, category)
);

CREATE FUNCTION gw_stats_entities_sql(src text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT format($q$
    INSERT INTO stats_entities AS t (grid, level1, branch, category, n)
      SELECT coalesce(grid, ''), coalesce(level1, ''), coalesce(branch, ''), coalesce(category, ''), sum(n)
      FROM (%s) s GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4
    ON CONFLICT (grid, level1, branch, category) DO UPDATE SET n = t.n + excluded.n$q$, src)
$$;

CREATE FUNCTION gw_stats_entities_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    EXECUTE gw_stats_entities_sql('SELECT grid, level1, branch, category, 1 AS n FROM new_rows WHERE active');
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE gw_stats_entities_sql('SELECT grid, level1, branch, category, 1 AS n FROM new_rows WHERE active '
                                  'UNION ALL SELECT grid, level1, branch, category, -1 FROM old_rows WHERE active');
  ELSE
    EXECUTE gw_stats_entities_sql('SELECT grid, level1, branch, category, -1 AS n FROM old_rows WHERE active');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER entities_stats_ins AFTER INSERT ON entities REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION gw_stats_entities_trigger();
CREATE TRIGGER entities_stats_upd AFTER UPDATE ON entities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION gw_stats_entities_trigger();
CREATE TRIGGER entities_stats_del AFTER DELETE ON entities REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION gw_stats_entities_trigger();

-- The contributions of the rows of relation `rel` (a record table or a trigger's transition
-- table) of record table `tbl`: (measure, at, grid, level1, branch, category, kind).
CREATE FUNCTION gw_stats_source(tbl text, rel text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v text;
BEGIN
  v := CASE tbl
  WHEN 'inspections' THEN $v$
    ('inspections',        r.started_at, r.sealed_at IS NOT NULL, r.category, r.kind),
    ('failed_inspections', r.started_at, r.sealed_at IS NOT NULL AND r.result = 'fail', r.category, r.kind)$v$
  WHEN 'tasks' THEN $v$
    ('tasks',         r.reported_at, true, r.category, r.source),
    ('tasks_late',    r.deadline,    r.state <> 'rejected' AND r.handled_at > r.deadline, r.category, r.source),
    ('tasks_closed',  r.closed_at,   r.state = 'closed', r.category, r.source),
    ('tasks_on_time', r.closed_at,   r.state = 'closed' AND r.handled_at <= r.deadline, r.category, r.source)$v$
  WHEN 'complaints' THEN $v$
    ('complaints',         r.received_at, true, r.category, r.channel),
    ('complaints_founded', r.received_at, coalesce(r.founded, false), r.category, r.channel),
    ('mediated',           r.received_at, r.outcome = 'agreed' OR r.state = 'agreed', r.category, r.channel),
    ('mediation_ended',    r.received_at, r.outcome IN ('agreed', 'failed') OR r.state IN ('agreed', 'failed'),
                           r.category, r.channel)$v$
  WHEN 'cases' THEN $v$
    ('cases',              r.opened_at, true, r.category, r.source_type),
    ('clues_verified',     r.verified_at, r.verified_at IS NOT NULL, r.category, r.source_type),
    ('transferred_police', coalesce(r.ended_at, r.verified_at, r.updated_at), r.state = 'transferred_police',
                           r.category, r.source_type),
    ('cases_filed',        r.filed_at, r.filed_at IS NOT NULL, r.category, r.source_type),
    ('penalties',          coalesce(r.decided_at, r.updated_at), r.state = 'decided', r.category, r.source_type)$v$
  END;
  RETURN format($q$SELECT c.measure, c.at, coalesce(r.grid, '') AS grid, coalesce(r.level1, '') AS level1,
      coalesce(r.branch, '') AS branch, coalesce(c.category, '') AS category, coalesce(c.kind, '') AS kind
    FROM %s r CROSS JOIN LATERAL (VALUES %s) AS c (measure, at, ok, category, kind)
    WHERE c.ok AND c.at IS NOT NULL$q$, rel, v);
END $$;

-- The statement that adds the signed contributions `src` (a query giving the columns of
-- gw_stats_source plus n) to both rollups, in key order (two writers of the same rows never
-- wait on each other in a cycle). The trigger EXECUTEs it itself: a transition table is seen
-- only by the trigger function's own statements.
CREATE FUNCTION gw_stats_add_sql(src text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT format($q$
    WITH d AS (
      SELECT measure, s.span, CASE s.span WHEN 'd' THEN day ELSE date_trunc('month', day)::date END AS period,
             grid, level1, branch, category, kind, n
      FROM (SELECT measure, (at AT TIME ZONE %L)::date AS day, grid, level1, branch, category, kind, n
            FROM (%s) x) src CROSS JOIN (VALUES ('d'::"char"), ('m'::"char")) AS s (span)),
    g AS (
      INSERT INTO stats_grid AS t (measure, span, period, grid, level1, branch, n)
        SELECT measure, span, period, grid, level1, branch, sum(n) FROM d
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
      ON CONFLICT (measure, span, period, grid, level1, branch) DO UPDATE SET n = t.n + excluded.n)
    INSERT INTO stats_category AS t (measure, span, period, category, kind, n)
      SELECT measure, span, period, category, kind, sum(n) FROM d
      GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (measure, span, period, category, kind) DO UPDATE SET n = t.n + excluded.n$q$,
    (SELECT tz FROM stats_config), src)
$$;

-- A bulk load (casework.history) sets gridwatch.stats_defer for its transaction and rebuilds the
-- rollups once at its end instead (measured on the demo's 310k rows: see docs/statistics.md).
CREATE FUNCTION gw_stats_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('gridwatch.stats_defer', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    EXECUTE gw_stats_add_sql(format('SELECT *, 1::bigint AS n FROM (%s) a', gw_stats_source(TG_TABLE_NAME, 'new_rows')));
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE gw_stats_add_sql(format('SELECT *, 1::bigint AS n FROM (%s) a UNION ALL SELECT *, -1::bigint FROM (%s) b',
                                    gw_stats_source(TG_TABLE_NAME, 'new_rows'), gw_stats_source(TG_TABLE_NAME, 'old_rows')));
  ELSE
    EXECUTE gw_stats_add_sql(format('SELECT *, -1::bigint AS n FROM (%s) b', gw_stats_source(TG_TABLE_NAME, 'old_rows')));
  END IF;
  RETURN NULL;
END $$;

-- Recomputes both rollups from the record tables (after a change of time zone, or to check).
CREATE FUNCTION gw_stats_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE stats_grid, stats_category, stats_entities IN EXCLUSIVE MODE;
  TRUNCATE stats_grid, stats_category, stats_entities;
  EXECUTE gw_stats_entities_sql('SELECT grid, level1, branch, category, 1 AS n FROM entities WHERE active');
  EXECUTE gw_stats_add_sql(format('SELECT *, 1::bigint AS n FROM (%s) a UNION ALL SELECT *, 1 FROM (%s) b '
                              'UNION ALL SELECT *, 1 FROM (%s) c UNION ALL SELECT *, 1 FROM (%s) d',
                              gw_stats_source('inspections', 'inspections'), gw_stats_source('tasks', 'tasks'),
                              gw_stats_source('complaints', 'complaints'), gw_stats_source('cases', 'cases')));
END $$;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['inspections', 'tasks', 'complaints', 'cases'] LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION gw_stats_trigger()', t || '_stats_ins', t);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION gw_stats_trigger()', t || '_stats_upd', t);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION gw_stats_trigger()', t || '_stats_del', t);
  END LOOP;
END $$;

SELECT gw_stats_rebuild();
