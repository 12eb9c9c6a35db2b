"""The draws' store (tables `draws`, `draw_inputs`, `draw_commitments`, `conflicts`): gather the
population and risk from the register, make and store a draw, make its tasks, read, verify from
the database alone, publish (seal). The procedure itself is casework/draws.py.
No draw is ever deleted or changed in place: a redraw is a new draw naming the one it replaces.

A draw is stored in one transaction (picks, inputs, hashes, audit: the legal record), its one
task per pick in a second (`make_tasks`; `tasks_made_at` is NULL until then): 22,050 tasks with
their indexes and audit took longer than the whole draw (BENCHMARKS.md). The web process makes
them right after its answer; a draw whose tasks a crash left unmade is found by the dispatcher's
periodic pass (`make_pending`), and publishing a draw makes them first. The draw's row lock
makes sure they are made once."""
from __future__ import annotations

import functools
import hashlib
import secrets
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import numpy as np
import orjson

from alerts.errors import Conflict, Invalid, NotFound
from casework import audit, workdays
from casework import draws as D
from casework import tasks as T

RECORD = "draw"
TASK_CATEGORY = ("double_random", "双随机抽查", "双随机", 672,
                 "“双随机、一公开”抽查：按抽取结果对市场主体实施检查", ["双随机", "抽查"])
PUBLISH_WORKING_DAYS = 20
RISK_MONTHS = 12
COLUMNS = ("id, name, checklist, params, seed, seed_commitment, algorithm, population_size, population_hash, "
           "inspector_pool_size, inspectors_hash, inputs_hash, cap, risk_population, risk_picks, picks, replaces, "
           "reason, created_at, created_by, published_at, sealed_at, hash, tasks_made_at")
# a draw whose tasks are still to be made (sealed draws made theirs before they were published)
PENDING = "tasks_made_at IS NULL AND sealed_at IS NULL"
SEP = "\x1f"


def _cursor(conn):
    """A cursor reading JSON with orjson (a draw's picks are megabytes; the standard library's
    json takes several times as long), on this cursor only."""
    from psycopg.types.json import set_json_loads

    cur = conn.cursor()
    set_json_loads(orjson.loads, cur)
    return cur


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


# --- conflicts (the dataset's conflicts.csv) -------------------------------------------------

def sync_conflicts(cur, ds, actor: str) -> dict[str, int]:
    """The declared conflicts become the dataset's, with an audit entry per pair added or withdrawn."""
    rows = [(r.person, r.uscc, r.reason) for r in ds.conflicts.itertuples(index=False)]
    cur.execute("SELECT person, uscc, reason FROM conflicts")
    have = {(r["person"], r["uscc"]): r["reason"] for r in cur.fetchall()}
    want = {(p, u): why for p, u, why in rows}
    for (p, u), why in want.items():
        if have.get((p, u)) != why:
            cur.execute("INSERT INTO conflicts (person, uscc, reason) VALUES (%s, %s, %s) ON CONFLICT (person, uscc) "
                        "DO UPDATE SET reason = EXCLUDED.reason, loaded_at = now()", (p, u, why))
            audit.record(cur, actor=actor, record_type="conflict", record_id=f"{p}|{u}", action="declare",
                         before={"reason": have[(p, u)]} if (p, u) in have else None, after={"reason": why})
    for (p, u), why in have.items():
        if (p, u) not in want:
            cur.execute("DELETE FROM conflicts WHERE person = %s AND uscc = %s", (p, u))
            audit.record(cur, actor=actor, record_type="conflict", record_id=f"{p}|{u}", action="withdraw",
                         before={"reason": why})
    return {"conflicts": len(want)}


# --- gathering the lists -----------------------------------------------------------------------

# The risky USCCs (a failed inspection or a founded complaint in the 12 months before the draw):
# a few thousand, found through inspections_started and complaints_received, then marked in the
# sorted population in memory (no join of the whole population in PostgreSQL).
_RISKY = """
SELECT string_agg(uscc, ',') AS usccs FROM (
  SELECT uscc FROM inspections WHERE result = 'fail' AND started_at > %(since)s AND started_at <= %(now)s
  UNION
  SELECT respondent_uscc FROM complaints
   WHERE founded AND respondent_uscc IS NOT NULL AND received_at > %(since)s AND received_at <= %(now)s) r"""
