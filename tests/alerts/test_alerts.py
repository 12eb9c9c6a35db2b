"""Alerts: the pure episode judge (offline, geofence with hysteresis, battery), and the alert
desk on real Redis: once per episode, cleared when the cause ends, acknowledged with actor,
SOS as alert plus order in one step, published on the wall channel."""
from __future__ import annotations

import dataclasses

import orjson
import pytest

from alerts import audit, keys
from alerts.alerts import Alerts, Thresholds, assess
from alerts.errors import NotFound
from alerts.orders import Orders
from alerts.world import DeviceView

TH = Thresholds(geofence_grace_s=300, geofence_clear_s=60, low_battery_pct=15, battery_margin_pct=5)
BASE = DeviceView("d", "p", "on_duty", "live", 28.0, 117.0, 80.0, 0.0, own_grids=("g2",), in_grids=("g1", "g2"))
OUT = dataclasses.replace(BASE, in_grids=("g1", "g9"))


def run(views_at):
    """Feed (t, view) pairs through assess; return the wanted alerts after each."""
    clock, out = {}, []
    for t, v in views_at:
        want, clock = assess(v, clock, t, TH)
        out.append({k for k, on in want.items() if on})
    return out


def test_offline_only_while_on_duty():
    assert run([(0, BASE), (10, dataclasses.replace(BASE, fresh="offline"))]) == [set(), {"offline"}]
    off = dataclasses.replace(BASE, status="off_duty")
    assert run([(0, off), (10, dataclasses.replace(off, fresh="offline"))]) == [set(), set()]
    assert run([(0, dataclasses.replace(BASE, status="offline"))]) == [{"offline"}]  # the will


def test_geofence_needs_the_grace_time_outside():
    assert run([(0, OUT), (299, OUT), (300, OUT), (301, BASE)]) == [set(), set(), {"left_grid"}, {"left_grid"}]


