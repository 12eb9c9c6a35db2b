"""The tasks' store on a real PostgreSQL: create with routing and audit, actions under a row
lock, history and media, duplicates, visibility."""
import threading
from datetime import datetime, timedelta, timezone

import pytest

from alerts.errors import Conflict, Forbidden, Invalid, NotFound
from casework import task_store as S
from casework import tasks as T
from gridwatch.db import connect
from tests.casework.test_tasks import _inside, geo  # noqa: F401 - the routing fixture

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def world(geo, records_url):  # noqa: F811
    ds, index, registry, branch_of = geo
    l2 = ds.grids[ds.grids["level"] == 2]
    gid = next(g for g in l2["id"] if registry.responsible(g)["l2_supervisor"] and registry.responsible(g)["assistants"])
    resp = registry.responsible(gid)
    w = type("W", (), {})()
    w.ds, w.grid, w.resp = ds, gid, resp
    w.lat, w.lon = _inside(ds, gid)
    w.router = lambda lat, lon, hours, at: T.route(lat, lon, hours, at, index=index, registry=registry, branch_of=branch_of)
    w.l1 = lambda row: registry.responsible(row["grid"])["l1_supervisor"].id
    w.reporter = S.Viewer("rep1", "reporter", resp["assistants"][0].id)
    w.assignee = S.Viewer("sup2", "supervisor", resp["l2_supervisor"].id, (gid,))
    w.level1 = S.Viewer("sup1", "supervisor", resp["l1_supervisor"].id, (resp["l1_supervisor"].grids))
    w.coord = S.Viewer("coord1", "coordinator")
    w.conn = connect(records_url)
    yield w
    w.conn.close()


def _file(w, category="food_safety", dlat=0.0, now=NOW, viewer=None):
    return S.create(w.conn, category=category, lat=w.lat + dlat, lon=w.lon, description="过期食品",
                    viewer=viewer or w.reporter, router=w.router, now=now)


def test_create_routes_to_the_level2_supervisor_with_audit(world):
    task, dup = _file(world)
    assert dup is None and task["state"] == "assigned" and task["assignee"] == world.resp["l2_supervisor"].id
    assert task["grid"] == world.grid and task["deadline"] == NOW + timedelta(hours=24)
    assert task["reporter"] == world.reporter.person and task["reporter_account"] == "rep1"
    got = S.get(world.conn, task["id"], world.reporter, now=NOW)
    assert [h["action"] for h in got["history"]] == ["report", "assign"]
    assert got["history"][1]["after"] == {"state": "assigned", "assignee": task["assignee"]}
    assert got["overdue"] is False
    assert S.get(world.conn, task["id"], world.coord, now=NOW + timedelta(hours=25))["overdue"] is True


def test_unknown_category_or_entity_is_refused(world):
    with pytest.raises(Invalid) as e:
        _file(world, category="ufo")
    assert e.value.detail["field"] == "service_code"
    with pytest.raises(Invalid):
        S.create(world.conn, category="price", lat=world.lat, lon=world.lon, description="x" * 2001,
                 viewer=world.reporter, router=world.router)
    with pytest.raises(Invalid) as e:
        S.create(world.conn, category="price", lat=world.lat, lon=world.lon, description="x", uscc="91360600MA00000000",
                 viewer=world.reporter, router=world.router)
    assert e.value.detail["field"] == "attribute[uscc]"


def test_the_closed_loop_with_history_and_roles(world):
    task, _ = _file(world)
    tid, c = task["id"], world.conn
    with pytest.raises(Forbidden):
        S.act(c, tid, "accept", world.level1, level1_supervisor=world.l1)
    with pytest.raises(Conflict):
        S.act(c, tid, "handle", world.assignee, level1_supervisor=world.l1, note="x")
    t1 = NOW + timedelta(minutes=5)
    assert S.act(c, tid, "accept", world.assignee, level1_supervisor=world.l1, now=t1)["accepted_at"] == t1
    S.act(c, tid, "start", world.assignee, level1_supervisor=world.l1)
    with pytest.raises(Invalid):
        S.act(c, tid, "handle", world.assignee, level1_supervisor=world.l1)
    done = S.act(c, tid, "handle", world.assignee, level1_supervisor=world.l1, note="责令下架")
    assert done["state"] == "handled" and done["feedback"] == "责令下架"
    with pytest.raises(Forbidden):
        S.act(c, tid, "verify", world.assignee, level1_supervisor=world.l1)
    S.act(c, tid, "verify", world.level1, level1_supervisor=world.l1)
    closed = S.act(c, tid, "close", world.level1, level1_supervisor=world.l1, now=NOW + timedelta(hours=1))
    assert closed["state"] == "closed"
    with pytest.raises(Forbidden):
        S.act(c, tid, "reopen", world.coord, level1_supervisor=world.l1)
    back = S.act(c, tid, "reopen", world.reporter, level1_supervisor=world.l1, note="又在卖", now=NOW + timedelta(days=2))
    assert back["state"] == "assigned" and back["closed_at"] is None
    hist = S.get(c, tid, world.coord)["history"]
    assert [h["action"] for h in hist] == ["report", "assign", "accept", "start", "handle", "verify", "close", "reopen"]
    assert hist[4]["actor"] == "user:sup2" and hist[4]["note"] == "责令下架"
    assert hist[4]["before"]["state"] == "in_progress" and hist[4]["after"]["state"] == "handled"