_POPULATION = """
SELECT count(*) AS n, string_agg(e.uscc, ',') AS usccs, string_agg(coalesce(e.grid, ''), E'\\x1f') AS grids
  FROM entities e WHERE {where}"""
# the same in USCC order, for the index-only scan of entities_draw (migration 0011)
_POPULATION_ORDERED = """
SELECT count(*) AS n, string_agg(uscc, ',') AS usccs, string_agg(grid, E'\\x1f') AS grids
  FROM (SELECT e.uscc, coalesce(e.grid, '') AS grid FROM entities e WHERE {where} ORDER BY e.uscc) s"""
# the share of the register's pages all visible, which the index-only scan needs (else it reads
# the rows too, and PostgreSQL would rather sort: slower than numpy's sort here)
_VISIBLE = "SELECT relallvisible::float / greatest(relpages, 1) AS v FROM pg_class WHERE oid = 'entities'::regclass"
ORDERED_SCAN_VISIBLE = 0.9
# the population's categories a checklist does not cover (for a checklist that names some)
_OUTSIDE = ("SELECT DISTINCT coalesce(e.category, '') AS category FROM entities e "
            "WHERE {where} AND NOT coalesce(e.category = ANY(%(cover)s), false)")


def population(cur, *, categories=(), kinds=(), grids=(), now: datetime,
               cover: list[str] | None = None) -> tuple[tuple[list, list, list], set[str]]:
    """The active entities matching the filters (grids: level-1 or level-2 ids) as three columns
    sorted by USCC: USCCs, level-2 grids ("" for none), risky 0|1; and, when `cover` names
    categories (a checklist's), the population's categories outside them.
    PostgreSQL joins each column into one text (a 700,000-row fetch through the row machinery
    costs several times as much), in USCC order from the index entities_draw when the register's
    pages are all visible (after a load's VACUUM), else numpy orders them (PostgreSQL's sort of
    the texts, by the collation, took 0.9-1.6 s of 700,000 against numpy's 0.17-0.26 s); the
    core checks the order. A USCC is 18 ASCII characters (the register's CHECK), so 18-byte
    strings hold it whole."""
    where, args = ["e.active"], {"since": now - timedelta(days=365), "now": now}
    for col, vals in (("category", categories), ("kind", kinds)):
        if vals:
            where.append(f"e.{col} = ANY(%({col})s)")
            args[col] = list(vals)
    if grids:
        where.append("(e.grid = ANY(%(grids)s) OR e.level1 = ANY(%(grids)s))")
        args["grids"] = list(grids)
    # the texts in memory, not in files (the default work_mem is 4 MB)
    cur.execute("SET LOCAL work_mem = '256MB'")
    cur.execute(_VISIBLE)
    got = cur.fetchone()
    ordered = got is not None and (got["v"] or 0) >= ORDERED_SCAN_VISIBLE
    cur.execute((_POPULATION_ORDERED if ordered else _POPULATION).format(where=" AND ".join(where)), args)
    row = cur.fetchone()
    if not row["n"]:
        return ([], [], []), set()
    outside: set[str] = set()
    if cover:
        cur.execute(_OUTSIDE.format(where=" AND ".join(where)), {**args, "cover": list(cover)})
        outside = {r["category"] for r in cur.fetchall()}
    cur.execute(_RISKY, args)
    risky = [u for u in (cur.fetchone()["usccs"] or "").split(",") if u]
    usccs = np.array(row["usccs"].split(","), dtype=object)
    grids_col = np.array(row["grids"].split("\x1f"), dtype=object)
    codes = usccs.astype("S18")
    # in byte order (the core's order): as read when the collation agrees, else sorted here
    if len(codes) > 1 and not (codes[1:] > codes[:-1]).all():
        order = np.argsort(codes)                  # the codes are distinct (the primary key)
        codes, usccs, grids_col = codes[order], usccs[order], grids_col[order]
    # the risky ones marked by binary search in the sorted codes (a few thousand look-ups)
    flags = np.zeros(len(codes), dtype=np.int8)
    if risky:
        want = np.array(risky, dtype="S18")
        at = np.searchsorted(codes, want).clip(0, len(codes) - 1)
        flags[at[codes[at] == want]] = 1
    return (usccs.tolist(), grids_col.tolist(), flags.tolist()), outside


