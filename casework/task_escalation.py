"""Tasks' escalation (CONTRACT.md section 8): a task not accepted within GRIDWATCH_TASK_ACCEPT_S
of being assigned, or past its deadline unhandled, alerts the grid's level-1 supervisor (alert
kind `task_overdue`: the wall, GET /api/alerts, his device), once per cause.

The pass is casework/escalation.py's (shared with complaints). The timer is the database
itself: each pass (the dispatcher's periodic checks) asks PostgreSQL which tasks are due, so
nothing is held in memory or in Redis that a restart could lose; "once" is an `escalate` audit
entry written under the task's row lock (FOR UPDATE SKIP LOCKED: two dispatchers never take the
same task) in the transaction that raises the alert. A crash between raising and committing
raises nothing twice: the alert's open episode refuses a second one.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from casework import escalation
from casework import tasks as T
from casework.escalation import Escalation
from casework.task_store import seal_closed

log = logging.getLogger(__name__)

KIND = "task_overdue"
NOT_ACCEPTED, PAST_DEADLINE = "not_accepted", "past_deadline"
CAUSES = (NOT_ACCEPTED, PAST_DEADLINE)
ACTOR = "system:tasks"
# When a cause ends (the action that answers it), its alert is cleared.
ENDS = {"accept": (NOT_ACCEPTED,), "handle": (PAST_DEADLINE,), "reject": CAUSES, "reassign": (NOT_ACCEPTED,)}

_UNHANDLED = sorted(T.UNHANDLED)
# Imported history (ids H-...) is not live work: it is never escalated.
_DUE = """
SELECT d.id, d.cause FROM (
    SELECT id, %(na)s AS cause FROM tasks
     WHERE state = 'assigned' AND updated_at <= %(accept_before)s AND id NOT LIKE 'H-%%'
    UNION ALL
    SELECT id, %(pd)s FROM tasks
     WHERE state = ANY(%(unhandled)s) AND deadline < %(now)s AND id NOT LIKE 'H-%%'
) d
WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.record_type = 'task' AND a.record_id = d.id
                  AND a.action = 'escalate' AND a.after->>'cause' = d.cause)
ORDER BY d.id LIMIT %(limit)s
"""
_LOCK = ("SELECT id, state, grid, lat, lon, deadline, updated_at, assignee, category FROM tasks "
         "WHERE id = %s AND sealed_at IS NULL FOR UPDATE SKIP LOCKED")
ESCALATION = Escalation(record_type="task", actor=ACTOR, due_sql=_DUE, lock_sql=_LOCK)


def subject(task_id: str, cause: str) -> str:
    return f"{task_id}:{cause}"


def still_due(row: dict, cause: str, now: datetime, accept_s: float) -> bool:
    if cause == NOT_ACCEPTED:
        return row["state"] == T.ASSIGNED and row["updated_at"] <= now - timedelta(seconds=accept_s)
    return T.overdue(row["state"], row["deadline"], now)


def escalate_due(conn, alerts, level1_of, accept_s: float, *, now: datetime | None = None,
                 limit: int = 200) -> list[tuple[str, str]]:
    """One pass: raise `task_overdue` for each (task, cause) due and not yet raised; returns them.
    `level1_of(grid) -> (person id, device) | None`: the grid's level-1 supervisor."""
    now = now or datetime.now(timezone.utc)

    def raise_alert(row, cause):
        task_id = row["id"]
        person, device = (level1_of(row["grid"]) if row["grid"] else None) or (None, None)
        why = "not accepted in time" if cause == NOT_ACCEPTED else "past its deadline, not handled"
        alert = alerts.raise_(KIND, subject(task_id, cause), ACTOR, now=now.timestamp(),
                              person=person, device=device,
                              grid=row["grid"], lat=row["lat"], lon=row["lon"],
                              title=f"task {task_id} {why}",
                              data={"task": task_id, "cause": cause, "assignee": row["assignee"],
                                    "deadline": row["deadline"].isoformat()})
        return {"alert": alert["id"] if alert else None, "level1_supervisor": person}

    params = {"na": NOT_ACCEPTED, "pd": PAST_DEADLINE, "now": now, "unhandled": _UNHANDLED,
              "accept_before": now - timedelta(seconds=accept_s), "limit": limit}
    raised = escalation.escalate_due(conn, ESCALATION, params,
                                     lambda row, cause: still_due(row, cause, now, accept_s), raise_alert)
    if raised:
        log.info("tasks escalated: %s", raised)
    return raised


def clear_answered(alerts, task_id: str, action: str, actor: str) -> None:
    """After an action that ends a cause, its alert (if one is open) is cleared."""
    for cause in ENDS.get(action, ()):
        alerts.clear(KIND, subject(task_id, cause), actor, f"task {action}")


def level1_in(world):
    """`level1_of` over the dispatcher's World (its index and people)."""
    def level1_of(grid):
        l1 = world.index.parent(grid) or grid
        person = world.responsible(l1)
        return (person, world.device_of(person)) if person else None
    return level1_of


def job(settings):
    """The dispatcher's periodic job `fn(r, world)` (the shell hands it to the dispatcher): the
    draws' unmade tasks, the escalation pass, sealing the tasks whose reopen window has passed,
    then the downlinks' repairs (casework/task_delivery.py)."""
    from alerts.alerts import Alerts
    from casework.draw_store import make_pending
    from casework.task_delivery import CONSUMER, resend_on_return, resend_unsent

    def one_pass(conn, r, world):
        # a draw's tasks left unmade by a crash (casework/draw_store.py), before they are escalated
        make_pending(conn, r, settings.topic_root, world.device_of)
        raised = escalate_due(conn, Alerts(r, settings, world), level1_in(world), settings.task_accept_s)
        seal_closed(conn)
        # the downlinks: never queued (a crash after the commit), or to a device back on duty
        resend_unsent(conn, r, settings.topic_root, world.device_of)
        resend_on_return(conn, r, settings.topic_root, CONSUMER)
        return raised

    return escalation.periodic(settings, one_pass)
