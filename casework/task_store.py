"""The tasks' store (table `tasks`): create a routed task, apply an action under a row lock,
read one with its history and media, list with filters and the caller's visibility. Each change
is written with its audit entry in one transaction; the decisions come from casework/tasks.py.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from alerts.errors import Conflict, Invalid, NotFound
from casework import audit, task_delivery
from casework import tasks as T
from casework.task_delivery import downlink  # noqa: F401 - part of this module's surface

RECORD = "task"
DUPLICATE_RADIUS_M = 100.0
DUPLICATE_WINDOW_H = 24
MAX_DESCRIPTION = 2000
MAX_LIMIT = 1000
COLUMNS = ("id, category, description, address, lat, lon, uscc, grid, level1, branch, source, reporter, "
           "reporter_account, assignee, state, reported_at, deadline, accepted_at, handled_at, verified_at, "
           "closed_at, feedback, reason, duplicate_of, updated_at, sealed_at, hash")
# What GeoReport's requests show (GET requests.json): less to send and parse than COLUMNS
OPEN311_COLUMNS = ("id, category, description, address, lat, lon, grid, branch, state, reported_at, deadline, "
                   "feedback, reason, updated_at")
# A task's first photo or recording (GeoReport's media_url), in the listing's own query:
# PostgreSQL looks it up after the sort and the limit, for the rows kept only
_FIRST_MEDIA = (f"(SELECT min(m.sha256) FROM record_media m WHERE m.record_type = '{RECORD}' "
                f"AND m.record_id = tasks.id) AS first_media")
# what the store reads to decide visibility too: a draw's task has a team (its inspectors, the
# assignee first), each of whom sees it; `team` stays out of the task's API view
READ_COLUMNS = COLUMNS + ", team"
# metres between two points (haversine), for the duplicate check
_DISTANCE = ("6371008.8 * 2 * asin(sqrt(power(sin(radians(lat - %(lat)s) / 2), 2) + cos(radians(%(lat)s)) "
             "* cos(radians(lat)) * power(sin(radians(lon - %(lon)s) / 2), 2)))")
_FIND_DUPLICATE = (
    f"SELECT id FROM tasks WHERE category = %(category)s AND state NOT IN ('closed', 'rejected') "
    f"AND reported_at > %(now)s - make_interval(hours => %(hours)s) "
    f"AND lat BETWEEN %(lat)s - 0.002 AND %(lat)s + 0.002 AND lon BETWEEN %(lon)s - 0.002 AND %(lon)s + 0.002 "
    f"AND {_DISTANCE} <= %(radius)s ORDER BY reported_at LIMIT 1")


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the account, its role, its person and (a supervisor) his grids."""

    account: str
    role: str
    person: str | None = None
    grids: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        return f"user:{self.account}"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def categories(cur) -> list[dict]:
    cur.execute("SELECT code, name, grp, hours, description, keywords FROM task_categories ORDER BY code")
    return list(cur.fetchall())


def _category(cur, code: str) -> dict:
    cur.execute("SELECT code, name, hours FROM task_categories WHERE code = %s", (code,))
    row = cur.fetchone()
    if row is None:
        raise Invalid(f"unknown service_code {code!r}", field="service_code")
    return row


def find_duplicate(cur, category: str, lat: float, lon: float, now: datetime) -> str | None:
    """An open task of the same category within 100 m reported in the last 24 h."""
    cur.execute(_FIND_DUPLICATE, {"category": category, "lat": lat, "lon": lon, "now": now,
                                  "hours": DUPLICATE_WINDOW_H, "radius": DUPLICATE_RADIUS_M})
    row = cur.fetchone()
    return row["id"] if row else None