def check_filters(cur, *, categories=(), kinds=()) -> None:
    """An unknown category or kind (none in the register) is a 422 naming it."""
    for col, vals, fld in (("category", categories, "population.categories"), ("kind", kinds, "population.kinds")):
        if not vals:
            continue
        cur.execute(f"SELECT c FROM unnest(%s::text[]) c WHERE NOT EXISTS (SELECT 1 FROM entities WHERE {col} = c)",
                    (list(vals),))
        unknown = [r["c"] for r in cur.fetchall()]
        if unknown:
            raise Invalid(f"unknown {col} {', '.join(map(repr, unknown))}: no entity of the register has it",
                          field=fld, unknown=unknown)


def checklist_cover(cur, checklist: str) -> list[str]:
    """The categories the checklist applies to ([]: all); an unknown checklist is a 422."""
    cur.execute("SELECT id, categories FROM checklists WHERE id = %s", (checklist,))
    row = cur.fetchone()
    if row is None:
        raise Invalid(f"unknown checklist {checklist!r}", field="checklist")
    return list(row["categories"] or [])


def check_cover(checklist: str, cover: list[str], outside: set[str]) -> None:
    """The checklist applies to every category of the population."""
    if outside:
        raise Invalid(f"checklist {checklist} does not apply to the population's categories "
                      f"{', '.join(sorted(outside))} (it covers {', '.join(cover)})",
                      field="checklist", categories=sorted(outside))


def conflicts_of(cur) -> list[tuple[str, str]]:
    cur.execute("SELECT person, uscc FROM conflicts")
    return [(r["person"], r["uscc"]) for r in cur.fetchall()]


def ensure_task_category(cur) -> None:
    code, name, grp, hours, desc, kw = TASK_CATEGORY
    cur.execute("INSERT INTO task_categories (code, name, grp, hours, description, keywords) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (code) DO NOTHING", (code, name, grp, hours, desc, kw))


def publish_deadline(cur, created_at: datetime, tz: str | None = None) -> tuple[date, bool]:
    """The last day to publish a draw made at `created_at`: the 20th working day after its day in
    GRIDWATCH_TZ (not counted), by the State Council's schedule (casework/workdays.py: statutory
    holidays and adjusted working days); provisional when a day counted lies in a year with no
    schedule loaded (weekdays only there)."""
    from casework.complaints import local_day

    return workdays.deadline(cur, local_day(created_at, tz), PUBLISH_WORKING_DAYS)


def working_days_after(cal: workdays.Calendar, start: date, n: int) -> date:
    """The n-th working day after `start` (not counted) by the calendar `cal`."""
    return workdays.add_working_days(cal, start, n)[0]


def working_days_between(cal: workdays.Calendar, start: date, end: date) -> int:
    """Working days after `start` up to `end` (included) by `cal`; negative when `end` is before
    `start` (minus the working days after `end` up to `start`)."""
    if end < start:
        return -working_days_between(cal, end, start)
    n, d = 0, start
    while d < end:
        d += timedelta(days=1)
        n += cal.is_workday(d)
    return n


def calendar_between(cur, start: date, end: date) -> workdays.Calendar:
    """The stored calendar over the days from `start` to `end` (either order)."""
    a, b = min(start, end), max(start, end)
    return workdays.calendar_for(cur, a - timedelta(days=1), (b - a).days + 1)


# --- commitments -------------------------------------------------------------------------------

def commit(conn, actor: str) -> dict:
    """A seed chosen now and kept secret; its SHA-256 is shown at once, before any list is fixed,
    and the draw that uses it (once) reveals it."""
    seed = secrets.token_hex(16)
    cid = f"C{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(4)}"
    digest = hashlib.sha256(seed.encode()).hexdigest()
    with conn.transaction(), _cursor(conn) as cur:
        cur.execute("INSERT INTO draw_commitments (id, commitment, seed, created_by) VALUES (%s, %s, %s, %s) "
                    "RETURNING id, commitment, created_at", (cid, digest, seed, actor))
        row = cur.fetchone()
        audit.record(cur, actor=actor, record_type="draw_commitment", record_id=cid, action="commit",
                     after={"commitment": digest})
    return row


# --- making a draw -----------------------------------------------------------------------------

@functools.cache
def _packer() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="draw-inputs")


