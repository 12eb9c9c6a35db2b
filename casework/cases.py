"""Cases (CONTRACT.md section 11): from a clue to the penalty decision. One transition table
(`clue -> verified -> filed -> decided`, or `transferred_police` / `dropped` from clue or
verified), each step audited in its transaction; a decided case is sealed. A case is opened
from an inspection, a task or a complaint, on the entity concerned."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from alerts.errors import Conflict, Forbidden, Invalid, NotFound
from casework import audit

RECORD = "case"
CLUE, VERIFIED, FILED, DECIDED, TRANSFERRED_POLICE, DROPPED = (
    "clue", "verified", "filed", "decided", "transferred_police", "dropped")
STATES = (CLUE, VERIFIED, FILED, DECIDED, TRANSFERRED_POLICE, DROPPED)
SOURCES = ("inspection", "task", "complaint")
MANAGERS = frozenset({"branch", "coordinator", "admin"})
MAX_TEXT = 2000
MAX_LIMIT = 1000
COLUMNS = ("id, source_type, source_id, uscc, summary, state, grid, level1, branch, category, opened_at, "
           "verified_at, filed_at, decided_at, ended_at, document_no, fine_yuan, reason, created_by, updated_at, "
           "sealed_at, hash")


@dataclass(frozen=True)
class Step:
    sources: frozenset[str]
    target: str
    stamp: str


TRANSITIONS: dict[str, Step] = {
    "verify": Step(frozenset({CLUE}), VERIFIED, "verified_at"),
    "file": Step(frozenset({VERIFIED}), FILED, "filed_at"),
    "decide": Step(frozenset({FILED}), DECIDED, "decided_at"),
    "transfer_police": Step(frozenset({CLUE, VERIFIED}), TRANSFERRED_POLICE, "ended_at"),
    "drop": Step(frozenset({CLUE, VERIFIED}), DROPPED, "ended_at"),
}
ACTIONS = tuple(TRANSITIONS)


def decide(state: str, action: str, held: frozenset[str], *, document_no: str | None = None,
           fine_yuan=None, reason: str | None = None) -> str:
    step = TRANSITIONS.get(action)
    if step is None:
        raise Invalid(f"unknown action {action!r}", field="action", allowed=list(ACTIONS))
    if not (held & MANAGERS):
        raise Forbidden(f"{action} is for the branch's level-1 supervisors, coordinators and admins", action=action)
    if state not in step.sources:
        raise Conflict(f"cannot {action} a case that is {state}",
                       reason=f"{action} needs the case {' or '.join(sorted(step.sources))}, it is {state}",
                       state=state)
    if action == "decide":
        if not (document_no or "").strip():
            raise Invalid("a penalty decision has its document number", field="document_no")
        fine(fine_yuan)
    if action in ("drop", "transfer_police") and not (reason or "").strip():
        raise Invalid(f"{action} needs a reason", field="reason")
    return step.target


def fine(v) -> Decimal:
    try:
        d = Decimal(str(v))
    except (InvalidOperation, ValueError):
        raise Invalid("fine_yuan is an amount in yuan", field="fine_yuan") from None
    if not d.is_finite() or d < 0 or d > Decimal("999999999999.99") or d != d.quantize(Decimal("0.01")):
        raise Invalid("fine_yuan is an amount >= 0 with at most 2 decimals", field="fine_yuan")
    return d


def _now(now):
    return now or datetime.now(timezone.utc)


_SOURCE_SQL = {
    "inspection": "SELECT uscc FROM inspections WHERE id = %s",
    "task": "SELECT uscc FROM tasks WHERE id = %s",
    "complaint": "SELECT respondent_uscc AS uscc, grid, level1, branch, category FROM complaints WHERE id = %s",
}


def create(cur, *, source_type: str, source_id: str, uscc: str | None, summary: str, actor: str,
           now: datetime | None = None) -> dict:
    """Opens a case (state clue) in the caller's transaction; its grids come from the entity
    (or, for a complaint whose respondent is not in the register, from the complaint)."""
    now = _now(now)
    if source_type not in SOURCES:
        raise Invalid(f"source is one of {', '.join(SOURCES)}", field="source")
    if not (summary or "").strip() or len(summary) > MAX_TEXT:
        raise Invalid(f"summary is 1-{MAX_TEXT} characters", field="summary")
    cur.execute(_SOURCE_SQL[source_type], (source_id,))
    src = cur.fetchone()
    if src is None:
        raise Invalid(f"no {source_type} {source_id}", field=f"source.{source_type}")
    uscc = uscc or src.get("uscc")
    where = {"grid": src.get("grid"), "level1": src.get("level1"), "branch": src.get("branch"),
             "category": src.get("category")}
    if uscc:
        cur.execute("SELECT grid, level1, branch, category FROM entities WHERE uscc = %s", (uscc,))
        ent = cur.fetchone()
        if ent is None:
            raise Invalid(f"no entity {uscc} in the register", field="uscc")
        where = {k: ent[k] or where.get(k) for k in where}
    case_id = f"K{now:%Y%m%d}-{secrets.token_hex(4)}"
    row = {"id": case_id, "source_type": source_type, "source_id": source_id, "uscc": uscc, "summary": summary.strip(),
           "state": CLUE, **where, "opened_at": now, "created_by": actor}
    cur.execute(f"INSERT INTO cases ({', '.join(row)}, updated_at) VALUES ({', '.join('%s' for _ in row)}, %s)",
                (*row.values(), now))
    audit.record(cur, actor=actor, record_type=RECORD, record_id=case_id, action="open", after=row)
    cur.execute(f"SELECT {COLUMNS} FROM cases WHERE id = %s", (case_id,))
    return cur.fetchone()


def open_case(conn, **kw) -> dict:
    with conn.transaction(), conn.cursor() as cur:
        return create(cur, **kw)


def act(conn, case_id: str, action: str, *, actor: str, held_of, document_no: str | None = None,
        fine_yuan=None, reason: str | None = None, now: datetime | None = None) -> dict:
    """One step under the row's lock with its audit entry; `decide` seals the case in the same
    transaction. `held_of(case) -> capacities`."""
    now = _now(now)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM cases WHERE id = %s FOR UPDATE", (case_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no case {case_id}", case=case_id)
        if row["sealed_at"] is not None:
            raise Conflict(f"case {case_id} is sealed", reason="a decided case never changes")
        target = decide(row["state"], action, held_of(row), document_no=document_no, fine_yuan=fine_yuan,
                        reason=reason)
        change = {"state": target, TRANSITIONS[action].stamp: now}
        if action == "decide":
            change.update(document_no=document_no.strip(), fine_yuan=fine(fine_yuan), ended_at=now)
        if reason:
            change["reason"] = reason.strip()
        before, after = audit.changed(row, change)
        sets = ", ".join(f"{k} = %s" for k in change)
        cur.execute(f"UPDATE cases SET {sets}, updated_at = %s WHERE id = %s", (*change.values(), now, case_id))
        audit.record(cur, actor=actor, record_type=RECORD, record_id=case_id, action=action,
                     before=before, after=after, note=reason)
        if target == DECIDED:
            from casework.seal import seal

            s = seal(cur, RECORD, case_id)
            audit.record(cur, actor=actor, record_type=RECORD, record_id=case_id, action="seal",
                         after={"hash": s["hash"], "seq": s["seq"]})
        cur.execute(f"SELECT {COLUMNS} FROM cases WHERE id = %s", (case_id,))
        return cur.fetchone()


def get(conn, case_id: str) -> dict:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM cases WHERE id = %s", (case_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no case {case_id}", case=case_id)
        return {**row, "history": audit.trail(cur, RECORD, case_id)}


def list_cases(conn, *, state: str | None = None, branch: str | None = None, uscc: str | None = None,
               branches: tuple[str, ...] | None = None, limit: int = 200) -> list[dict]:
    """Newest first; `branches`: only these (a supervisor's), None: all."""
    if state is not None and state not in STATES:
        raise Invalid(f"unknown state {state!r}", field="state", allowed=list(STATES))
    clauses, args = ["TRUE"], []
    for col, val in (("state", state), ("branch", branch), ("uscc", uscc)):
        if val is not None:
            clauses.append(f"{col} = %s")
            args.append(val)
    if branches is not None:
        clauses.append("branch = ANY(%s)")
        args.append(list(branches))
    args.append(max(1, min(limit, MAX_LIMIT)))
    with conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM cases WHERE {' AND '.join(clauses)} ORDER BY opened_at DESC, id LIMIT %s",
                    args)
        return list(cur.fetchall())
