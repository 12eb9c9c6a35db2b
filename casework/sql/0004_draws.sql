-- The draws' inputs and their declared conflicts of interest (CONTRACT.md section 10,
-- docs/draws.md). A draw keeps the exact lists it was drawn from, so anyone can redo it from
-- the database alone; the sealed draw row pins them through `inputs_hash`.

-- The dataset's conflicts.csv as last loaded (person, uscc, reason): the current declarations.
CREATE TABLE conflicts (
  person    text NOT NULL,
  uscc      text NOT NULL,
  reason    text NOT NULL,
  loaded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (person, uscc)
);

ALTER TABLE draws ADD COLUMN inputs_hash text;
ALTER TABLE draws ADD COLUMN cap integer;

-- The inputs document of a draw (canonical JSON, RFC 8785, zlib-compressed): the population
-- with grids and risk flags, the inspector pool with their grids, the conflicts that applied.
-- Written once with the draw; never changed.
CREATE TABLE draw_inputs (
  draw        text PRIMARY KEY REFERENCES draws (id),
  inputs_hash text NOT NULL,
  inputs      bytea NOT NULL
);
CREATE TRIGGER draw_inputs_append_only BEFORE UPDATE OR DELETE ON draw_inputs
  FOR EACH ROW EXECUTE FUNCTION gw_refuse_change();

-- A seed committed to before the lists are fixed: its SHA-256 is shown, the seed itself only
-- in the draw that uses it (once).
CREATE TABLE draw_commitments (
  id         text PRIMARY KEY,
  commitment text NOT NULL,
  seed       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text,
  used_by    text UNIQUE REFERENCES draws (id)
);

-- A double-random pick's task: the draw it came from, its whole team (the assignee is the
-- first), the checklist to use.
ALTER TABLE tasks ADD COLUMN draw text REFERENCES draws (id);
ALTER TABLE tasks ADD COLUMN team text[] NOT NULL DEFAULT '{}';
ALTER TABLE tasks ADD COLUMN checklist text;
CREATE INDEX tasks_draw ON tasks (draw) WHERE draw IS NOT NULL;
CREATE INDEX draws_replaces ON draws (replaces) WHERE replaces IS NOT NULL;