def create(conn, *, category: str, lat: float, lon: float, description: str, viewer: Viewer,
           router, address: str | None = None, uscc: str | None = None, media=(),
           now: datetime | None = None) -> tuple[dict, str | None]:
    """File and route a report in one transaction: (the task, the open task it may duplicate).
    `router(lat, lon, hours, reported_at) -> tasks.Route`. A likely duplicate is still filed."""
    now = _now(now)
    if len(description or "") > MAX_DESCRIPTION:
        raise Invalid(f"description is longer than {MAX_DESCRIPTION} characters", field="description")
    with conn.transaction(), conn.cursor() as cur:
        cat = _category(cur, category)
        r = router(lat, lon, cat["hours"], now)
        if uscc:
            cur.execute("SELECT 1 FROM entities WHERE uscc = %s", (uscc,))
            if cur.fetchone() is None:
                raise Invalid(f"no entity {uscc} in the register", field="attribute[uscc]")
        dup = find_duplicate(cur, category, lat, lon, now)
        task_id = f"T{now:%Y%m%d}-{secrets.token_hex(4)}"
        row = {"id": task_id, "category": category, "description": description or "", "address": address,
               "lat": lat, "lon": lon, "uscc": uscc or None, "grid": r.grid, "level1": r.level1,
               "branch": r.branch, "reporter": viewer.person, "reporter_account": viewer.account,
               "assignee": None, "state": T.REPORTED, "reported_at": now, "deadline": r.deadline}
        cur.execute(f"INSERT INTO tasks ({', '.join(row)}, updated_at) VALUES "
                    f"({', '.join('%s' for _ in row)}, %s)", (*row.values(), now))
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=task_id, action="report",
                     after=row, note=f"likely duplicate of {dup}" if dup else None)
        if r.assignee:
            T.decide(T.REPORTED, "assign", frozenset({T.SYSTEM}), assignee=r.assignee)
            cur.execute("UPDATE tasks SET state = %s, assignee = %s WHERE id = %s",
                        (T.ASSIGNED, r.assignee, task_id))
            audit.record(cur, actor="system:routing", record_type=RECORD, record_id=task_id, action="assign",
                         before={"state": T.REPORTED, "assignee": None},
                         after={"state": T.ASSIGNED, "assignee": r.assignee})
        for stored in media:
            _attach(cur, stored, task_id, viewer.actor)
        cur.execute(f"SELECT {COLUMNS} FROM tasks WHERE id = %s", (task_id,))
        return cur.fetchone(), dup


def _attach(cur, stored, task_id: str, actor: str) -> None:
    from casework import media as media_store

    media_store.attach(cur, stored, record_type=RECORD, record_id=task_id, actor=actor)


def _lock(cur, task_id: str) -> dict:
    cur.execute(f"SELECT {READ_COLUMNS} FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"no task {task_id}", task=task_id)
    return row


def act(conn, task_id: str, action: str, viewer: Viewer, *, level1_supervisor, note: str | None = None,
        reason: str | None = None, assignee: str | None = None, duplicate_of: str | None = None,
        now: datetime | None = None) -> dict:
    """Apply one action (tasks.TRANSITIONS) under the row's lock; returns the task as it is
    after. `level1_supervisor(task) -> person id | None` names the grid's level-1 supervisor.
    A caller who may not see the task gets 404, as if it did not exist."""
    now = _now(now)
    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, task_id)
        if not visible(viewer, row):
            raise NotFound(f"no task {task_id}", task=task_id)
        if row["sealed_at"] is not None:
            raise Conflict(f"task {task_id} is sealed", reason="a task sealed 7 days after closing never changes")
        held = T.capacities(viewer.role, viewer.person, viewer.account, row, level1_supervisor(row))
        target = T.decide(row["state"], action, held, now=now, closed_at=row["closed_at"], note=note,
                          reason=reason, assignee=assignee, duplicate_of=duplicate_of)
        if duplicate_of:
            cur.execute("SELECT 1 FROM tasks WHERE id = %s", (duplicate_of,))
            if cur.fetchone() is None or duplicate_of == task_id:
                raise Invalid(f"no other task {duplicate_of}", field="duplicate_of")
        change = {"state": target}
        stamp = {"accept": "accepted_at", "handle": "handled_at", "verify": "verified_at", "close": "closed_at"}
        if action in stamp:
            change[stamp[action]] = now
        if action == "handle":
            change["feedback"] = note.strip()
        if action == "reject":
            change.update(reason=reason, duplicate_of=duplicate_of if reason == "duplicate" else None)
        if action == "reassign":
            change["assignee"] = assignee
        if action == "reopen":
            # back to its assignee, as new: the steps are taken again
            change.update(accepted_at=None, handled_at=None, verified_at=None, closed_at=None)
        before, after = audit.changed(row, change)
        if target == row["state"]:
            before.setdefault("state", row["state"])
            after.setdefault("state", target)
        sets = ", ".join(f"{k} = %s" for k in change)
        cur.execute(f"UPDATE tasks SET {sets}, updated_at = %s WHERE id = %s", (*change.values(), now, task_id))
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=task_id, action=action,
                     before=before, after=after, note=note)
        cur.execute(f"SELECT {COLUMNS} FROM tasks WHERE id = %s", (task_id,))
        return cur.fetchone()


