"""End to end on real Mosquitto and Redis, paho clients as terminals: telemetry's ingest turns
their reports into the live store and events, the dispatcher delivers orders, moves states on
acks, escalates silence, raises SOS; it survives kill -9 and Redis survives a restart (AOF)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from alerts import audit, keys
from alerts.alerts import Alerts
from alerts.dispatcher import Dispatcher
from alerts.orders import Orders

from .conftest import issue
from .field import PEOPLE, POINT, Ingest, StoreUplink, Terminal, ingest_available, small_dataset, wait_for

ROOT = Path(__file__).resolve().parents[2]


class Field:
    def __init__(self, settings):
        from alerts.live import RedisWorld

        self.settings = settings
        self.r = redis.Redis.from_url(settings.redis_url)
        self.dataset = small_dataset()
        self.world = RedisWorld(self.r, settings, dataset=self.dataset)
        if ingest_available():
            self.ingest, self.uplink = Ingest(settings, self.dataset, self.world.index).start(), None
        else:
            self.ingest, self.uplink = None, StoreUplink(settings, self.dataset, self.world)
        self.terminals = {d: Terminal(settings, d, self.uplink) for _, _, _, d, _ in PEOPLE if d}
        self.dispatchers: list[tuple[Dispatcher, threading.Thread]] = []
        self.orders = Orders(self.r, settings, self.world)
        self.alerts = Alerts(self.r, settings, self.world, self.orders)

    def report_all(self):
        for t in self.terminals.values():
            t.report(st="on_duty")
        wait_for(lambda: len(self.world.devices()) == len(self.terminals), what="every terminal in the live store")

    def start_dispatcher(self, name="d1") -> Dispatcher:
        d = Dispatcher(self.settings, name=name, world_factory=lambda r: self.world)
        t = threading.Thread(target=d.run, kwargs={"install_signals": False}, daemon=True)
        t.start()
        self.dispatchers.append((d, t))
        return d

    def close(self):
        for d, t in self.dispatchers:
            d.stop.set()
            t.join(10)
        for t in self.terminals.values():
            t.disconnect()
        if self.ingest:
            self.ingest.close()
        if self.uplink:
            self.uplink.close()
        self.r.close()


@pytest.fixture
def make_field():
    made = []

    def make(settings):
        f = Field(settings)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def short(settings, **kw):
    return settings.model_copy(update={"ack_timeout_s": 1.5, "escalation_depth": 2, "check_interval_s": 0.5,
                                       "outbox_claim_idle_s": 1.0, **kw})


def test_order_reaches_responsible_and_nearest_and_acks_move_states(settings, rdb, make_field):
    f = make_field(short(settings, ack_timeout_s=30))
    f.report_all()
    f.start_dispatcher()
    order = issue(f.orders, POINT)
    assert {r["device"] for r in order["recipients"]} == {"dev-s1", "dev-a4", "dev-a5"}
    for dev in ("dev-s1", "dev-a4", "dev-a5"):
        msg = f.terminals[dev].wait(lambda m: m.get("id") == order["id"], what="the order")
        assert set(msg) - {"_topic", "_at"} == {"_type", "id", "kind", "priority", "title", "body", "lat",
                                                 "lon", "grid", "issued_at", "ack_by"}
        assert msg["grid"] == "A1" and msg["kind"] == "emergency"
    assert f.terminals["dev-a6"].orders() == []
    s1 = f.terminals["dev-s1"]
    for step in ("delivered", "acknowledged", "en_route", "on_scene", "completed"):
        s1.ack(order["id"], step)
        wait_for(lambda: {r["device"]: r["state"] for r in f.orders.get(order["id"])["recipients"]}["dev-s1"] == step,
                 what=f"dev-s1 {step}")
    f.terminals["dev-a4"].ack(order["id"], "declined", note="off sick")
    f.terminals["dev-a4"].ack(order["id"], "completed")  # illegal after declining: refused
    wait_for(lambda: f.dispatchers[0][0].counts["refused"] >= 1, what="the refusal")
    got = f.orders.get(order["id"])
    rec = {r["device"]: r for r in got["recipients"]}
    assert rec["dev-a4"]["state"] == "declined" and rec["dev-a4"]["note"] == "off sick"
    assert set(rec["dev-s1"]["t"]) == {"sent", "delivered", "acknowledged", "en_route", "on_scene", "completed"}
    actors = {e["actor"] for e in got["audit"] if e["kind"] == "recipient" and e["event"] == "transition"}
    assert actors == {"device:dev-s1", "device:dev-a4"}


def test_silence_escalates_to_next_nearest_and_alerts_level1(settings, rdb, make_field):
    f = make_field(short(settings))
    f.report_all()
    f.start_dispatcher()
    order = issue(f.orders, POINT)
    # nobody answers: after 1.5 s the next two nearest get it, the township head an alert
    for dev in ("dev-a6", "dev-s2"):
        f.terminals[dev].wait(lambda m: m.get("id") == order["id"], what="the escalated order")
    alert_msg = f.terminals["dev-l1a"].wait(lambda m: m.get("_type") == "alert", what="the escalation alert")
    assert alert_msg["order"] == order["id"] and alert_msg["kind"] == "escalation"
    got = f.orders.get(order["id"])
    states = {r["device"]: r["state"] for r in got["recipients"]}
    assert states["dev-s1"] == states["dev-a4"] == states["dev-a5"] == "timed_out"
    assert [a["person"] for a in f.alerts.list() if a["kind"] == "escalation"][-1] == "l1a"
    # an ack in the second round stops it: nobody else is asked, the alert clears
    f.terminals["dev-a6"].ack(order["id"], "acknowledged")
    wait_for(lambda: f.orders.get(order["id"])["acked_at"], what="the ack")
    time.sleep(2 * f.settings.ack_timeout_s)  # let a wrong timer fire if there were one
    got = f.orders.get(order["id"])
    assert got["round"] == 1 and len(got["recipients"]) == 5
    assert all(f.alerts.get(a)["state"] == "cleared" for a in got["alerts"])
    assert f.terminals["dev-s1"].orders() and not f.terminals["dev-a6"].orders("cancel")


def test_device_offline_during_the_order_gets_it_on_reconnect(settings, rdb, make_field):
    f = make_field(short(settings, ack_timeout_s=30))
    f.report_all()
    f.start_dispatcher()
    a5 = f.terminals["dev-a5"]
    a5.disconnect()  # the phone loses coverage; its position stays live for a while
    order = issue(f.orders, POINT)
    assert "dev-a5" in {r["device"] for r in order["recipients"]}
    wait_for(lambda: rdb.xlen(keys.OUTBOX) == 0, what="the outbox to drain")
    assert a5.orders() == []
    a5.connect()
    msg = a5.wait(lambda m: m.get("id") == order["id"], what="the queued order after reconnecting")
    assert msg["title"] == "stall fire"


def test_sos_raises_the_alert_and_an_order_to_the_nearest_colleagues(settings, rdb, make_field):
    f = make_field(short(settings, ack_timeout_s=30, sos_k=2))
    f.report_all()
    f.start_dispatcher()
    ps = rdb.pubsub()
    ps.subscribe(keys.CHANNEL_ALERTS)
    f.terminals["dev-a5"].status("sos", note="threatened")
    alert = wait_for(lambda: next((a for a in f.alerts.list() if a["kind"] == "sos"), None), what="the SOS alert")
    assert alert["device"] == "dev-a5" and alert["person"] == "a5" and alert["state"] == "open"
    order = f.orders.get(alert["order"])
    assert order["kind"] == "emergency" and order["source"] == "sos"
    helpers = {r["device"] for r in order["recipients"]}
    assert helpers == {"dev-a4", "dev-a6"}
    for dev in helpers:
        f.terminals[dev].wait(lambda m: m.get("id") == order["id"], what="the SOS order")
    wall = wait_for(lambda: ps.get_message(timeout=0.1), what="the wall notice")
    while wall["type"] != "message":
        wall = wait_for(lambda: ps.get_message(timeout=0.1), what="the wall notice")
    assert b'"sos"' in wall["data"]
    f.alerts.ack(alert["id"], "user:duty")
    f.terminals["dev-a5"].status("on_duty")
    wait_for(lambda: f.alerts.get(alert["id"])["state"] == "cleared", what="the SOS to clear")
    assert f.alerts.get(alert["id"])["acked_by"] == "user:duty"
    ps.close()


def _spawn_dispatcher(settings, name: str) -> subprocess.Popen:
    env = {**os.environ, "GRIDWATCH_REDIS_URL": settings.redis_url, "GRIDWATCH_MQTT_URL": settings.mqtt_url,
           "GRIDWATCH_ACK_TIMEOUT_S": str(settings.ack_timeout_s),
           "GRIDWATCH_ESCALATION_DEPTH": str(settings.escalation_depth),
           "GRIDWATCH_OUTBOX_CLAIM_IDLE_S": "1", "GRIDWATCH_CHECK_INTERVAL_S": "0.5"}
    return subprocess.Popen([sys.executable, "-m", "tests.alerts.dispatcher_proc", name], cwd=ROOT, env=env)


def test_dispatcher_killed_mid_escalation_fires_each_step_once(settings, rdb, make_field):
    s = short(settings, ack_timeout_s=1.0, escalation_depth=2)
    f = make_field(s)
    f.report_all()
    orders = [issue(f.orders, POINT, title=f"o{i}", k=1)["id"] for i in range(4)]
    proc = _spawn_dispatcher(s, "victim")
    try:
        wait_for(lambda: any(e.event == "escalated" for e in audit.read(rdb)), timeout=20, what="a first step")
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        time.sleep(2.5)  # steps fall due while no dispatcher runs
        proc = _spawn_dispatcher(s, "victim")
        second = _spawn_dispatcher(s, "other")  # and a second one racing it
        try:
            # depth 2: round 1 and 2 add supervisors, round 3 is the last timeout; then done
            wait_for(lambda: all(f.orders.get(o)["round"] == 3 for o in orders), timeout=30,
                     what="every order to run out its escalation")
            wait_for(lambda: rdb.xlen(keys.OUTBOX) == 0, timeout=10, what="the outbox to drain")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(10) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    for o in orders:
        steps = [e.data["round"] for e in audit.read_order(rdb, o) if e.event == "escalated"]
        assert steps == [1, 2, 3], (o, steps)
        recs = f.orders.get(o)["recipients"]
        assert len({r["device"] for r in recs}) == len(recs)  # nobody asked twice
        # every recipient got its order at least once (QoS 1: at least once)
        for r in recs:
            f.terminals[r["device"]].wait(lambda m: m.get("id") == o, what=f"order {o}")
    replayed = audit.replay(audit.read(rdb))
    assert replayed.problems == []


def test_redis_restart_with_aof_loses_no_order_or_audit_entry(settings, own_redis, make_field):
    s = short(settings.model_copy(update={"redis_url": own_redis.url}), ack_timeout_s=30)
    f = make_field(s)
    f.report_all()
    f.start_dispatcher()
    r = redis.Redis.from_url(own_redis.url)
    ids = [issue(f.orders, POINT, title=f"o{i}")["id"] for i in range(5)]
    f.orders.report(ids[0], "dev-s1", "acknowledged", "user:coord")
    f.orders.cancel(ids[1], "user:coord")
    f.alerts.raise_("offline", "dev-s3", "system:dispatcher", device="dev-s3")
    before_audit = [e.id for e in audit.read(r)]
    before = {o: f.orders.get(o, with_audit=False) for o in ids}
    time.sleep(1.5)  # appendfsync everysec: one fsync interval has passed
    own_redis.kill()
    own_redis.start()
    wait_for(lambda: _ping(r), what="Redis back")
    # nothing lost; the running dispatcher may have appended since (it clears the test's
    # offline alert: dev-s3 is live)
    assert [e.id for e in audit.read(r)][:len(before_audit)] == before_audit
    for o in ids:
        after = f.orders.get(o, with_audit=False)
        assert after["state"] == before[o]["state"]
        assert {x["device"]: x["state"] for x in after["recipients"]} == \
            {x["device"]: x["state"] for x in before[o]["recipients"]}
    assert audit.replay(audit.read(r)).problems == []
    # and the system goes on: a report after the restart is applied and logged
    f.orders.report(ids[2], "dev-a4", "acknowledged", "user:coord")
    assert audit.read(r)[-1].after == "acknowledged"
    r.close()


def _ping(r) -> bool:
    try:
        return r.ping()
    except redis.ConnectionError:
        return False
