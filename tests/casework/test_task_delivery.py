"""A task's downlink survives a crash between the PostgreSQL commit and the Redis outbox (the
sweep queues what was never queued, once), and a device coming back on duty is sent its
assigned tasks again; on real PostgreSQL and Redis."""
import time
from datetime import timedelta

import orjson
import pytest
import redis

from alerts import keys
from casework import task_delivery as D
from casework import task_store as S
from telemetry.keys import EVENTS
from tests.casework.test_task_store import NOW, _file, world  # noqa: F401 - the tasks' fixture
from tests.casework.test_tasks import geo  # noqa: F401

ROOT = "gw"


@pytest.fixture
def r(settings):
    c = redis.Redis.from_url(settings.redis_url)
    yield c
    c.close()


def queued_for(r, task_id: str) -> list[tuple[str, dict]]:
    out = []
    for _id, f in r.xrange(keys.OUTBOX):
        m = orjson.loads(f[b"payload"])
        if m.get("_type") == "task" and m.get("id") == task_id:
            out.append((f[b"topic"].decode(), m))
    return out


def test_a_task_never_queued_is_queued_by_the_sweep_once(world, r):  # noqa: F811
    devices = {p.id: p.device for p in (world.resp["l2_supervisor"], world.resp["l1_supervisor"])}
    # committed, and the web process died before Redis: nothing in the outbox, no marker
    task, _ = _file(world)
    tid, dev = task["id"], devices[task["assignee"]]
    assert queued_for(r, tid) == []
    # within the grace the web process may still be queueing it: left alone
    assert tid not in D.resend_unsent(world.conn, r, ROOT, devices.get, now=NOW + timedelta(seconds=5))
    later = NOW + timedelta(seconds=D.GRACE_S + 1)
    assert tid in D.resend_unsent(world.conn, r, ROOT, devices.get, now=later)
    [(topic, msg)] = queued_for(r, tid)
    assert topic == f"{ROOT}/{dev}/orders"
    assert msg["grid"] == world.grid and msg["category"] == "food_safety" and msg["title"].startswith("食品安全")
    # the next pass sees the marker: not again
    assert tid not in D.resend_unsent(world.conn, r, ROOT, devices.get, now=later)
    assert len(queued_for(r, tid)) == 1
    # reassigned and again not queued: the marker names the old assignee, so the new one's goes
    l1 = world.resp["l1_supervisor"].id
    S.act(world.conn, tid, "reassign", world.coord, level1_supervisor=world.l1, assignee=l1, now=NOW)
    assert tid in D.resend_unsent(world.conn, r, ROOT, devices.get, now=later)
    assert [t for t, _ in queued_for(r, tid)] == [f"{ROOT}/{dev}/orders", f"{ROOT}/{devices[l1]}/orders"]


def test_a_task_queued_by_the_web_process_is_not_sent_twice(world, r):  # noqa: F811
    task, _ = _file(world, category="price")
    dev = world.resp["l2_supervisor"].device
    S.queue_downlink(r, ROOT, dev, task, "价格违法: x")
    assert task["id"] not in D.resend_unsent(world.conn, r, ROOT, {world.resp["l2_supervisor"].id: dev}.get,
                                             now=NOW + timedelta(minutes=5))
    assert len(queued_for(r, task["id"])) == 1


def _status(r, device, person, st, prev):
    r.xadd(EVENTS, {"kind": "status", "device": device, "person": person, "role": "l2_supervisor",
                    "at": repr(time.time()), "st": st, "prev": prev, "tst": str(int(time.time()))})


def test_a_device_back_on_duty_is_sent_its_assigned_tasks_again(world, r):  # noqa: F811
    sup = world.resp["l2_supervisor"]
    D.ensure_group(r)
    D.resend_on_return(world.conn, r, ROOT, D.CONSUMER)      # what earlier tests left in the stream
    waiting, _ = _file(world, category="false_ad")
    taken, _ = _file(world, category="price", dlat=0.0005)
    S.act(world.conn, taken["id"], "accept", world.assignee, level1_supervisor=world.l1, now=NOW)
    _status(r, sup.device, sup.id, "busy", "on_duty")          # not a return
    assert D.resend_on_return(world.conn, r, ROOT, D.CONSUMER) == []
    _status(r, sup.device, sup.id, "on_duty", "off_duty")      # back on duty
    sent = D.resend_on_return(world.conn, r, ROOT, D.CONSUMER)
    assert waiting["id"] in sent and taken["id"] not in sent   # accepted: he has it already
    [(topic, msg)] = queued_for(r, waiting["id"])
    assert topic == f"{ROOT}/{sup.device}/orders" and msg["_type"] == "task"
    # the event is acknowledged: the next pass sends nothing
    assert D.resend_on_return(world.conn, r, ROOT, D.CONSUMER) == []
    assert r.xpending(EVENTS, D.GROUP)["pending"] == 0
