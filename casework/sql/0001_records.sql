-- The system of record (CONTRACT.md sections 7-12): one schema for the entity register, tasks,
-- inspections, draws, complaints, cases, their media and audit, and the sealed-record chain.
-- Grid ids (level-2 `grid`, level-1 `level1`, the level-1 grid's `branch`) are stored on every
-- record when it is made, so statistics group by columns, never by geometry.
-- docs/records.md describes every table, who writes it and what is sealed.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- A sealed row never changes: the database itself refuses it, whatever the code does.
CREATE FUNCTION gw_refuse_sealed_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.sealed_at IS NOT NULL THEN
    RAISE EXCEPTION 'sealed record %/% cannot be changed', TG_TABLE_NAME, OLD.id
      USING ERRCODE = 'GWS01', HINT = 'sealed records are kept as they were sealed';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;

-- Append-only tables (the audit, the seal chain): no UPDATE, no DELETE.
CREATE FUNCTION gw_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'GWS02';
END $$;

CREATE TABLE audit (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,                  -- user:<name>, device:<id>, system:<job>, load:<dataset>
  record_type text NOT NULL,                  -- entity, task, inspection, draw, complaint, case, calendar
  record_id   text NOT NULL,
  action      text NOT NULL,                  -- create, update, <transition>, seal, deactivate ...
  before      jsonb,
  after       jsonb,
  note        text
);
CREATE INDEX audit_record ON audit (record_type, record_id, id);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
  FOR EACH ROW EXECUTE FUNCTION gw_refuse_change();

-- One chain over all sealed records, in sealing order.
CREATE TABLE seals (
  seq         bigserial PRIMARY KEY,
  record_type text NOT NULL,
  record_id   text NOT NULL,
  sealed_at   timestamptz NOT NULL,
  fields      text[] NOT NULL,                -- the record's columns the hash covers
  prev_hash   text,                           -- NULL for the first record
  hash        text NOT NULL,
  UNIQUE (record_type, record_id)
);
CREATE TRIGGER seals_append_only BEFORE UPDATE OR DELETE ON seals
  FOR EACH ROW EXECUTE FUNCTION gw_refuse_change();

CREATE TABLE media (
  sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size       bigint NOT NULL,
  type       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text
);

-- Which media belong to which record (a photo of a checklist item, a signature, a voice note).
CREATE TABLE record_media (
  record_type text NOT NULL,
  record_id   text NOT NULL,
  sha256      text NOT NULL REFERENCES media (sha256),
  item        text NOT NULL DEFAULT '',       -- checklist item code, 'signature:<n>', '' = the whole record
  taken_at    timestamptz,
  lat         double precision,
  lon         double precision,
  added_at    timestamptz NOT NULL DEFAULT now(),
  added_by    text,
  PRIMARY KEY (record_type, record_id, sha256, item)
);

CREATE TABLE entities (
  uscc          text PRIMARY KEY CHECK (uscc ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'),
  name          text NOT NULL,
  kind          text NOT NULL DEFAULT '',
  category      text NOT NULL DEFAULT '',
  address       text NOT NULL DEFAULT '',
  lat           double precision,
  lon           double precision,
  grid          text,                         -- level-2 grid at its point
  level1        text,
  branch        text,
  active        boolean NOT NULL DEFAULT true,
  registered_at timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  left_at       timestamptz                   -- when it left the dataset (inactive)
);
CREATE INDEX entities_name_trgm ON entities USING gin (name gin_trgm_ops);
CREATE INDEX entities_uscc_prefix ON entities (uscc text_pattern_ops);
CREATE INDEX entities_grid ON entities (grid);
CREATE INDEX entities_level1 ON entities (level1);
CREATE INDEX entities_category ON entities (category);

CREATE TABLE checklists (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  categories text[] NOT NULL,
  items      jsonb NOT NULL,                  -- [{code, section, text, key, required}]
  rule       jsonb NOT NULL DEFAULT '{}',     -- how failed key/general items decide fail | rectify
  source     text,
  loaded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE task_categories (
  code        text PRIMARY KEY,
  name        text NOT NULL,
  grp         text NOT NULL DEFAULT '',
  hours       integer NOT NULL CHECK (hours > 0),
  description text NOT NULL DEFAULT '',
  keywords    text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE complaint_categories (
  code text PRIMARY KEY,
  name text NOT NULL
);

-- The State Council's yearly schedule: holidays and adjusted working days; a year listed in
-- calendar_years has its schedule loaded (else its deadlines are provisional: weekdays only).
CREATE TABLE calendar_years (
  year      integer PRIMARY KEY,
  source    text NOT NULL,
  loaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE calendar_days (
  day  date PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('holiday', 'workday')),
  name text NOT NULL DEFAULT ''
);

CREATE TABLE tasks (
  id               text PRIMARY KEY,
  category         text NOT NULL REFERENCES task_categories (code),
  description      text NOT NULL DEFAULT '',
  address          text,
  lat              double precision NOT NULL,
  lon              double precision NOT NULL,
  uscc             text REFERENCES entities (uscc),
  grid             text,
  level1           text,
  branch           text,
  source           text NOT NULL DEFAULT 'report',   -- report, draw, complaint, inspection
  reporter         text,                              -- person id (assistant, informant, ...)
  reporter_account text,
  assignee         text,                              -- person id
  state            text NOT NULL,
  reported_at      timestamptz NOT NULL,
  deadline         timestamptz NOT NULL,
  accepted_at      timestamptz,
  handled_at       timestamptz,
  verified_at      timestamptz,
  closed_at        timestamptz,
  feedback         text,
  reason           text,
  duplicate_of     text REFERENCES tasks (id),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  sealed_at        timestamptz,
  hash             text
);
CREATE INDEX tasks_grid_open ON tasks (grid, reported_at DESC) WHERE state NOT IN ('closed', 'rejected');
CREATE INDEX tasks_grid ON tasks (grid, reported_at DESC);
CREATE INDEX tasks_assignee ON tasks (assignee, state);
CREATE INDEX tasks_reporter ON tasks (reporter, reported_at DESC);
CREATE INDEX tasks_open_deadline ON tasks (deadline) WHERE state NOT IN ('handled', 'verified', 'closed', 'rejected');
CREATE INDEX tasks_reported_at ON tasks (reported_at);
CREATE INDEX tasks_uscc ON tasks (uscc) WHERE uscc IS NOT NULL;

CREATE TABLE draws (
  id                  text PRIMARY KEY,
  name                text NOT NULL,
  checklist           text REFERENCES checklists (id),
  params              jsonb NOT NULL,          -- the request as given (population, ratio, count, ...)
  seed                text NOT NULL,
  seed_commitment     text,                    -- SHA-256 of the seed, shown before the lists are fixed
  algorithm           text NOT NULL,
  population_size     integer NOT NULL,
  population_hash     text NOT NULL,
  inspector_pool_size integer NOT NULL,
  inspectors_hash     text NOT NULL,
  risk_population     integer NOT NULL DEFAULT 0,
  risk_picks          integer NOT NULL DEFAULT 0,
  picks               jsonb NOT NULL,          -- [{uscc, inspectors: [...], inspection?}]
  replaces            text REFERENCES draws (id),
  reason              text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  created_by          text,
  published_at        timestamptz,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  sealed_at           timestamptz,
  hash                text
);

CREATE TABLE inspections (
  id            text PRIMARY KEY,               -- a UUID, chosen by the terminal or the server
  uscc          text NOT NULL REFERENCES entities (uscc),
  checklist     text REFERENCES checklists (id),
  kind          text NOT NULL CHECK (kind IN ('routine', 'double_random', 'special', 'task')),
  draw          text REFERENCES draws (id),
  task          text REFERENCES tasks (id),
  inspectors    text[] NOT NULL,
  lat           double precision,
  lon           double precision,
  grid          text,
  level1        text,
  branch        text,
  category      text,                           -- the entity's, when inspected
  answers       jsonb NOT NULL DEFAULT '{}',    -- {item code: {result, note}}
  signatures    jsonb NOT NULL DEFAULT '[]',    -- [{party, name, person?, sha256?, strokes_sha256?, refused?, witness?}]
  notes         text,
  result        text CHECK (result IN ('pass', 'fail', 'rectify')),
  failed_items  text[] NOT NULL DEFAULT '{}',
  rectify_by    date,
  started_at    timestamptz NOT NULL,
  created_by    text,
  receipt_token text UNIQUE,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  sealed_at     timestamptz,
  hash          text
);
CREATE INDEX inspections_uscc ON inspections (uscc, started_at DESC);
CREATE INDEX inspections_started ON inspections (started_at);
CREATE INDEX inspections_inspectors ON inspections USING gin (inspectors);
CREATE INDEX inspections_draw ON inspections (draw) WHERE draw IS NOT NULL;

CREATE TABLE complaints (
  id                    text PRIMARY KEY,
  query_code            text NOT NULL UNIQUE,
  channel               text NOT NULL CHECK (channel IN ('12315', '12365', '12331', 'wechat', 'web')),
  received_at           timestamptz NOT NULL,
  complainant_name      text NOT NULL,
  complainant_phone     text NOT NULL,
  complainant_id_number text,
  respondent_uscc       text REFERENCES entities (uscc),
  respondent_name       text,
  respondent_address    text,
  lat                   double precision,
  lon                   double precision,
  category              text NOT NULL REFERENCES complaint_categories (code),
  description           text NOT NULL,
  amount_yuan           numeric(14, 2),
  grid                  text,
  level1                text,
  branch                text,                   -- NULL: the command centre's queue
  handler               text,                   -- person id (the level-1 supervisor)
  state                 text NOT NULL,
  accept_by             date NOT NULL,
  mediate_by            date,
  provisional           text[] NOT NULL DEFAULT '{}',
  accepted_at           timestamptz,
  mediation_started_at  timestamptz,
  founded               boolean,
  outcome               text,
  reason                text,
  transferred_to        text,
  closed_at             timestamptz,
  created_by            text,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  sealed_at             timestamptz,
  hash                  text
);
CREATE INDEX complaints_received ON complaints (received_at);
CREATE INDEX complaints_branch_state ON complaints (branch, state);
CREATE INDEX complaints_uscc ON complaints (respondent_uscc) WHERE respondent_uscc IS NOT NULL;
CREATE INDEX complaints_phone ON complaints (complainant_phone, received_at);

CREATE TABLE cases (
  id          text PRIMARY KEY,
  source_type text NOT NULL CHECK (source_type IN ('inspection', 'task', 'complaint', 'clue')),
  source_id   text,
  uscc        text REFERENCES entities (uscc),
  summary     text NOT NULL,
  state       text NOT NULL,
  grid        text,
  level1      text,
  branch      text,
  category    text,
  opened_at   timestamptz NOT NULL,
  verified_at timestamptz,
  filed_at    timestamptz,
  decided_at  timestamptz,
  ended_at    timestamptz,
  document_no text,
  fine_yuan   numeric(14, 2),
  reason      text,
  created_by  text,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  sealed_at   timestamptz,
  hash        text
);
CREATE INDEX cases_uscc ON cases (uscc);
CREATE INDEX cases_opened ON cases (opened_at);

CREATE TRIGGER tasks_sealed BEFORE UPDATE OR DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION gw_refuse_sealed_change();
CREATE TRIGGER draws_sealed BEFORE UPDATE OR DELETE ON draws FOR EACH ROW EXECUTE FUNCTION gw_refuse_sealed_change();
CREATE TRIGGER inspections_sealed BEFORE UPDATE OR DELETE ON inspections FOR EACH ROW EXECUTE FUNCTION gw_refuse_sealed_change();
CREATE TRIGGER complaints_sealed BEFORE UPDATE OR DELETE ON complaints FOR EACH ROW EXECUTE FUNCTION gw_refuse_sealed_change();
CREATE TRIGGER cases_sealed BEFORE UPDATE OR DELETE ON cases FOR EACH ROW EXECUTE FUNCTION gw_refuse_sealed_change();