def create(conn, *, name: str, checklist: str, params: dict, spec: D.Spec, pool: list[D.Inspector],
           actor: str, account: str, seed: str | None = None, commitment: str | None = None,
           replaces: str | None = None, reason: str | None = None, now: datetime | None = None) -> dict:
    """Draw and store in one transaction: the draw, its inputs, every change audited; its tasks
    are `make_tasks`' (`tasks_made_at` NULL till then). Returns the draw row as stored.
    Any Invalid raised leaves nothing stored."""
    now = _now(now)
    pop_f = params.get("population") or {}
    # the garbage collector paused for the draw (no cycles are made): each collection walked its
    # 700,000-element lists, and building the picks triggered several (py-spy: 0.19 s of 1.5)
    with D.gc_paused(), conn.transaction(), _cursor(conn) as cur:
        if replaces is not None:
            if not (reason or "").strip():
                raise Invalid("a draw that replaces another says why", field="reason")
            cur.execute("SELECT id FROM draws WHERE id = %s", (replaces,))
            if cur.fetchone() is None:
                raise Invalid(f"no draw {replaces} to replace", field="replaces")
            cur.execute("SELECT id FROM draws WHERE replaces = %s", (replaces,))
            other = cur.fetchone()
            if other is not None:
                raise Conflict(f"draw {replaces} is already replaced by {other['id']}",
                               reason="a draw is replaced once; replace the newer one", replaced_by=other["id"])
        check_filters(cur, categories=pop_f.get("categories") or (), kinds=pop_f.get("kinds") or ())
        seed_commitment = None
        if commitment is not None:
            if seed is not None:
                raise Invalid("a committed draw takes its seed from the commitment", field="seed")
            cur.execute("SELECT seed, commitment, used_by FROM draw_commitments WHERE id = %s FOR UPDATE", (commitment,))
            c = cur.fetchone()
            if c is None:
                raise Invalid(f"no commitment {commitment}", field="commitment")
            if c["used_by"] is not None:
                raise Conflict(f"commitment {commitment} was used by draw {c['used_by']}",
                               reason="a committed seed draws once")
            seed, seed_commitment = c["seed"], c["commitment"]
        if seed is None:
            seed = secrets.token_hex(16)
        cover = checklist_cover(cur, checklist)
        ents, outside = population(cur, categories=pop_f.get("categories") or (), kinds=pop_f.get("kinds") or (),
                                   grids=pop_f.get("grids") or (), now=now, cover=cover)
        if not ents[0]:
            raise Invalid("no active entity matches the population's filters", field="population")
        check_cover(checklist, cover, outside)
        res = D.draw_inputs(seed, spec, D.columns_document(*ents, pool, conflicts_of(cur)))
        draw_id = f"D{now:%Y%m%d}-{secrets.token_hex(4)}"
        # the inputs compressed beside the statements below (zlib lets go of the GIL): 0.13 s
        packed = _packer().submit(zlib.compress, res.inputs_json, 1)
        # each pick's task id, 40 random bits as secrets.token_hex(5) gives, drawn at once
        rnd, day = secrets.token_bytes(5 * len(res.picks)).hex(), f"T{now:%Y%m%d}-"
        picks = [{"uscc": p["uscc"], "inspectors": p["inspectors"], "risky": p["risky"],
                  "task": day + rnd[10 * k:10 * k + 10]} for k, p in enumerate(res.picks)]
        row = {"id": draw_id, "name": name, "checklist": checklist, "params": None,
               "seed": seed, "seed_commitment": seed_commitment, "algorithm": D.ALGORITHM,
               "population_size": res.population_size, "population_hash": res.population_hash,
               "inspector_pool_size": res.inspector_pool_size, "inspectors_hash": res.inspectors_hash,
               "inputs_hash": res.inputs_hash, "cap": res.cap, "risk_population": res.risk_population,
               "risk_picks": res.risk_picks, "picks": None, "replaces": replaces, "reason": reason,
               "created_at": now, "created_by": actor, "updated_at": now, "tasks_made_at": None}
        cols = list(row)
        vals = ["%s::jsonb" if c in ("params", "picks") else "%s" for c in cols]
        args = [orjson.dumps(params).decode() if c == "params" else orjson.dumps(picks).decode() if c == "picks"
                else row[c] for c in cols]
        cur.execute(f"INSERT INTO draws ({', '.join(cols)}) VALUES ({', '.join(vals)})", args)
        cur.execute("INSERT INTO draw_inputs (draw, inputs_hash, inputs) VALUES (%s, %s, %b)",
                    (draw_id, res.inputs_hash, packed.result()))
        if commitment is not None:
            cur.execute("UPDATE draw_commitments SET used_by = %s WHERE id = %s", (draw_id, commitment))
        summary = {k: row[k] for k in ("name", "checklist", "seed", "seed_commitment", "population_size",
                                       "population_hash", "inspector_pool_size", "inspectors_hash", "inputs_hash",
                                       "risk_population", "risk_picks", "replaces", "reason")}
        audit.record(cur, actor=actor, record_type=RECORD, record_id=draw_id, action="create",
                     after={**summary, "params": params, "picks": len(picks)})
        if replaces is not None:
            audit.record(cur, actor=actor, record_type=RECORD, record_id=replaces, action="replaced",
                         after={"replaced_by": draw_id}, note=reason)
    # the row as stored, without reading its megabytes of picks back
    stored = {**row, "params": params, "picks": picks, "published_at": None, "sealed_at": None, "hash": None}
    return {c: stored[c] for c in COLUMNS.split(", ")}


