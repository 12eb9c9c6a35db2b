"""The complaints' store (table `complaints`): intake with routing and working-day deadlines,
the national platform's hand-ons imported whole or not at all, an action under the row lock
with its audit entry (closing seals), reading with the caller's visibility and the masking of
the complainant's data, and the citizen's public query. Decisions come from casework/complaints.py.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from alerts.errors import Conflict, Invalid, NotFound
from casework import audit, workdays
from casework import complaints as C

RECORD = "complaint"
STAFF = ("viewer", "coordinator", "admin", "supervisor")
MAX_LIMIT = 1000
COLUMNS = ("id, query_code, channel, received_at, complainant_name, complainant_phone, complainant_id_number, "
           "respondent_uscc, respondent_name, respondent_address, lat, lon, category, description, amount_yuan, "
           "grid, level1, branch, handler, state, accept_by, mediate_by, provisional, accepted_at, "
           "mediation_started_at, founded, outcome, terms, reason, transferred_to, closed_at, created_by, updated_at, "
           "sealed_at, hash")
# What leaves the server towards the citizen: never the complainant's data (read only to mask
# them in the agreement's terms, then dropped: _public_answer).
_PUBLIC_COLUMNS = ("query_code, state, received_at, accept_by, mediate_by, provisional, accepted_at, "
                   "mediation_started_at, closed_at, branch, outcome, terms, transferred_to, "
                   "complainant_name, complainant_phone, complainant_id_number")
PUBLIC = f"SELECT {_PUBLIC_COLUMNS}, right(complainant_phone, 4) = %s AS phone_ok FROM complaints WHERE query_code = %s"
# The same for many lookups in one statement (the web's fast path batches concurrent queries):
# one row per lookup found, `i` its place in the arrays.
PUBLIC_MANY = (f"SELECT q.i, {_PUBLIC_COLUMNS}, right(complainant_phone, 4) = q.last4 AS phone_ok "
               "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS q(last4, code, i) "
               "JOIN complaints ON query_code = q.code")


@dataclass(frozen=True)
class Viewer:
    """Who is asking: account, role, person; a supervisor's branches (his grids') and the
    branches where he is a level-1 supervisor (he handles their complaints)."""

    account: str
    role: str
    person: str | None = None
    branches: tuple[str, ...] = ()
    l1_branches: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        return f"user:{self.account}"

    def held(self, branch: str | None) -> frozenset[str]:
        return C.capacities(self.role, self.person, branch, lambda b: {self.person} if b in self.l1_branches else set())

    def sees(self, row: dict) -> bool:
        # the staff read every complaint (the complainant masked unless they handle it)
        return self.role in STAFF

    def unmasked(self, row: dict) -> bool:
        return bool(self.held(row.get("branch")))


def _now(now):
    return now or datetime.now(timezone.utc)


def categories(cur) -> list[dict]:
    cur.execute("SELECT code, name FROM complaint_categories ORDER BY code")
    return list(cur.fetchall())


def _check_category(cur, code: str, field: str = "category") -> None:
    cur.execute("SELECT 1 FROM complaint_categories WHERE code = %s", (code,))
    if cur.fetchone() is None:
        cur.execute("SELECT code FROM complaint_categories ORDER BY code")
        raise Invalid(f"unknown category {code!r}", field=field, allowed=[r["code"] for r in cur.fetchall()])


def _insert(cur, intake: C.Intake, *, placer, actor: str, now: datetime, tz: str | None, field_prefix: str = "",
            foreign_ok: bool = False) -> dict:
    """`foreign_ok` (imports): a USCC the register does not hold is not an error; the hand-on is
    kept with that USCC as the respondent's name (unless it has one) and placed by its point,
    else the command centre's queue."""
    _check_category(cur, intake.category, field_prefix + "category")
    entity = None
    note = ""
    if intake.respondent.uscc:
        cur.execute("SELECT uscc, name, address, lat, lon, grid, level1, branch FROM entities WHERE uscc = %s",
                    (intake.respondent.uscc,))
        entity = cur.fetchone()
        if entity is None and not foreign_ok:
            raise Invalid(f"no entity {intake.respondent.uscc} in the register", field=field_prefix + "respondent.uscc")
        if entity is None:
            r0 = intake.respondent
            note = f"; uscc {r0.uscc} is not in the register"
            intake = intake.model_copy(update={"respondent": r0.model_copy(update={
                "uscc": None, "name": r0.name or r0.uscc, "address": r0.address or ""})})
    if intake.media:
        cur.execute("SELECT sha256 FROM media WHERE sha256 = ANY(%s)", (intake.media,))
        have = {r["sha256"] for r in cur.fetchall()}
        missing = [s for s in intake.media if s not in have]
        if missing:
            raise Invalid(f"no uploaded file {missing[0]}", field=field_prefix + "media")
    p: C.Placement = placer(intake.respondent, entity)
    received = intake.received_at or now
    if received > now:
        raise Invalid("received_at lies in the future", field=field_prefix + "received_at")
    accept_by, prov = workdays.deadline(cur, C.local_day(received, tz), C.ACCEPT_DAYS)
    cid = f"P-{intake.platform_id}" if intake.platform_id else f"C{received.astimezone(timezone.utc):%Y%m%d}-{C.new_query_code()[:8]}"
    r = intake.respondent
    row = {"id": cid, "query_code": C.new_query_code(), "channel": intake.channel, "received_at": received,
           "complainant_name": intake.complainant.name, "complainant_phone": intake.complainant.phone,
           "complainant_id_number": intake.complainant.id_number,
           "respondent_uscc": r.uscc, "respondent_name": (entity or {}).get("name") or r.name,
           "respondent_address": (entity or {}).get("address") or r.address,
           "lat": (entity or {}).get("lat") if entity else r.lat, "lon": (entity or {}).get("lon") if entity else r.lon,
           "category": intake.category, "description": intake.description, "amount_yuan": intake.amount_yuan,
           "grid": p.grid, "level1": p.level1, "branch": p.branch, "handler": p.handler, "state": C.RECEIVED,
           "accept_by": accept_by, "provisional": ["accept_by"] if prov else [], "created_by": actor}
    cur.execute(f"INSERT INTO complaints ({', '.join(row)}, updated_at) VALUES ({', '.join('%s' for _ in row)}, %s) "
                f"ON CONFLICT (id) DO NOTHING", (*row.values(), now))
    if cur.rowcount == 0:
        return {}
    audit.record(cur, actor=actor, record_type=RECORD, record_id=cid, action="receive", after=row,
                 note=f"routed by {p.how}" + ("" if p.branch else ": the command centre's queue") + note)
    for sha in intake.media:
        cur.execute("INSERT INTO record_media (record_type, record_id, sha256, added_by) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING", (RECORD, cid, sha, actor))
    cur.execute(f"SELECT {COLUMNS} FROM complaints WHERE id = %s", (cid,))
    return cur.fetchone()