def add_media(conn, task_id: str, stored, viewer: Viewer, *, item: str = "", taken_at=None,
              lat: float | None = None, lon: float | None = None) -> None:
    from casework import media as media_store

    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, task_id)
        if not visible(viewer, row):
            raise NotFound(f"no task {task_id}", task=task_id)
        if row["sealed_at"] is not None:
            raise Conflict(f"task {task_id} is sealed", reason="a sealed task takes no more media")
        media_store.attach(cur, stored, record_type=RECORD, record_id=task_id, actor=viewer.actor,
                           item=item, taken_at=taken_at, lat=lat, lon=lon)
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=task_id, action="media",
                     after={"sha256": stored.sha256, "type": stored.type, "item": item})


def visible(viewer: Viewer, row: dict) -> bool:
    """A reporter sees his own; a supervisor his grids' tasks, those assigned to him and those of
    a team he is in (a draw's co-inspector); viewer, coordinator and admin all; anyone else nothing."""
    if viewer.role in ("viewer", "coordinator", "admin"):
        return True
    if row.get("reporter_account") == viewer.account:
        return True
    if viewer.role == "reporter":
        return bool(viewer.person) and row.get("reporter") == viewer.person
    if viewer.role == "supervisor":
        return (bool(viewer.person) and (row.get("assignee") == viewer.person
                                         or viewer.person in (row.get("team") or ()))) or \
            row.get("grid") in viewer.grids or row.get("level1") in viewer.grids
    return False


def _visibility_sql(viewer: Viewer) -> tuple[str, list]:
    if viewer.role in ("viewer", "coordinator", "admin"):
        return "TRUE", []
    own = "reporter_account = %s"
    if viewer.role == "reporter":
        return f"({own} OR (reporter = %s))", [viewer.account, viewer.person]
    if viewer.role == "supervisor":
        g = list(viewer.grids)
        # a team is a draw's (the partial index tasks_draw narrows the scan to drawn tasks)
        return (f"({own} OR assignee = %s OR grid = ANY(%s) OR level1 = ANY(%s) "
                f"OR (draw IS NOT NULL AND %s = ANY(team)))",
                [viewer.account, viewer.person, g, g, viewer.person])
    return f"({own})", [viewer.account]


def get(conn, task_id: str, viewer: Viewer, now: datetime | None = None) -> dict:
    """One task with `overdue`, `media` and `history` (every audit entry: actor, time, note)."""
    now = _now(now)
    with conn.cursor() as cur:
        cur.execute(f"SELECT {READ_COLUMNS} FROM tasks WHERE id = %s", (task_id,))
        row = cur.fetchone()
        if row is None or not visible(viewer, row):
            raise NotFound(f"no task {task_id}", task=task_id)
        cur.execute("SELECT m.sha256, m.type, m.size, rm.item, rm.taken_at, rm.lat, rm.lon, rm.added_at, rm.added_by "
                    "FROM record_media rm JOIN media m USING (sha256) "
                    "WHERE rm.record_type = %s AND rm.record_id = %s ORDER BY rm.added_at, m.sha256",
                    (RECORD, task_id))
        media = list(cur.fetchall())
        history = audit.trail(cur, RECORD, task_id)
    return {**row, "overdue": T.overdue(row["state"], row["deadline"], now), "media": media, "history": history}