# --- making a draw's tasks -----------------------------------------------------------------------

def make_tasks(conn, draw_id: str, *, picks: list[dict] | None = None, skip_locked: bool = False,
               now: datetime | None = None) -> list[dict] | None:
    """The draw's tasks, one per pick, in a transaction of their own (their audit entries with
    them), and then, for a redraw, the replaced draw's open tasks withdrawn. `picks` (as
    `create` returned them) spares reading them back. Returns the tasks made: [] when they were
    made already, None when `skip_locked` and another process holds the draw."""
    with conn.transaction(), _cursor(conn) as cur:
        return _make_pending(cur, draw_id, picks, skip_locked, _now(now))


def _make_pending(cur, draw_id: str, picks: list[dict] | None, skip_locked: bool, now: datetime) -> list[dict] | None:
    cur.execute("SELECT id, name, checklist, created_at, created_by, replaces, tasks_made_at, sealed_at "
                f"FROM draws WHERE id = %s FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}", (draw_id,))
    d = cur.fetchone()
    if d is None:
        if skip_locked:
            return None
        raise NotFound(f"no draw {draw_id}", draw=draw_id)
    if d["tasks_made_at"] is not None or d["sealed_at"] is not None:
        return []
    if d["replaces"] is not None:
        # the replaced draw's own tasks first, so that its open ones are withdrawn below
        _make_pending(cur, d["replaces"], None, False, now)
    if picks is None:
        cur.execute("SELECT picks FROM draws WHERE id = %s", (draw_id,))
        picks = cur.fetchone()["picks"]
    actor = d["created_by"] or "system:draws"
    account = actor.split(":", 1)[1] if actor.startswith("user:") else actor
    tasks = _make_tasks(cur, draw_id, d["name"], d["checklist"], picks, account, actor, d["created_at"], now)
    if d["replaces"] is not None:
        withdraw_tasks(cur, d["replaces"], draw_id, now)
    cur.execute("UPDATE draws SET tasks_made_at = %s WHERE id = %s", (now, draw_id))
    return tasks


def pending(conn, *, older_than_s: float = 0.0, limit: int = 10) -> list[str]:
    """The draws whose tasks are still to be made, oldest first."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT id FROM draws WHERE {PENDING} AND created_at <= now() - make_interval(secs => %s) "
                    "ORDER BY created_at LIMIT %s", (older_than_s, limit))
        ids = [r["id"] for r in cur.fetchall()]
    conn.commit()
    return ids


# One statement makes the draw's tasks, their audit entries and returns them: the entities are
# looked up by key, one index probe per pick (PostgreSQL otherwise hashes the whole register
# for 3 % of it: measured twice as long), the picks sorted by USCC for the index's locality.
_MAKE_TASKS = """
WITH made AS (
  INSERT INTO tasks (id, category, description, address, lat, lon, uscc, grid, level1, branch, source,
                     reporter_account, assignee, state, reported_at, deadline, draw, team, checklist, updated_at)
  SELECT p.tid, %(cat)s, %(name)s || '：' || e.name, e.address, coalesce(e.lat, 0), coalesce(e.lon, 0),
         e.uscc, e.grid, e.level1, e.branch, 'draw', %(account)s, split_part(p.team, %(sep)s, 1), 'assigned',
         %(drawn)s, %(deadline)s, %(draw)s, string_to_array(p.team, %(sep)s), %(checklist)s, %(now)s
    FROM unnest(%(tids)s::text[], %(usccs)s::text[], %(teams)s::text[]) AS p(tid, uscc, team)
    JOIN entities e ON e.uscc = p.uscc
  RETURNING id, category, lat, lon, grid, deadline, uscc, assignee, team, address, checklist, state, draw),
