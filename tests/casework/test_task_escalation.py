"""Tasks' escalation: not accepted in time or past the deadline unhandled -> a `task_overdue`
alert to the level-1 supervisor, once per cause, also across a restart (the record is in
PostgreSQL); delivered to his device by a real dispatcher and Mosquitto."""
import threading
from datetime import datetime, timedelta, timezone

import orjson
import pytest
import redis

from alerts import keys
from alerts.alerts import Alerts
from casework import task_escalation as E
from casework import task_store as S
from gridwatch.db import connect
from tests.casework.test_task_store import world  # noqa: F401 - the tasks' fixture
from tests.casework.test_tasks import geo  # noqa: F401

NOW = datetime.now(timezone.utc)


def level1_of(w):
    def f(grid):
        p = w.resp["l1_supervisor"] if grid == w.grid else None
        return (p.id, p.device) if p else None
    return f


@pytest.fixture
def r(settings):
    c = redis.Redis.from_url(settings.redis_url)
    yield c
    c.close()


def test_each_cause_once_also_after_a_restart(world, settings, records_url, r):  # noqa: F811
    old, _ = S.create(world.conn, category="food_safety", lat=world.lat, lon=world.lon, description="x",
                      viewer=world.reporter, router=world.router, now=NOW - timedelta(days=2))
    fresh, _ = S.create(world.conn, category="price", lat=world.lat, lon=world.lon, description="y",
                        viewer=world.reporter, router=world.router, now=NOW)
    late, _ = S.create(world.conn, category="special_equipment", lat=world.lat, lon=world.lon, description="z",
                       viewer=world.reporter, router=world.router, now=NOW - timedelta(days=3))
    S.act(world.conn, late["id"], "accept", world.assignee, level1_supervisor=world.l1, now=NOW - timedelta(days=3))
    got = E.escalate_due(world.conn, Alerts(r, settings), level1_of(world), 1800, now=NOW)
    assert sorted(got) == sorted([(old["id"], "not_accepted"), (old["id"], "past_deadline"),
                                  (late["id"], "past_deadline")])
    alerts = [a for a in Alerts(r, settings).list() if a["kind"] == "task_overdue"]
    mine = {(a["data"]["task"], a["data"]["cause"]): a for a in alerts}
    assert set(got) <= set(mine)
    a = mine[(old["id"], "not_accepted")]
    assert a["person"] == world.resp["l1_supervisor"].id and a["grid"] == world.grid
    # his device's downlink is queued in the outbox
    queued = [orjson.loads(f[b"payload"]) for _id, f in r.xrange(keys.OUTBOX)]
    assert any(m.get("kind") == "task_overdue" and m.get("task") == old["id"] for m in queued)
    # a restarted dispatcher (new connection, new desk) raises nothing again, even with the
    # alerts cleared meanwhile: "once" is written in PostgreSQL
    for cause in E.CAUSES:
        Alerts(r, settings).clear(E.KIND, E.subject(old["id"], cause), "test", "cleared")
    with connect(records_url) as conn:
        # an hour on, only the fresh task has come due (not accepted within 1800 s)
        assert E.escalate_due(conn, Alerts(r, settings), level1_of(world), 1800,
                              now=NOW + timedelta(hours=1)) == [(fresh["id"], "not_accepted")]
    hist = S.get(world.conn, old["id"], world.coord)["history"]
    assert [h["after"]["cause"] for h in hist if h["action"] == "escalate"] == ["not_accepted", "past_deadline"]
    assert fresh["id"] not in {t for t, _ in got}


def test_accepting_ends_the_cause_before_it_is_raised(world, settings, r):  # noqa: F811
    t, _ = S.create(world.conn, category="other", lat=world.lat, lon=world.lon, description="x",
                    viewer=world.reporter, router=world.router, now=NOW - timedelta(hours=1))
    S.act(world.conn, t["id"], "accept", world.assignee, level1_supervisor=world.l1)
    assert E.escalate_due(world.conn, Alerts(r, settings), level1_of(world), 1800, now=NOW) == []


def test_dispatcher_delivers_task_overdue_to_the_level1_device(world, geo, settings, records_url):  # noqa: F811
    from alerts.dispatcher import Dispatcher
    from alerts.live import RedisWorld
    from tests.alerts.field import Terminal
    from testkit.waiting import wait_for

    ds = geo[0]
    s = settings.model_copy(update={"database_url": records_url, "check_interval_s": 0.2})
    t, _ = S.create(world.conn, category="food_safety", lat=world.lat, lon=world.lon, description="x",
                    viewer=world.reporter, router=world.router, now=NOW - timedelta(days=2))
    dev = world.resp["l1_supervisor"].device
    phone = Terminal(s, dev)
    d = Dispatcher(s, name="tasks-esc", world_factory=lambda rr: RedisWorld(rr, s, dataset=ds),
                   periodic=(E.job(s),))
    th = threading.Thread(target=d.run, kwargs={"install_signals": False}, daemon=True)
    th.start()
    try:
        wait_for(lambda: any(m.get("task") == t["id"] for m in phone.received), what="task_overdue on the device")
        msg = next(m for m in phone.received if m.get("task") == t["id"])
        assert msg["_type"] == "alert" and msg["kind"] == "task_overdue" and msg["_topic"].endswith(f"/{dev}/alerts")
    finally:
        d.stop.set()
        th.join(10)
        phone.disconnect()


def test_the_answering_action_clears_its_alert(world, settings, r):  # noqa: F811
    t, _ = S.create(world.conn, category="food_safety", lat=world.lat, lon=world.lon, description="x",
                    viewer=world.reporter, router=world.router, now=NOW - timedelta(days=2))
    desk = Alerts(r, settings)
    assert len(E.escalate_due(world.conn, desk, level1_of(world), 1800, now=NOW)) == 2
    S.act(world.conn, t["id"], "accept", world.assignee, level1_supervisor=world.l1)
    E.clear_answered(desk, t["id"], "accept", "user:sup2")
    assert desk.active(E.KIND, E.subject(t["id"], "not_accepted")) is None
    assert desk.active(E.KIND, E.subject(t["id"], "past_deadline")) is not None   # still unhandled