def create(conn, intake: C.Intake, *, placer, actor: str, now: datetime | None = None, tz: str | None = None) -> dict:
    """Files and routes one complaint in one transaction. `placer(respondent, entity) ->
    complaints.Placement`."""
    now = _now(now)
    with conn.transaction(), conn.cursor() as cur:
        row = _insert(cur, intake, placer=placer, actor=actor, now=now, tz=tz)
        if not row:
            raise Conflict(f"complaint P-{intake.platform_id} is already filed", reason="the platform's number is taken")
        return row


# --- import of the national platform's hand-ons --------------------------------------------------

def _rows_of(path: Path) -> list[dict]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"{path}: cannot be read as UTF-8 ({type(exc).__name__})", field="file", file=str(path)) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise Invalid(f"{path}: not JSON ({exc})", field="file", file=str(path)) from None
        if isinstance(data, dict):
            data = data.get("complaints")
        if not isinstance(data, list):
            raise Invalid(f"{path}: a JSON list of complaints (or {{\"complaints\": [...]}})", field="file", file=str(path))
        return data
    out = []
    for rec in csv.DictReader(text.splitlines()):
        nested = {"complainant": {}, "respondent": {}}
        for k, v in rec.items():
            if k is None:
                raise Invalid(f"{path}: a row has more fields than the header", field="file", file=str(path))
            v = (v or "").strip()
            if v == "":
                continue
            head, _, tail = k.strip().partition("_")
            if head in ("complainant", "respondent") and tail:
                nested[head][tail] = float(v) if tail in ("lat", "lon") and _num(v) else v
            else:
                nested[k.strip()] = v
        out.append(nested)
    return out