audited AS (
  INSERT INTO audit (actor, record_type, record_id, action, after)
  SELECT %(actor)s, 'task', id, 'draw', jsonb_build_object('draw', draw, 'uscc', uscc, 'state', state,
         'assignee', assignee, 'team', team, 'checklist', checklist, 'deadline', deadline) FROM made)
SELECT id, category, lat, lon, grid, deadline, uscc, assignee, team, address, checklist FROM made ORDER BY id"""


def _make_tasks(cur, draw_id: str, name: str, checklist: str, picks: list[dict], account: str,
                actor: str, drawn: datetime, now: datetime) -> list[dict]:
    """One task per pick (its first inspector the assignee, the team on the task) and one audit
    entry per task (action `draw`), in one statement of the caller's transaction; reported and
    counted from the draw's time `drawn`, written `now`. (COPY of rows
    built in Python was tried and measured slower: 2.9 s against 2.1-2.5 s, the per-row index and
    foreign-key work being the same.)"""
    ensure_task_category(cur)
    cur.execute("SELECT hours FROM task_categories WHERE code = %s", (TASK_CATEGORY[0],))
    deadline = drawn + timedelta(hours=cur.fetchone()["hours"])
    by_uscc = sorted(picks, key=lambda p: p["uscc"])
    cur.execute("SET LOCAL enable_hashjoin = off")
    cur.execute("SET LOCAL enable_mergejoin = off")
    cur.execute(_MAKE_TASKS, {
        "cat": TASK_CATEGORY[0], "name": name, "account": account, "sep": SEP, "drawn": drawn, "now": now, "deadline": deadline,
        "draw": draw_id, "checklist": checklist, "actor": actor, "tids": [p["task"] for p in by_uscc],
        "usccs": [p["uscc"] for p in by_uscc], "teams": [SEP.join(p["inspectors"]) for p in by_uscc]})
    tasks = list(cur.fetchall())
    cur.execute("RESET enable_hashjoin")
    cur.execute("RESET enable_mergejoin")
    return tasks


# The replaced draw's tasks not yet handled, withdrawn in one statement with an audit entry each
# (the platform's `withdraw` step of casework/tasks.py; handled and later ones keep their work).
_WITHDRAW = """
WITH old AS (
  SELECT id, state, reason FROM tasks WHERE draw = %(old)s AND state = ANY(%(sources)s) AND sealed_at IS NULL
   FOR UPDATE),
gone AS (
  UPDATE tasks t SET state = %(target)s, reason = %(reason)s, updated_at = %(now)s FROM old WHERE t.id = old.id
  RETURNING t.id, old.state AS was, old.reason AS was_reason)