def test_reject_and_reassign(world):
    a, _ = _file(world)
    b, dup = _file(world, dlat=0.0003)          # ~33 m away, same category: named, still filed
    assert dup == a["id"] and b["id"] != a["id"]
    with pytest.raises(Invalid):
        S.act(world.conn, b["id"], "reject", world.coord, level1_supervisor=world.l1, reason="duplicate",
              duplicate_of="T-none")
    r = S.act(world.conn, b["id"], "reject", world.coord, level1_supervisor=world.l1, reason="duplicate",
              duplicate_of=a["id"])
    assert r["state"] == "rejected" and r["duplicate_of"] == a["id"]
    moved = S.act(world.conn, a["id"], "reassign", world.level1, level1_supervisor=world.l1,
                  assignee=world.resp["l1_supervisor"].id)
    assert moved["state"] == "assigned" and moved["assignee"] == world.resp["l1_supervisor"].id
    assert S.get(world.conn, a["id"], world.coord)["history"][-1]["after"]["assignee"] == moved["assignee"]


def test_duplicates_need_same_category_100m_24h_and_open(world):
    a, _ = _file(world)
    assert _file(world, category="price")[1] is None
    assert _file(world, dlat=0.0015)[1] is None                          # ~170 m
    assert _file(world, now=NOW + timedelta(hours=25))[1] is None        # a day later
    S.act(world.conn, a["id"], "reject", world.coord, level1_supervisor=world.l1, reason="unfounded")
    assert _file(world, dlat=0.0001)[1] != a["id"]


def test_visibility(world):
    mine, _ = _file(world)
    other = S.Viewer("rep9", "reporter", "nobody")
    stranger = S.Viewer("sup9", "supervisor", "p-none", ("G-none",))
    for v in (other, stranger, S.Viewer("x", "duty_clerk")):
        with pytest.raises(NotFound):
            S.get(world.conn, mine["id"], v)
        with pytest.raises(NotFound):
            S.act(world.conn, mine["id"], "accept", v, level1_supervisor=world.l1)
        assert mine["id"] not in {t["id"] for t in S.list_tasks(world.conn, v)}
    for v in (world.reporter, world.assignee, world.level1, world.coord, S.Viewer("v", "viewer")):
        assert mine["id"] in {t["id"] for t in S.list_tasks(world.conn, v, limit=1000)}
    rows = S.list_tasks(world.conn, world.reporter)
    assert rows and all(t["reporter_account"] == "rep1" or t["reporter"] == world.reporter.person for t in rows)
    assert [t["id"] for t in S.list_tasks(world.conn, world.coord, state="assigned", grid=world.grid,
                                          assignee=mine["assignee"], ids=[mine["id"]])] == [mine["id"]]
    with pytest.raises(Invalid):
        S.list_tasks(world.conn, world.coord, state="lost")


def test_two_accepts_at_once_one_wins(world, records_url):
    task, _ = _file(world)
    results = []

    def go():
        with connect(records_url) as c:
            try:
                S.act(c, task["id"], "accept", world.assignee, level1_supervisor=world.l1)
                results.append("ok")
            except Conflict:
                results.append("409")

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["409", "409", "409", "ok"]
    assert [h["action"] for h in S.get(world.conn, task["id"], world.coord)["history"]].count("accept") == 1


def test_closed_tasks_are_sealed_after_the_reopen_window(world):
    from casework.seal import verify

    t0 = NOW - timedelta(days=10)
    task, _ = _file(world, now=t0)
    tid, c, l1 = task["id"], world.conn, world.l1
    S.act(c, tid, "accept", world.assignee, level1_supervisor=l1, now=t0)
    S.act(c, tid, "start", world.assignee, level1_supervisor=l1, now=t0)
    S.act(c, tid, "handle", world.assignee, level1_supervisor=l1, note="ok", now=t0)
    S.act(c, tid, "verify", world.level1, level1_supervisor=l1, now=t0)
    S.act(c, tid, "close", world.coord, level1_supervisor=l1, now=t0 + timedelta(hours=1))
    young, _ = _file(world, category="price")
    # (the history's tasks closed in its last week are sealed here too: their window has passed)
    assert tid not in S.seal_closed(c, now=t0 + timedelta(days=6))
    assert tid in S.seal_closed(c, now=NOW)
    assert young["id"] not in S.seal_closed(c, now=NOW)
    got = S.get(c, tid, world.coord)
    assert got["hash"] and got["sealed_at"] and got["history"][-1]["action"] == "seal"
    with pytest.raises(Conflict):
        S.act(c, tid, "reopen", world.reporter, level1_supervisor=l1, now=NOW)
    assert verify(c).ok