def _num(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def import_file(conn, path: Path, *, placer, actor: str, tz: str, now: datetime | None = None) -> dict:
    """A file of hand-ons (CSV with complainant_name, complainant_phone, respondent_uscc ...
    columns, or JSON objects shaped like POST /api/complaints; `received_at` required and kept;
    `platform_id` optional: the platform's number, so a second import skips what is there).
    Refused whole, naming file, row and rule; else all rows in one transaction. `tz`: the
    bureau's (settings `tz`): the day of receipt the deadlines count from is its day."""
    now = _now(now)
    rows = _rows_of(path)
    parsed = []
    for i, raw in enumerate(rows, start=2 if Path(path).suffix.lower() != ".json" else 1):
        where = f"{path}, row {i}" if Path(path).suffix.lower() != ".json" else f"{path}, item {i}"
        try:
            intake = C.parse_intake(raw)
            if intake.received_at is None:
                raise Invalid("received_at: the platform's time of receipt is required", field="received_at")
        except Invalid as exc:
            raise Invalid(f"{where}: {exc.message}", field=exc.detail.get("field"), file=str(path), row=i,
                          rule=exc.message) from None
        parsed.append((i, where, intake))
    out = {"imported": 0, "already": 0}
    with conn.transaction(), conn.cursor() as cur:
        for i, where, intake in parsed:
            try:
                row = _insert(cur, intake, placer=placer, actor=actor, now=now, tz=tz, foreign_ok=True)
            except Invalid as exc:
                raise Invalid(f"{where}: {exc.message}", field=exc.detail.get("field"), file=str(path), row=i,
                              rule=exc.message) from None
            out["imported" if row else "already"] += 1
    return out


# --- actions -------------------------------------------------------------------------------------

def _lock(cur, cid: str) -> dict:
    cur.execute(f"SELECT {COLUMNS} FROM complaints WHERE id = %s FOR UPDATE", (cid,))
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"no complaint {cid}", complaint=cid)
    return row