INSERT INTO audit (at, actor, record_type, record_id, action, before, after, note)
SELECT %(now)s, %(actor)s, 'task', id, 'withdraw', jsonb_build_object('state', was, 'reason', was_reason),
       jsonb_build_object('state', %(target)s::text, 'reason', %(reason)s::text, 'replaced_by', %(new)s::text), %(note)s
  FROM gone RETURNING record_id"""


def withdraw_tasks(cur, replaced: str, by: str, now: datetime) -> list[str]:
    """The replaced draw's open tasks (not yet handled) become `rejected` with the reason
    `replaced`, each audited with the note "replaced by draw <by>", so the inspectors do not
    check for both draws. Returns their ids."""
    step = T.TRANSITIONS["withdraw"]
    cur.execute(_WITHDRAW, {"old": replaced, "sources": sorted(step.sources), "target": step.target,
                            "reason": T.WITHDRAWN_REASON, "now": now, "actor": "system:draws", "new": by,
                            "note": f"replaced by draw {by}"})
    return [r["record_id"] for r in cur.fetchall()]


def queue_downlinks(r, root: str, tasks: list[dict], device_of) -> int:
    """Each task to the devices of its team (the assignee first), with the marker that says its
    assignee's was queued (casework/task_delivery.py, whose repair would send it again
    otherwise), in one Redis transaction after the tasks committed (the dispatcher publishes
    them at QoS 1). `device_of(person)` -> device or None. Returns the messages queued."""
    from alerts import outbox
    from casework.task_delivery import SENT_KEY, SENT_TTL_S, draw_downlink

    n = 0
    with r.pipeline(transaction=True) as p:
        for task in tasks:
            title = f"{TASK_CATEGORY[1]}: {task.get('address') or task['uscc']}"
            for pid in task["team"]:
                device = device_of(pid)
                if not device:
                    continue
                outbox.queue(p, root, device, "orders", draw_downlink(task, title), order=f"task:{task['id']}")
                n += 1
                if pid == task["assignee"]:
                    p.set(SENT_KEY + task["id"], pid, ex=SENT_TTL_S)
        p.execute()
    return n


def make_pending(conn, r, root: str, device_of, *, older_than_s: float = 30.0) -> list[str]:
    """The dispatcher's repair: the tasks of each draw left without them for `older_than_s`
    (the web process died, or its database went away, between the draw and its tasks), made
    now and sent. A draw another process is making them for is skipped. Returns the draws."""
    done = []
    for draw_id in pending(conn, older_than_s=older_than_s):
        tasks = make_tasks(conn, draw_id, skip_locked=True)
        if tasks:
            queue_downlinks(r, root, tasks, device_of)
            done.append(draw_id)
    return done


# --- reading -----------------------------------------------------------------------------------

def _one(cur, draw_id: str) -> dict:
    cur.execute(f"SELECT {COLUMNS} FROM draws WHERE id = %s", (draw_id,))
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"no draw {draw_id}", draw=draw_id)
    return row


def get(conn, draw_id: str, *, with_progress: bool = True, tz: str | None = None) -> dict:
    """One draw with, per pick, its task's state and its inspection (id, result, sealed_at), the
    draws it replaces and is replaced by, and its publication limit (`publish_by`, with
    `publish_by_provisional` when counted through a year with no schedule loaded)."""
    with _cursor(conn) as cur:
        row = _one(cur, draw_id)
        cur.execute("SELECT id FROM draws WHERE replaces = %s", (draw_id,))
        nxt = cur.fetchone()
        row["replaced_by"] = nxt["id"] if nxt else None
        if with_progress:
            cur.execute("SELECT DISTINCT ON (uscc) uscc, id, result, sealed_at FROM inspections WHERE draw = %s "
                        "ORDER BY uscc, sealed_at IS NULL, sealed_at DESC, started_at DESC", (draw_id,))
            insp = {r["uscc"]: r for r in cur.fetchall()}
            cur.execute("SELECT id, state FROM tasks WHERE draw = %s", (draw_id,))
            state = {r["id"]: r["state"] for r in cur.fetchall()}
            for p in row["picks"]:
                i = insp.get(p["uscc"])
                p["inspection"] = i["id"] if i else None
                p["result"] = i["result"] if i else None
                p["inspected_at"] = i["sealed_at"] if i else None
                p["task_state"] = state.get(p.get("task"))
        row["publish_by"], row["publish_by_provisional"] = publish_deadline(cur, row["created_at"], tz)
    row["tasks_pending"] = _is_pending(row)
    return row


def _is_pending(row: dict) -> bool:
    return row.get("tasks_made_at") is None and row.get("sealed_at") is None


def as_read(conn, row: dict, tz: str | None = None) -> dict:
    """A draw just made (create's row) as `get(..., with_progress=False)` reads it back."""
    with _cursor(conn) as cur:
        by, provisional = publish_deadline(cur, row["created_at"], tz)
    return {**row, "replaced_by": None, "publish_by": by, "publish_by_provisional": provisional,
            "tasks_pending": _is_pending(row)}


def list_draws(conn, limit: int = 200) -> list[dict]:
    with _cursor(conn) as cur:
        cur.execute("SELECT d.id, d.name, d.checklist, d.seed, d.seed_commitment, d.population_size, "
                    "d.population_hash, d.inspector_pool_size, d.inspectors_hash, d.risk_population, d.risk_picks, "
                    "jsonb_array_length(d.picks) AS count, d.replaces, d.reason, d.created_at, d.created_by, "
                    f"d.published_at, d.hash, d.tasks_made_at, ({PENDING}) AS tasks_pending, "
                    "(SELECT n.id FROM draws n WHERE n.replaces = d.id) AS replaced_by "
                    "FROM draws d ORDER BY d.created_at DESC, d.id LIMIT %s", (limit,))
        return list(cur.fetchall())


def inputs_bytes(conn, draw_id: str) -> bytes:
    """The draw's inputs document, byte for byte what inputs_hash is the SHA-256 of."""
    with _cursor(conn) as cur:
        cur.execute("SELECT 1 FROM draws WHERE id = %s", (draw_id,))
        if cur.fetchone() is None:
            raise NotFound(f"no draw {draw_id}", draw=draw_id)
        cur.execute("SELECT inputs FROM draw_inputs WHERE draw = %s", (draw_id,))
        got = cur.fetchone()
    if got is None:
        raise NotFound(f"draw {draw_id} has no stored inputs", draw=draw_id)
    return zlib.decompress(got["inputs"])


def spec_of(params: dict) -> D.Spec:
    ratio = params.get("ratio")
    return D.Spec(per_entity=int(params.get("per_entity", D.MIN_PER_ENTITY)),
                  ratio=D.parse_ratio(ratio) if ratio is not None else None, count=params.get("count"))


def verify(conn, draw_id: str) -> dict:
    """Redoes the draw from what the database holds: the stored inputs (checked against their
    hash), the seed (against its commitment), the parameters; compares the picks."""
    with _cursor(conn) as cur:
        row = _one(cur, draw_id)
    raw = inputs_bytes(conn, draw_id)
    problems = []
    got_hash = hashlib.sha256(raw).hexdigest()
    if got_hash != row["inputs_hash"]:
        problems.append("the stored inputs no longer match inputs_hash")
    if row["seed_commitment"] and hashlib.sha256(row["seed"].encode()).hexdigest() != row["seed_commitment"]:
        problems.append("the seed does not match its commitment")
    try:
        with D.gc_paused():       # the 700,000-row document parsed and drawn again
            res = D.draw_inputs(row["seed"], spec_of(row["params"]), orjson.loads(raw))
    except Invalid as exc:
        return {"match": False, "id": draw_id, "problems": problems + [f"the draw cannot be redone: {exc.message}"]}
    for name in ("population_hash", "inspectors_hash", "population_size", "inspector_pool_size",
                 "risk_population", "risk_picks", "cap"):
        if getattr(res, name) != row[name]:
            problems.append(f"{name}: stored {row[name]}, recomputed {getattr(res, name)}")
    stored = [(p["uscc"], p["inspectors"]) for p in row["picks"]]
    again = [(p["uscc"], p["inspectors"]) for p in res.picks]
    differ = [a[0] for a, b in zip(stored, again) if a != b] + [p[0] for p in stored[len(again):]] \
        + [p[0] for p in again[len(stored):]]
    if differ:
        problems.append(f"{len(differ)} picks differ, first {differ[0]}")
    return {"match": not problems, "id": draw_id, "algorithm": D.ALGORITHM_ID, "picks": len(again),
            "inputs_hash": got_hash, "population_hash": res.population_hash, "inspectors_hash": res.inspectors_hash,
            "problems": problems}


def publish(conn, draw_id: str, actor: str, now: datetime | None = None) -> dict:
    """Publishes and seals the draw (CONTRACT.md section 7): it never changes again (409)."""
    from casework.seal import seal

    now = _now(now)
    with conn.transaction(), _cursor(conn) as cur:
        cur.execute("SELECT id, published_at, sealed_at FROM draws WHERE id = %s FOR UPDATE", (draw_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no draw {draw_id}", draw=draw_id)
        if row["sealed_at"] is not None:
            raise Conflict(f"draw {draw_id} is published and sealed", reason="a published draw never changes")
        # its tasks, if they are still to be made (sent by the dispatcher's repair: no marker)
        _make_pending(cur, draw_id, None, False, now)
        cur.execute("UPDATE draws SET published_at = %s, updated_at = %s WHERE id = %s", (now, now, draw_id))
        s = seal(cur, RECORD, draw_id)
        audit.record(cur, actor=actor, record_type=RECORD, record_id=draw_id, action="publish",
                     before={"published_at": None}, after={"published_at": now, "hash": s["hash"], "seq": s["seq"]})
    return get(conn, draw_id)
