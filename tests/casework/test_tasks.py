"""The tasks' pure core: the one transition table, who may take each step, and routing."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from alerts.errors import Conflict, Forbidden, Invalid
from casework import tasks as T
from tests.conftest import loaded

NOW = datetime(2026, 9, 29, 2, 0, tzinfo=timezone.utc)
EVERYONE = frozenset({T.ASSIGNEE, T.LEVEL1, T.COORDINATOR, T.ADMIN, T.REPORTER})

# (state, action, caller holds, extra fields) -> the state reached, or the error class
CASES = [
    ("assigned", "accept", {T.ASSIGNEE}, {}, "accepted"),
    ("accepted", "start", {T.ASSIGNEE}, {}, "in_progress"),
    ("in_progress", "handle", {T.ASSIGNEE}, {"note": "done"}, "handled"),
    ("in_progress", "handle", {T.ASSIGNEE}, {"note": "  "}, Invalid),
    ("handled", "verify", {T.LEVEL1}, {}, "verified"),
    ("handled", "verify", {T.COORDINATOR}, {}, "verified"),
    ("handled", "verify", {T.ASSIGNEE}, {}, Forbidden),
    ("verified", "close", {T.LEVEL1}, {}, "closed"),
    ("verified", "close", {T.ADMIN}, {}, "closed"),
    ("handled", "close", {T.COORDINATOR}, {}, Conflict),     # closed only through verified
    ("handled", "close", {T.LEVEL1}, {}, Conflict),          # level-1 only after verify
    ("assigned", "accept", {T.LEVEL1}, {}, Forbidden),       # accept is the assignee's
    ("assigned", "accept", {T.REPORTER}, {}, Forbidden),
    ("accepted", "accept", {T.ASSIGNEE}, {}, Conflict),
    ("assigned", "handle", {T.ASSIGNEE}, {"note": "x"}, Conflict),
    ("reported", "reject", {T.LEVEL1}, {"reason": "unfounded"}, "rejected"),
    ("assigned", "reject", {T.COORDINATOR}, {"reason": "outside_remit"}, "rejected"),
    ("assigned", "reject", {T.COORDINATOR}, {"reason": "duplicate", "duplicate_of": "T1"}, "rejected"),
    ("assigned", "reject", {T.COORDINATOR}, {"reason": "duplicate"}, Invalid),
    ("assigned", "reject", {T.COORDINATOR}, {"reason": "boring"}, Invalid),
    ("accepted", "reject", {T.COORDINATOR}, {"reason": "unfounded"}, Conflict),
    ("assigned", "reject", {T.ASSIGNEE}, {"reason": "unfounded"}, Forbidden),
    ("assigned", "reassign", {T.LEVEL1}, {"assignee": "p2"}, "assigned"),
    ("assigned", "reassign", {T.ADMIN}, {}, Invalid),
    ("assigned", "reassign", {T.ASSIGNEE}, {"assignee": "p2"}, Forbidden),
    ("in_progress", "reassign", {T.COORDINATOR}, {"assignee": "p2"}, Conflict),
    ("closed", "reopen", {T.REPORTER}, {"closed_at": NOW - timedelta(days=6)}, "assigned"),
    ("closed", "reopen", {T.REPORTER}, {"closed_at": NOW - timedelta(days=8)}, Conflict),
    ("closed", "reopen", {T.COORDINATOR}, {"closed_at": NOW - timedelta(days=1)}, Forbidden),
    ("rejected", "reopen", {T.REPORTER}, {}, Conflict),
    ("reported", "assign", {T.COORDINATOR}, {"assignee": "p1"}, Invalid),   # the platform's only
    ("reported", "assign", {T.SYSTEM}, {"assignee": "p1"}, "assigned"),
    # a replaced draw's task, not yet handled, is withdrawn by the platform only
    ("in_progress", "withdraw", {T.SYSTEM}, {}, "rejected"),
    ("accepted", "withdraw", {T.SYSTEM}, {}, "rejected"),
    ("assigned", "withdraw", {T.SYSTEM}, {}, "rejected"),
    ("handled", "withdraw", {T.SYSTEM}, {}, Conflict),                 # the work is done: kept
    ("assigned", "withdraw", EVERYONE, {}, Invalid),
    ("assigned", "fly", EVERYONE, {}, Invalid),
]


@pytest.mark.parametrize("state,action,held,extra,expect", CASES)
def test_transition_table(state, action, held, extra, expect):
    call = lambda: T.decide(state, action, frozenset(held), now=NOW, **extra)  # noqa: E731
    if isinstance(expect, str):
        assert call() == expect
    else:
        with pytest.raises(expect):
            call()


def test_the_platforms_steps_are_no_callers_action():
    assert "assign" not in T.ACTIONS and "withdraw" not in T.ACTIONS
    assert set(T.ACTIONS) | T.SYSTEM_STEPS == set(T.TRANSITIONS)


def test_error_statuses_are_403_409_422():
    assert Forbidden("x").status == 403 and Conflict("x").status == 409 and Invalid("x").status == 422


@pytest.mark.parametrize("role,person,account,expect", [
    ("supervisor", "p-l2", "sup", {T.ASSIGNEE}),
    ("supervisor", "p-l1", "sup1", {T.LEVEL1}),
    ("supervisor", "p-other", "sup2", set()),
    ("coordinator", None, "c", {T.COORDINATOR}),
    ("admin", None, "a", {T.ADMIN}),
    ("viewer", None, "v", set()),
    ("reporter", "p-rep", "rep", {T.REPORTER}),
    ("viewer", None, "rep", {T.REPORTER}),          # the account that filed it
    ("reporter", "p-l2", "x", set()),               # a reporter account never acts as assignee
])
def test_capacities(role, person, account, expect):
    task = {"assignee": "p-l2", "reporter": "p-rep", "reporter_account": "rep"}
    assert T.capacities(role, person, account, task, "p-l1") == frozenset(expect)


def test_overdue_only_while_unhandled():
    d = NOW - timedelta(minutes=1)
    assert T.overdue("accepted", d, NOW) and not T.overdue("handled", d, NOW)
    assert not T.overdue("assigned", NOW + timedelta(hours=1), NOW)


# -- property: random action sequences stay inside the table ------------------------------------

def _walk(actions):
    """Apply the sequence from `reported` (the platform assigns first), any caller, skipping
    refused steps; returns the states passed through and the steps applied."""
    state, closed_at, path = T.REPORTED, None, [T.REPORTED]
    applied = []
    now = NOW
    for action, held, days in actions:
        now = now + timedelta(days=days)
        try:
            new = T.decide(state, action, held, now=now, closed_at=closed_at, note="n",
                           reason="unfounded", assignee="p9")
        except (Conflict, Forbidden, Invalid):
            continue
        assert T.TRANSITIONS[action].target == new and state in T.TRANSITIONS[action].sources
        assert held & T.TRANSITIONS[action].by
        if new == T.CLOSED:
            closed_at = now
        applied.append((state, action, new))
        state = new
        path.append(state)
    return path, applied


caller = st.sampled_from([frozenset({c}) for c in (*EVERYONE, T.SYSTEM)] + [EVERYONE])
steps = st.lists(st.tuples(st.sampled_from([*T.TRANSITIONS, "bogus"]), caller, st.sampled_from([0, 0, 3, 8])),
                 max_size=40)


@hsettings(max_examples=400, deadline=None)
@given(steps)
def test_random_sequences_never_leave_the_table(actions):
    path, applied = _walk(actions)
    allowed = {(s, step.target) for step in T.TRANSITIONS.values() for s in step.sources}
    for a, b in zip(path, path[1:]):
        assert a == b or (a, b) in allowed
    for before, action, after in applied:
        if after == T.CLOSED:
            assert before == T.VERIFIED                       # closed only through verified
        if after == T.VERIFIED:
            assert before == T.HANDLED
        if before == T.REJECTED:
            raise AssertionError("rejected is final")
        if action == "reopen":
            assert before == T.CLOSED
    assert all(s in T.STATES for s in path)


def test_every_state_reachable_and_rejected_final():
    targets = {s.target for s in T.TRANSITIONS.values()}
    assert targets | {T.REPORTED} == set(T.STATES)
    assert not [a for a, s in T.TRANSITIONS.items() if T.REJECTED in s.sources]


# -- routing ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def geo(demo_data):
    from geodata.index import GridIndex
    from geodata.registry import Registry

    ds = loaded(demo_data)
    l1 = ds.grids[ds.grids["level"] == 1]
    return ds, GridIndex.from_grids(ds.grids), Registry(ds), dict(zip(l1["id"], l1["branch"]))


class _NoL2(dict):
    """A registry where a grid has no level-2 supervisor on record."""

    def __init__(self, registry):
        super().__init__()
        self.registry = registry

    def responsible(self, grid):
        return {**self.registry.responsible(grid), "l2_supervisor": None}


def _inside(ds, level2_id):
    g = ds.grids.set_index("id").loc[level2_id, "geometry"]
    p = g.representative_point()
    return p.y, p.x


def test_route_table(geo):
    ds, index, registry, branch_of = geo
    l2 = ds.grids[ds.grids["level"] == 2]
    gid = l2["id"].iloc[3]
    lat, lon = _inside(ds, gid)
    resp = registry.responsible(gid)
    t0 = NOW
    rows = [  # (lat, lon, hours, registry) -> (grid, assignee, deadline)
        (lat, lon, 24, registry, (gid, (resp["l2_supervisor"] or resp["l1_supervisor"]).id, t0 + timedelta(hours=24))),
        (lat, lon, 72, _NoL2(registry), (gid, resp["l1_supervisor"].id, t0 + timedelta(hours=72))),
        (0.0, 0.0, 24, registry, T.Outside),
    ]
    for la, lo, hours, reg, expect in rows:
        if isinstance(expect, type):
            with pytest.raises(expect) as ei:
                T.route(la, lo, hours, t0, index=index, registry=reg, branch_of=branch_of)
            assert ei.value.status == 422 and ei.value.detail["field"] == "lat"
            continue
        r = T.route(la, lo, hours, t0, index=index, registry=reg, branch_of=branch_of)
        assert (r.grid, r.assignee, r.deadline) == expect
        assert r.level1 == ds.grids.set_index("id").loc[gid, "parent"]
        assert r.level1_supervisor == resp["l1_supervisor"].id and r.branch == branch_of[r.level1]