def act(conn, cid: str, action: str, viewer: Viewer, *, reason: str | None = None, terms: str | None = None,
        to: str | None = None, case: bool = False, founded: bool | None = None, note: str | None = None,
        make_task=None, now: datetime | None = None, tz: str | None = None) -> dict:
    """One action under the row's lock, audited in the same transaction. `transfer` with
    `case` opens a case; `task` files an on-site check through `make_task(conn, complaint)` ->
    task id (a task_store.create in this transaction); `close` seals. A caller who may not see
    the complaint gets 404."""
    now = _now(now)
    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, cid)
        if not viewer.sees(row):
            raise NotFound(f"no complaint {cid}", complaint=cid)
        if row["sealed_at"] is not None:
            raise Conflict(f"complaint {cid} is sealed", reason="a closed complaint never changes")
        target = C.decide(row["state"], action, viewer.held(row["branch"]), reason=reason, terms=terms, to=to, case=case)
        change: dict = {"state": target}
        extra: dict = {}
        if action == "accept":
            mediate_by, prov = workdays.deadline(cur, C.local_day(now, tz), C.MEDIATE_DAYS)
            keep = [p for p in row["provisional"] if p != "mediate_by"]
            change.update(accepted_at=now, mediate_by=mediate_by,
                          provisional=sorted(set(keep) | ({"mediate_by"} if prov else set())))
        elif action == "refuse":
            change.update(reason=reason.strip(), founded=False, closed_at=None)
        elif action == "mediate":
            change["mediation_started_at"] = now
        elif action in ("agree", "fail"):
            change["outcome"] = "agreed" if action == "agree" else "failed"
            if action == "agree":
                change["terms"] = terms.strip()
            change["founded"] = True if founded is None and action == "agree" else founded
        elif action == "transfer":
            change["transferred_to"] = (to or "").strip() or "立案调查"
        elif action == "close":
            change["closed_at"] = now
            if founded is not None:
                change["founded"] = founded
        if action == "task":
            if make_task is None:
                raise Invalid("on-site checks are not available here", field="action")
            task_id = make_task(conn, row)
            extra["task"] = task_id
            change = {}
        if action == "transfer" and case:
            from casework import cases

            k = cases.create(cur, source_type="complaint", source_id=cid, uscc=row["respondent_uscc"],
                             summary=(note or "").strip() or f"投诉转立案：{row['respondent_name'] or ''}（{row['category']}）",
                             actor=viewer.actor, now=now)
            extra["case"] = k["id"]
        before, after = audit.changed(row, change)
        if change:
            sets = ", ".join(f"{k} = %s" for k in change)
            cur.execute(f"UPDATE complaints SET {sets}, updated_at = %s WHERE id = %s", (*change.values(), now, cid))
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=cid, action=action,
                     before=before or None, after={**after, **extra},
                     note="；".join(x for x in (terms, reason, note) if x) or None)
        if target == C.CLOSED:
            from casework.seal import seal

            s = seal(cur, RECORD, cid)
            audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=cid, action="seal",
                         after={"hash": s["hash"], "seq": s["seq"]})
        cur.execute(f"SELECT {COLUMNS} FROM complaints WHERE id = %s", (cid,))
        return {**cur.fetchone(), **extra}


# --- reading -------------------------------------------------------------------------------------

def present(row: dict, viewer: Viewer) -> dict:
    """The complaint as this caller may see it: the complainant masked unless he handles it;
    the audit trail's before/after and notes masked alike."""
    if viewer.unmasked(row):
        return row
    out = C.masked(row)
    if "history" in row:
        out["history"] = [{**h, "before": C.masked(h["before"], row) if h.get("before") else h.get("before"),
                           "after": C.masked(h["after"], row) if h.get("after") else h.get("after"),
                           "note": C.scrub(h.get("note"), row)} for h in row["history"]]
    return out


def overdue(row: dict, today) -> list[str]:
    out = []
    if row["state"] == C.RECEIVED and row["accept_by"] < today:
        out.append("accept_by")
    if row["state"] in (C.ACCEPTED, C.MEDIATING) and row["mediate_by"] and row["mediate_by"] < today:
        out.append("mediate_by")
    return out


def get(conn, cid: str, viewer: Viewer) -> dict:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM complaints WHERE id = %s", (cid,))
        row = cur.fetchone()
        if row is None or not viewer.sees(row):
            raise NotFound(f"no complaint {cid}", complaint=cid)
        cur.execute("SELECT sha256 FROM record_media WHERE record_type = %s AND record_id = %s ORDER BY sha256",
                    (RECORD, cid))
        media = [r["sha256"] for r in cur.fetchall()]
        cur.execute("SELECT id, state FROM cases WHERE source_type = 'complaint' AND source_id = %s", (cid,))
        cases = list(cur.fetchall())
        cur.execute("SELECT id, state FROM tasks WHERE id IN (SELECT after->>'task' FROM audit WHERE "
                    "record_type = %s AND record_id = %s AND action = 'task')", (RECORD, cid))
        tasks = list(cur.fetchall())
        history = audit.trail(cur, RECORD, cid)
    return present({**row, "media": media, "cases": cases, "tasks": tasks, "history": history}, viewer)