def list_tasks(conn, viewer: Viewer, *, state: str | None = None, grid: str | None = None,
               assignee: str | None = None, member: str | None = None, ids: list[str] | None = None,
               category: str | None = None,
               status: str | None = None, start: datetime | None = None, end: datetime | None = None,
               limit: int = 200, now: datetime | None = None, columns: str = READ_COLUMNS) -> list[dict]:
    """Tasks the viewer may see, newest first, with `overdue` and `first_media` (the sha256 of
    its first photo or recording, or None); `columns`: READ_COLUMNS, or OPEN311_COLUMNS for
    less; `member`: those of a team the person is in without being its assignee (a draw's
    co-inspector)."""
    now = _now(now)
    if state is not None and state not in T.STATES:
        raise Invalid(f"unknown state {state!r}", field="state", allowed=list(T.STATES))
    if status is not None and status not in ("open", "closed"):
        raise Invalid(f"status is open or closed, not {status!r}", field="status")
    where, args = _visibility_sql(viewer)
    clauses = [where]
    for col, val in (("state", state), ("category", category), ("assignee", assignee)):
        if val is not None:
            clauses.append(f"{col} = %s")
            args.append(val)
    if member is not None:
        clauses.append("(draw IS NOT NULL AND %s = ANY(team) AND assignee IS DISTINCT FROM %s)")
        args += [member, member]
    if grid is not None:
        clauses.append("(grid = %s OR level1 = %s)")
        args += [grid, grid]
    if ids:
        clauses.append("id = ANY(%s)")
        args.append(list(ids))
    if status == "closed":
        clauses.append("state IN ('closed', 'rejected')")
    elif status == "open":
        clauses.append("state NOT IN ('closed', 'rejected')")
    if start is not None:
        clauses.append("reported_at >= %s")
        args.append(start)
    if end is not None:
        clauses.append("reported_at <= %s")
        args.append(end)
    args.append(max(1, min(limit, MAX_LIMIT)))
    with conn.cursor() as cur:
        cur.execute(f"SELECT {columns}, {_FIRST_MEDIA} FROM tasks WHERE {' AND '.join(clauses)} "
                    f"ORDER BY reported_at DESC, id LIMIT %s", args)
        rows = cur.fetchall()
    for r in rows:
        r["overdue"] = T.overdue(r["state"], r["deadline"], now)
    return rows


# -- the assignee's device ----------------------------------------------------------------------

def queue_downlink(r, root: str, device: str, task: dict, title: str) -> None:
    """Into the alerts' Redis outbox (the dispatcher publishes it at QoS 1 and deletes it after
    the broker's PUBACK), with its sent-marker. Written after the task's transaction commits: a
    crash in between is repaired by casework/task_delivery.py's resend_unsent."""
    task_delivery.queue(r, root, device, task, title)


def seal_closed(conn, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Seal the tasks closed longer than the reopen window (CONTRACT.md section 7): each in its
    own transaction with its audit entry; returns their ids."""
    from casework.seal import seal

    now = _now(now)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM tasks WHERE state = 'closed' AND sealed_at IS NULL AND closed_at <= %s "
                    "ORDER BY closed_at LIMIT %s", (now - T.REOPEN_WINDOW, limit))
        ids = [r["id"] for r in cur.fetchall()]
    conn.commit()
    done = []
    for task_id in ids:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT state, sealed_at FROM tasks WHERE id = %s FOR UPDATE SKIP LOCKED", (task_id,))
            row = cur.fetchone()
            if row is None or row["sealed_at"] is not None or row["state"] != T.CLOSED:
                continue
            s = seal(cur, RECORD, task_id)
            audit.record(cur, actor="system:tasks", record_type=RECORD, record_id=task_id, action="seal",
                         after={"hash": s["hash"], "seq": s["seq"]})
            done.append(task_id)
    return done
