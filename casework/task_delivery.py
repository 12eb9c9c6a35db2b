"""A task's downlink reaches its assignee's device even across a crash or a long absence.

The task's transaction commits in PostgreSQL, then its `_type: task` message is queued in the
Redis outbox with a marker `gw:{orders}:tasks:sent:<task>` = the assignee (one MULTI, so the
marker exists only if the message was queued). Two repairs run with the dispatcher's periodic
checks (casework/task_escalation.job):

- `resend_unsent`: an `assigned` task older than GRACE_S whose marker does not name its current
  assignee was never queued (the web process died between the commit and Redis, or Redis was
  down): it is queued now. PostgreSQL is the truth; the marker only says what was done.
- `resend_on_return`: a device coming back on duty (a status event `st=on_duty` after off duty,
  offline or its will; consumer group `tasks` on telemetry's events stream) is sent again every
  task still `assigned` to its person, for a phone whose MQTT session was lost meanwhile (a
  new phone, an expired session). Messages carry the task id: a device shows a repeat once.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

log = logging.getLogger(__name__)

SENT_KEY = "gw:{orders}:tasks:sent:"
SENT_TTL_S = 30 * 86400
GRACE_S = 30.0
GROUP = "tasks"
# One consumer name for every dispatcher: after a restart the entries read and not yet
# acknowledged are read again under the same name (a repeat send is harmless, a lost one not).
CONSUMER = "tasks"
BACK_FROM = ("off_duty", "offline", "busy")

_ASSIGNED = ("SELECT t.id, t.category, t.description, t.address, t.lat, t.lon, t.grid, t.deadline, t.assignee, "
             "t.draw, t.uscc, t.checklist, t.team, "
             "c.name AS category_name FROM tasks t JOIN task_categories c ON c.code = t.category "
             "WHERE t.state = 'assigned' AND t.assignee IS NOT NULL AND t.id NOT LIKE 'H-%%' ")


def title(task: dict, category_name: str) -> str:
    return f"{category_name}: {task.get('address') or (task.get('description') or '')[:40]}"


def downlink(task: dict, title: str) -> dict:
    """What the assignee's device gets on `<root>/<device>/orders` when a task is his."""
    return {"_type": "task", "id": task["id"], "title": title, "category": task["category"],
            "lat": task["lat"], "lon": task["lon"], "grid": task["grid"],
            "deadline": task["deadline"].isoformat()}


def draw_downlink(task: dict, title: str) -> dict:
    """A double-random draw's task (casework/draw_store.py) to each of its team's devices: the
    downlink with the entity, checklist and team of the inspection to make."""
    return {**downlink(task, title), "uscc": task["uscc"], "checklist": task.get("checklist"),
            "team": list(task["team"]), "kind": "double_random"}


def queue(r, root: str, device: str, task: dict, title_text: str) -> None:
    """The downlink and its marker, in one MULTI."""
    from alerts import outbox

    message = draw_downlink(task, title_text) if task.get("draw") else downlink(task, title_text)
    with r.pipeline(transaction=True) as p:
        outbox.queue(p, root, device, "orders", message, order=f"task:{task['id']}")
        p.set(SENT_KEY + task["id"], task["assignee"] or "", ex=SENT_TTL_S)
        p.execute()


def resend_unsent(conn, r, root: str, device_of, *, now: datetime | None = None, grace_s: float = GRACE_S,
                  limit: int = 1000) -> list[str]:
    """Queue the downlink of each assigned task whose marker does not name its assignee."""
    now = now or datetime.now(timezone.utc)
    with conn.cursor() as cur:
        cur.execute(_ASSIGNED + "AND t.updated_at <= %s ORDER BY t.updated_at LIMIT %s",
                    (now - timedelta(seconds=grace_s), limit))
        rows = list(cur.fetchall())
    conn.commit()
    if not rows:
        return []
    marks = r.mget([SENT_KEY + t["id"] for t in rows])
    sent = []
    for t, m in zip(rows, marks):
        if (m.decode() if isinstance(m, bytes) else m) == t["assignee"]:
            continue
        device = device_of(t["assignee"])
        if not device:
            continue
        queue(r, root, device, t, title(t, t["category_name"]))
        sent.append(t["id"])
    if sent:
        log.info("task downlinks queued again (never queued before): %s", sent)
    return sent


def ensure_group(r) -> None:
    import redis

    from telemetry.keys import EVENTS

    try:
        # From now: a device's return before the first run is covered by resend_unsent's markers.
        r.xgroup_create(EVENTS, GROUP, id="$", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def returned_devices(entries) -> dict[str, str]:
    """device -> person of the status events that bring a device back on duty."""
    from telemetry.store import parse_event

    back = {}
    for _id, fields in entries:
        ev = parse_event(fields) if fields else {}
        if ev.get("kind") == "status" and ev.get("st") == "on_duty" and ev.get("prev") in BACK_FROM \
                and ev.get("person"):
            back[ev["device"]] = ev["person"]
    return back


def resend_on_return(conn, r, root: str, consumer: str, *, count: int = 500) -> list[str]:
    """One read of the events stream (group `tasks`): every task still assigned to a person whose
    device came back on duty is queued again. Entries are acknowledged after the sends."""
    from telemetry.keys import EVENTS

    ensure_group(r)
    # what this consumer read before a crash first, then the new entries
    entries = []
    for start in ("0", ">"):
        res = r.xreadgroup(GROUP, consumer, {EVENTS: start}, count=count)
        for _stream, got in res or []:
            entries += got
    if not entries:
        return []
    back = returned_devices(entries)
    sent = []
    if back:
        by_person = {p: d for d, p in back.items()}
        with conn.cursor() as cur:
            cur.execute(_ASSIGNED + "AND t.assignee = ANY(%s) ORDER BY t.updated_at LIMIT 1000", (list(by_person),))
            rows = list(cur.fetchall())
        conn.commit()
        for t in rows:
            queue(r, root, by_person[t["assignee"]], t, title(t, t["category_name"]))
            sent.append(t["id"])
        if sent:
            log.info("task downlinks sent again to devices back on duty %s: %s", sorted(back), sent)
    r.xack(EVENTS, GROUP, *[i for i, _ in entries])
    return sent