def test_geofence_does_not_flap_at_a_border():
    # Wobbling in and out every 20 s: the outside clock is not reset by short stays inside,
    # so the alert comes after the grace time and stays until a minute inside.
    seq = [(t, OUT if (t // 20) % 2 == 0 else BASE) for t in range(0, 400, 10)]
    wanted = run(seq)
    first = next(i for i, w in enumerate(wanted) if "left_grid" in w)
    assert seq[first][0] >= 300
    assert all("left_grid" in w for w in wanted[first:])
    back = run([(0, OUT), (300, OUT), (310, BASE), (369, BASE), (370, BASE), (380, BASE)])
    assert ["left_grid" in w for w in back] == [False, True, True, True, False, False]


def test_geofence_clock_stops_off_duty_and_without_own_grids():
    assert run([(0, dataclasses.replace(OUT, own_grids=())), (500, dataclasses.replace(OUT, own_grids=()))]) == [set(), set()]
    assert run([(0, OUT), (200, dataclasses.replace(OUT, status="off_duty")), (400, OUT), (600, OUT)]) == \
        [set(), set(), set(), set()]


def test_battery_with_hysteresis():
    b = lambda x: dataclasses.replace(BASE, battery=x)  # noqa: E731
    assert run([(0, b(16)), (1, b(14)), (2, b(17)), (3, b(19.9)), (4, b(20)), (5, b(16))]) == \
        [set(), {"low_battery"}, {"low_battery"}, {"low_battery"}, set(), set()]


# -- the desk on Redis ---------------------------------------------------------------------

def test_raise_once_per_episode_clear_and_raise_again(rdb, fast, world):
    desk = Alerts(rdb, fast, world)
    a = desk.raise_("low_battery", "d2", "system:dispatcher", now=1.0, device="d2", person="p2", title="low")
    assert a is not None and desk.raise_("low_battery", "d2", "system:dispatcher", now=2.0) is None
    assert desk.clear("low_battery", "d2", "system:dispatcher", "charged", now=3.0) == a["id"]
    assert desk.clear("low_battery", "d2", "system:dispatcher", "charged", now=4.0) is None
    b = desk.raise_("low_battery", "d2", "system:dispatcher", now=5.0, device="d2")
    assert b["id"] != a["id"]
    assert [x["state"] for x in desk.list()] == ["open", "cleared"]
    assert [x["id"] for x in desk.list("active")] == [b["id"]]


def test_ack_records_the_duty_officer_once(rdb, fast, world):
    desk = Alerts(rdb, fast, world)
    a = desk.raise_("offline", "d3", "system:dispatcher", now=1.0, device="d3")
    acked = desk.ack(a["id"], "user:duty1", note="calling him", now=2.0)
    assert acked["state"] == "acknowledged" and acked["acked_by"] == "user:duty1" and acked["acked_at"] == 2.0
    assert desk.ack(a["id"], "user:duty2", now=3.0)["acked_by"] == "user:duty1"
    desk.clear("offline", "d3", "system:dispatcher", "back", now=4.0)
    assert desk.get(a["id"])["state"] == "cleared"
    with pytest.raises(NotFound):
        desk.ack("A999999", "user:duty1")
    events = [(e.event, e.actor) for e in audit.read(rdb) if e.alert == a["id"]]
    assert events == [("raised", "system:dispatcher"), ("acknowledged", "user:duty1"), ("cleared", "system:dispatcher")]


def test_alerts_are_published_for_the_wall(rdb, fast, world):
    ps = rdb.pubsub()
    ps.subscribe(keys.CHANNEL_ALERTS)
    ps.get_message(timeout=1)
    Alerts(rdb, fast, world).raise_("offline", "d4", "system:dispatcher", device="d4", title="gone")
    msg = ps.get_message(timeout=2)
    body = orjson.loads(msg["data"])
    assert body["event"] == "raised" and body["data"]["kind"] == "offline" and body["data"]["device"] == "d4"
    ps.close()


def test_sos_raises_the_alert_and_an_order_to_the_nearest_colleagues(rdb, fast, world):
    orders = Orders(rdb, fast, world)
    desk = Alerts(rdb, fast.model_copy(update={"sos_k": 2}), world, orders)
    lat, lon = world.views["d4"].lat, world.views["d4"].lon
    out = desk.sos("d4", "device:d4", lat=lat, lon=lon, now=10.0)
    assert out["new"] and out["alert"]["kind"] == "sos" and out["alert"]["person"] == "p4"
    order = orders.get(out["order"])
    assert order["kind"] == "emergency" and order["priority"] == 1 and order["alert"] == out["alert"]["id"]
    assert sorted(r["device"] for r in order["recipients"]) == ["d3", "d5"]  # d4 is not its own helper
    again = desk.sos("d4", "device:d4", lat=lat, lon=lon, now=11.0)
    assert not again["new"] and again["alert"]["id"] == out["alert"]["id"]
    assert len(orders.list()) == 1
    # leaving SOS clears the alert; the order stays for the coordinator to close
    desk.on_status("d4", "on_duty", prev="sos", now=12.0)
    assert desk.get(out["alert"]["id"])["state"] == "cleared"
    assert orders.get(out["order"])["state"] == "open"


def test_offline_will_while_on_duty_raises_and_return_clears(rdb, fast, world):
    desk = Alerts(rdb, fast, world)
    desk.on_status("d5", "offline", prev="on_duty", now=1.0)
    aid = desk.active("offline", "d5")
    assert aid and desk.get(aid)["kind"] == "offline"
    desk.on_status("d5", "on_duty", prev="offline", now=2.0)
    assert desk.active("offline", "d5") is None
    desk.on_status("d6", "offline", prev="off_duty", now=3.0)
    assert desk.active("offline", "d6") is None


def test_periodic_check_raises_and_clears_from_the_device_views(rdb, fast, world):
    desk = Alerts(rdb, fast.model_copy(update={"geofence_grace_s": 10, "geofence_clear_s": 5}), world)
    world.views["d2"] = dataclasses.replace(world.views["d2"], battery=5.0)
    world.views["d3"] = dataclasses.replace(world.views["d3"], in_grids=("g7",))
    world.views["d6"] = dataclasses.replace(world.views["d6"], fresh="offline")
    assert desk.check(now=100.0)["raised"] == 2  # battery and offline; geofence waits
    desk.check(now=111.0)
    assert {(a["kind"], a["device"]) for a in desk.list("active")} == {
        ("low_battery", "d2"), ("left_grid", "d3"), ("offline", "d6")}
    world.views["d2"] = dataclasses.replace(world.views["d2"], battery=90.0)
    world.views["d6"] = dataclasses.replace(world.views["d6"], fresh="live")
    desk.check(now=112.0)
    assert {(a["kind"], a["device"]) for a in desk.list("active")} == {("left_grid", "d3")}
    assert desk.check(now=113.0) == {"raised": 0, "cleared": 0}