# The deadline of the step a complaint is at (accepting, then mediating); none after them.
DUE = (f"CASE WHEN state = '{C.RECEIVED}' THEN accept_by "
       f"WHEN state IN ('{C.ACCEPTED}', '{C.MEDIATING}') THEN mediate_by END")
ORDERS = {"received": "received_at DESC, id", "due": f"{DUE} ASC NULLS LAST, received_at, id"}


def list_complaints(conn, viewer: Viewer, *, state: str | None = None, branch: str | None = None,
                    queue: bool = False, open_only: bool = False, order: str = "received",
                    limit: int = 200) -> list[dict]:
    """Complaints the caller may see, newest first or (`order="due"`) the nearest deadline of
    the step they are at first; `queue`: the command centre's (no branch); `open_only`: those
    with a step still to take."""
    if state is not None and state not in C.STATES:
        raise Invalid(f"unknown state {state!r}", field="state", allowed=list(C.STATES))
    if order not in ORDERS:
        raise Invalid(f"unknown order {order!r}", field="order", allowed=list(ORDERS))
    clauses, args = ["TRUE"], []
    if viewer.role not in STAFF:
        clauses.append("FALSE")
    if state is not None:
        clauses.append("state = %s")
        args.append(state)
    if open_only:
        clauses.append("state = ANY(%s)")
        args.append(sorted(C.OPEN))
    if queue:
        clauses.append("branch IS NULL")
    elif branch is not None:
        clauses.append("branch = %s")
        args.append(branch)
    args.append(max(1, min(limit, MAX_LIMIT)))
    with conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM complaints WHERE {' AND '.join(clauses)} "
                    f"ORDER BY {ORDERS[order]} LIMIT %s", args)
        return [present(r, viewer) for r in cur.fetchall()]


def _public_args(code: str, phone_last4: str) -> tuple[str, str]:
    c = C.normalize_code(code)
    if c is None or not (phone_last4 or "").isdigit() or len(phone_last4) != 4:
        raise NotFound("no complaint with this query code and phone")
    return phone_last4, c


def _public_answer(row: dict | None) -> dict:
    if row is None or not row.pop("phone_ok"):
        raise NotFound("no complaint with this query code and phone")
    raw = {k: row.pop(k) for k in ("complainant_name", "complainant_phone", "complainant_id_number")}
    row["terms"] = C.scrub(row["terms"], raw)      # what the citizen reads holds no one's data in clear
    return row


def public(conn, code: str, phone_last4: str) -> dict:
    """The citizen's query: state, dates, branch, outcome (with the agreement's terms); NotFound
    for a wrong code or phone (the two are not told apart)."""
    args = _public_args(code, phone_last4)
    with conn.cursor() as cur:
        cur.execute(PUBLIC, args)
        return _public_answer(cur.fetchone())


async def public_many_async(aconn, lookups: list[tuple[str, str]]) -> list[dict | NotFound]:
    """`public` for many (code, phone_last4) lookups in one statement over an asyncio connection
    (the web's fast path, dashboard/public_query.py): each lookup's answer or its NotFound, in order."""
    out: list = [None] * len(lookups)
    asked: list[tuple[int, str, str]] = []
    for n, (code, last4) in enumerate(lookups):
        try:
            asked.append((n, *_public_args(code, last4)))
        except NotFound as exc:
            out[n] = exc
    if asked:
        cur = await aconn.execute(PUBLIC_MANY, ([a[1] for a in asked], [a[2] for a in asked]))
        for row in await cur.fetchall():
            out[asked[row.pop("i") - 1][0]] = row
    for n, row in enumerate(out):
        if not isinstance(row, NotFound):
            try:
                out[n] = _public_answer(row)
            except NotFound as exc:
                out[n] = exc
    return out
