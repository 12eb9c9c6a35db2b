"""Complaints' overdue steps (CONTRACT.md section 11): past `accept_by` still received, or past
`mediate_by` still accepted or mediating, raises an alert of kind `complaint_overdue` for the
handler (the level-1 supervisor; the wall for the command centre's queue), once per cause.

The pass is casework/escalation.py's, as for tasks: PostgreSQL is the timer (each of the
dispatcher's periodic passes asks which complaints are due), "once" is an `escalate` audit
entry written under the row lock in the transaction that raises the alert. The deadlines are
dates in GRIDWATCH_TZ: a step is overdue from the day after its last allowed day.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from casework import escalation
from casework.escalation import Escalation

log = logging.getLogger(__name__)

KIND = "complaint_overdue"
NOT_ACCEPTED, MEDIATION_OVERDUE = "not_accepted", "mediation_overdue"
CAUSES = (NOT_ACCEPTED, MEDIATION_OVERDUE)
ACTOR = "system:complaints"
ENDS = {"accept": (NOT_ACCEPTED,), "refuse": (NOT_ACCEPTED,), "transfer": CAUSES,
        "agree": (MEDIATION_OVERDUE,), "fail": (MEDIATION_OVERDUE,)}

# Imported history (ids H-...) is not live work: it is never escalated.
_DUE = """
SELECT d.id, d.cause FROM (
    SELECT id, %(na)s AS cause FROM complaints
     WHERE state = 'received' AND accept_by < %(today)s AND id NOT LIKE 'H-%%'
    UNION ALL
    SELECT id, %(mo)s FROM complaints
     WHERE state IN ('accepted', 'mediating') AND mediate_by < %(today)s AND id NOT LIKE 'H-%%'
) d
WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.record_type = 'complaint' AND a.record_id = d.id
                  AND a.action = 'escalate' AND a.after->>'cause' = d.cause)
ORDER BY d.id LIMIT %(limit)s
"""
_LOCK = ("SELECT id, state, grid, level1, branch, handler, lat, lon, accept_by, mediate_by, category FROM complaints "
         "WHERE id = %s AND sealed_at IS NULL FOR UPDATE SKIP LOCKED")
ESCALATION = Escalation(record_type="complaint", actor=ACTOR, due_sql=_DUE, lock_sql=_LOCK)


def subject(cid: str, cause: str) -> str:
    return f"{cid}:{cause}"


def still_due(row: dict, cause: str, today) -> bool:
    if cause == NOT_ACCEPTED:
        return row["state"] == "received" and row["accept_by"] < today
    return row["state"] in ("accepted", "mediating") and row["mediate_by"] is not None and row["mediate_by"] < today


def escalate_due(conn, alerts, device_of, *, tz: str = "Asia/Shanghai", now: datetime | None = None,
                 limit: int = 200) -> list[tuple[str, str]]:
    """One pass: raise `complaint_overdue` for each (complaint, cause) due and not yet raised.
    `device_of(person) -> device | None`. No personal data goes into the alert."""
    now = now or datetime.now(timezone.utc)
    today = now.astimezone(ZoneInfo(tz)).date()

    def raise_alert(row, cause):
        cid, person = row["id"], row["handler"]
        device = device_of(person) if person else None
        by = row["accept_by"] if cause == NOT_ACCEPTED else row["mediate_by"]
        why = "not accepted or refused by" if cause == NOT_ACCEPTED else "mediation not ended by"
        alert = alerts.raise_(KIND, subject(cid, cause), ACTOR, now=now.timestamp(), person=person, device=device,
                              grid=row["grid"], lat=row["lat"], lon=row["lon"],
                              title=f"complaint {cid} {why} {by.isoformat()}",
                              data={"complaint": cid, "cause": cause, "branch": row["branch"],
                                    "deadline": by.isoformat()})
        return {"alert": alert["id"] if alert else None, "handler": person}

    raised = escalation.escalate_due(conn, ESCALATION, {"na": NOT_ACCEPTED, "mo": MEDIATION_OVERDUE, "today": today,
                                                        "limit": limit},
                                     lambda row, cause: still_due(row, cause, today), raise_alert)
    if raised:
        log.info("complaints escalated: %s", raised)
    return raised


def clear_answered(alerts, cid: str, action: str, actor: str) -> None:
    for cause in ENDS.get(action, ()):
        alerts.clear(KIND, subject(cid, cause), actor, f"complaint {action}")


def job(settings):
    """The dispatcher's periodic job `fn(r, world)`: one escalation pass."""
    from alerts.alerts import Alerts

    return escalation.periodic(settings, lambda conn, r, world: escalate_due(
        conn, Alerts(r, settings, world), world.device_of, tz=settings.tz))
