"""The casework's escalation pass, shared by tasks (casework/task_escalation.py) and complaints
(casework/complaint_escalation.py): PostgreSQL is the timer and the memory. Each of the
dispatcher's periodic passes asks which (record, cause) pairs are due, then takes each under
its row lock (FOR UPDATE SKIP LOCKED: two dispatchers never take the same record), checks it
again, raises the alert and writes an `escalate` audit entry naming the cause in the same
transaction: "once per cause" is that entry, so a restart never raises a cause twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from casework import audit

ACTION = "escalate"
_DONE = ("SELECT 1 FROM audit WHERE record_type = %s AND record_id = %s AND action = 'escalate' "
         "AND after->>'cause' = %s")


@dataclass(frozen=True)
class Escalation:
    """One kind of record's escalation. `due_sql` selects `(id, cause)` rows not yet escalated
    (its named parameters are given per pass); `lock_sql` reads one record by id under FOR
    UPDATE SKIP LOCKED (none when another pass holds it or it is sealed)."""

    record_type: str
    actor: str
    due_sql: str
    lock_sql: str


def escalate_due(conn, esc: Escalation, params: dict, still_due: Callable[[dict, str], bool],
                 raise_alert: Callable[[dict, str], dict]) -> list[tuple[str, str]]:
    """One pass: for each (record, cause) due, under the row's lock and still due by
    `still_due(row, cause)`, `raise_alert(row, cause)` raises the alert and returns the audit
    entry's `after` (it holds `cause`). Returns the pairs raised."""
    with conn.cursor() as cur:
        cur.execute(esc.due_sql, params)
        due = [(r["id"], r["cause"]) for r in cur.fetchall()]
    conn.commit()
    raised = []
    for rid, cause in due:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(esc.lock_sql, (rid,))
            row = cur.fetchone()
            if row is None or not still_due(row, cause):
                continue
            cur.execute(_DONE, (esc.record_type, rid, cause))
            if cur.fetchone() is not None:
                continue
            after = raise_alert(row, cause)
            audit.record(cur, actor=esc.actor, record_type=esc.record_type, record_id=rid, action=ACTION,
                         after={"cause": cause, **after})
            raised.append((rid, cause))
    return raised


def periodic(settings, one_pass: Callable):
    """The dispatcher's periodic job `fn(r, world)` over one database connection kept between
    passes: `one_pass(conn, r, world)`. After an error the connection is closed (and opened
    again on the next pass) and the error goes to the dispatcher, which logs it."""
    from gridwatch.db import connect

    state = {"conn": None}

    def run(r, world):
        if state["conn"] is None or state["conn"].closed:
            state["conn"] = connect(settings.db_url())
        try:
            return one_pass(state["conn"], r, world)
        except Exception:
            state["conn"].close()
            raise

    return run
