"""Tasks' pure core (CONTRACT.md section 8): the one transition table of a task's states, who
may take each step, and the routing of a new report (point + category -> grid -> supervisor,
deadline), FixMyStreet style. No database here: casework/task_store.py applies what this decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.errors import Conflict, Forbidden, Invalid

REPORTED, ASSIGNED, ACCEPTED, IN_PROGRESS, HANDLED, VERIFIED, CLOSED, REJECTED = (
    "reported", "assigned", "accepted", "in_progress", "handled", "verified", "closed", "rejected",
)
STATES: tuple[str, ...] = (REPORTED, ASSIGNED, ACCEPTED, IN_PROGRESS, HANDLED, VERIFIED, CLOSED, REJECTED)
# Open311's two statuses: a rejected task is closed for the reporter too.
FINISHED = frozenset({CLOSED, REJECTED})
# Past its deadline in one of these, a task is overdue (handled or later: the work is done).
UNHANDLED = frozenset({REPORTED, ASSIGNED, ACCEPTED, IN_PROGRESS})
REJECT_REASONS = ("outside_remit", "duplicate", "unfounded")
REOPEN_WINDOW = timedelta(days=7)

# Capacities a caller can hold towards one task (see `capacities`); "system" is the platform.
ASSIGNEE, LEVEL1, COORDINATOR, ADMIN, REPORTER, SYSTEM = (
    "assignee", "level1", "coordinator", "admin", "reporter", "system",
)
MANAGERS = frozenset({LEVEL1, COORDINATOR, ADMIN})


@dataclass(frozen=True)
class Step:
    sources: frozenset[str]
    target: str
    by: frozenset[str]


# THE table. `assign` is the platform's routing of a new report; `withdraw` is the platform's
# too: a task of a draw that another draw replaced, not yet handled, so its inspectors do not
# check the entity for both draws (rejected, reason `replaced`); `reassign` keeps `assigned`
# with another assignee; `close` only follows `verify` (so the level-1 supervisor's close is
# "after verify" by construction); `reopen` is the reporter's, within REOPEN_WINDOW of closing.
TRANSITIONS: dict[str, Step] = {
    "assign": Step(frozenset({REPORTED}), ASSIGNED, frozenset({SYSTEM})),
    "accept": Step(frozenset({ASSIGNED}), ACCEPTED, frozenset({ASSIGNEE})),
    "start": Step(frozenset({ACCEPTED}), IN_PROGRESS, frozenset({ASSIGNEE})),
    "handle": Step(frozenset({IN_PROGRESS}), HANDLED, frozenset({ASSIGNEE})),
    "verify": Step(frozenset({HANDLED}), VERIFIED, MANAGERS),
    "close": Step(frozenset({VERIFIED}), CLOSED, MANAGERS),
    "reject": Step(frozenset({REPORTED, ASSIGNED}), REJECTED, MANAGERS),
    "reassign": Step(frozenset({REPORTED, ASSIGNED}), ASSIGNED, MANAGERS),
    "reopen": Step(frozenset({CLOSED}), ASSIGNED, frozenset({REPORTER})),
    "withdraw": Step(frozenset({REPORTED, ASSIGNED, ACCEPTED, IN_PROGRESS}), REJECTED, frozenset({SYSTEM})),
}
# The platform's own steps: no caller takes them through the API.
SYSTEM_STEPS = frozenset({"assign", "withdraw"})
ACTIONS: tuple[str, ...] = tuple(a for a in TRANSITIONS if a not in SYSTEM_STEPS)
# The reason a withdrawn task carries (beside a manager's REJECT_REASONS).
WITHDRAWN_REASON = "replaced"
# Actions that hand the task to someone: the assignee's device is told.
ASSIGNING = frozenset({"assign", "reassign", "reopen"})


def capacities(role: str, person: str | None, account: str, task: dict, level1_supervisor: str | None) -> frozenset[str]:
    """What the caller is towards this task: its assignee, the level-1 supervisor of its grid,
    a coordinator or admin, its reporter (the account that filed it, or its person)."""
    out = set()
    if role in (COORDINATOR, ADMIN):
        out.add(role)
    if role == "supervisor" and person:
        if person == task.get("assignee"):
            out.add(ASSIGNEE)
        if person == level1_supervisor:
            out.add(LEVEL1)
    if account == task.get("reporter_account") or (person and person == task.get("reporter")):
        out.add(REPORTER)
    return frozenset(out)


def decide(state: str, action: str, held: frozenset[str], *, now: datetime | None = None,
           closed_at: datetime | None = None, note: str | None = None, reason: str | None = None,
           assignee: str | None = None, duplicate_of: str | None = None) -> str:
    """The state `action` leads to from `state` for a caller holding `held`, or raises:
    Invalid (unknown action, a missing field: 422), Forbidden (not this caller's step: 403),
    Conflict (not from this state, the reopen window past: 409)."""
    step = TRANSITIONS.get(action)
    if step is None or (action in SYSTEM_STEPS and SYSTEM not in held):
        raise Invalid(f"unknown action {action!r}", allowed=list(ACTIONS))
    if not (held & step.by):
        raise Forbidden(f"{action} is for {', '.join(sorted(step.by))}", action=action)
    if state not in step.sources:
        raise Conflict(f"cannot {action} a task that is {state}",
                       reason=f"{action} needs the task {' or '.join(sorted(step.sources))}, it is {state}",
                       state=state)
    if action == "handle" and not (note or "").strip():
        raise Invalid("handle needs a note: what was done", field="note")
    if action == "reject":
        if reason not in REJECT_REASONS:
            raise Invalid("reject needs a reason", field="reason", allowed=list(REJECT_REASONS))
        if reason == "duplicate" and not duplicate_of:
            raise Invalid("a duplicate names the task it repeats", field="duplicate_of")
    if action in ("reassign", "assign") and not assignee:
        raise Invalid(f"{action} needs an assignee (a person id)", field="assignee")
    if action == "reopen":
        if closed_at is None or now is None or now - closed_at > REOPEN_WINDOW:
            raise Conflict("the reopen window has passed",
                           reason=f"a task may be reopened within {REOPEN_WINDOW.days} days of closing")
    return step.target


def overdue(state: str, deadline: datetime, now: datetime) -> bool:
    return state in UNHANDLED and now > deadline


def open311_status(state: str) -> str:
    return "closed" if state in FINISHED else "open"


# -- routing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    grid: str
    level1: str
    branch: str | None
    assignee: str | None          # person id
    level1_supervisor: str | None
    deadline: datetime


class Outside(Invalid):
    """The point lies outside every level-2 grid of the jurisdiction."""


def route(lat: float, lon: float, hours: int, reported_at: datetime, *, index, registry,
          branch_of: dict) -> Route:
    """Point + category hours -> the level-2 grid there -> its responsible level-2 supervisor
    (none on record: the level-1 supervisor); deadline = reported time + the category's hours."""
    l1, l2 = index.locate_one(lat, lon)
    if l2 is None:
        raise Outside(f"({lat}, {lon}) lies outside the jurisdiction's grids", field="lat")
    resp = registry.responsible(l2)
    l1_sup = resp.get("l1_supervisor")
    l2_sup = resp.get("l2_supervisor")
    who = l2_sup or l1_sup
    return Route(grid=l2, level1=l1, branch=branch_of.get(l1), assignee=who.id if who else None,
                 level1_supervisor=l1_sup.id if l1_sup else None,
                 deadline=reported_at + timedelta(hours=hours))
