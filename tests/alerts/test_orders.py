"""The order desk on real Redis: issue, reports, cancel and close, escalation, and the races
between a report and the escalation of the same order."""
from __future__ import annotations

import threading

import pytest

from alerts import audit, keys
from alerts.alerts import Alerts
from alerts.errors import Conflict, Invalid, NotFound
from alerts.orders import Orders

from .conftest import POINT, issue
from tests.conftest import loaded

T0 = 1_750_000_000.0


def states_of(order):
    return {r["device"]: r["state"] for r in order["recipients"]}


def test_issue_picks_responsible_and_nearest_with_reasons(rdb, fast, world):
    o = issue(Orders(rdb, fast, world), POINT, now=T0)
    assert states_of(o) == {"d1": "sent", "d2": "sent", "d3": "sent"}
    reasons = {r["device"]: r["reason"] for r in o["recipients"]}
    assert "responsible" in reasons["d1"] and "nearest" in reasons["d2"]
    assert o["state"] == "open" and o["grid"] == "g2" and o["l1_grid"] == "g1"
    assert o["ack_by"] == T0 + 1.0
    assert [e["event"] for e in o["audit"]] == ["issued", "added", "added", "added"]
    # one downlink per recipient waits in the outbox
    assert rdb.xlen(keys.OUTBOX) == 3


def test_issue_refuses_bad_bodies_and_unknown_recipients(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    with pytest.raises(Invalid):
        desk.issue({"lat": 95, "lon": 0, "title": "x"}, "user:c")
    with pytest.raises(Invalid) as e:
        issue(desk, POINT, now=T0, recipients=["d2", "nobody"])
    assert e.value.detail["unknown"] == ["nobody"]
    o = issue(desk, POINT, now=T0, recipients=["p4", "d2"])  # person or device ids
    assert states_of(o) == {"d4": "sent", "d2": "sent"}


def test_reports_move_states_keep_times_and_refuse_illegal_moves(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    oid = issue(desk, POINT, now=T0)["id"]
    assert desk.report(oid, "d1", "acknowledged", "device:d1", now=T0 + 3)["changed"]
    dup = desk.report(oid, "d1", "acknowledged", "device:d1", now=T0 + 4)
    assert not dup["changed"] and "already" in dup["reason"]
    assert not desk.report(oid, "d1", "delivered", "device:d1", now=T0 + 4)["changed"]  # late receipt
    desk.report(oid, "d1", "en_route", "device:d1", now=T0 + 5)
    desk.report(oid, "d1", "on_scene", "device:d1", now=T0 + 65)
    desk.report(oid, "d1", "completed", "device:d1", now=T0 + 365, note="extinguished")
    with pytest.raises(Conflict) as e:
        desk.report(oid, "d1", "declined", "device:d1")
    assert "completed" in e.value.reason
    with pytest.raises(Conflict):
        desk.report(oid, "d2", "completed", "device:d2")  # never took it
    with pytest.raises(NotFound):
        desk.report(oid, "d7", "acknowledged", "device:d7")
    with pytest.raises(NotFound):
        desk.report("O000000-00000", "d1", "acknowledged", "device:d1")
    with pytest.raises(Invalid):
        desk.report(oid, "d1", "timed_out", "device:d1")
    r = {x["device"]: x for x in desk.get(oid)["recipients"]}["d1"]
    assert r["durations"] == {"to_acknowledge": 3.0, "travel": 60.0, "on_scene": 300.0}
    assert r["note"] == "extinguished"
    # the first acknowledgement stopped the escalation timer
    assert rdb.zscore(keys.TIMERS, oid) is None


def test_cancel_stands_everyone_down_and_tells_the_devices(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    oid = issue(desk, POINT, now=T0)["id"]
    desk.report(oid, "d1", "en_route", "device:d1", now=T0 + 1)
    desk.report(oid, "d2", "declined", "device:d2", now=T0 + 1)
    before = rdb.xlen(keys.OUTBOX)
    o = desk.cancel(oid, "user:coord", reason="false alarm", now=T0 + 2)
    assert o["state"] == "cancelled" and o["cancelled_by"] == "user:coord"
    assert states_of(o) == {"d1": "cancelled", "d2": "declined", "d3": "cancelled"}
    assert rdb.xlen(keys.OUTBOX) == before + 2
    assert desk.cancel(oid, "user:coord")["state"] == "cancelled"  # repeat: no-op
    with pytest.raises(Conflict):
        desk.close(oid, "user:coord")
    assert oid not in {o["id"] for o in desk.list("open")}
    assert [o["id"] for o in desk.list("cancelled")] == [oid]


def test_close_keeps_the_engaged_and_stands_down_the_silent(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    oid = issue(desk, POINT, now=T0)["id"]
    desk.report(oid, "d2", "on_scene", "device:d2", now=T0 + 1)
    o = desk.close(oid, "user:coord", note="handled", now=T0 + 2)
    assert states_of(o) == {"d1": "cancelled", "d2": "on_scene", "d3": "cancelled"}
    assert desk.report(oid, "d2", "completed", "device:d2", now=T0 + 3)["changed"]


def test_silence_escalates_to_the_next_nearest_and_alerts_level1(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    oid = issue(desk, POINT, now=T0)["id"]
    desk.report(oid, "d3", "declined", "device:d3", now=T0 + 0.5)
    assert desk.fire_due(now=T0 + 0.9) == []  # not yet due
    steps = desk.fire_due(now=T0 + 1.5)
    assert len(steps) == 1 and steps[0]["added"] == ["d4", "d5"] and steps[0]["l1_supervisor"] == "l1p"
    o = desk.get(oid)
    assert states_of(o) == {"d1": "timed_out", "d2": "timed_out", "d3": "declined", "d4": "sent", "d5": "sent"}
    assert o["round"] == 1 and o["ack_by"] == T0 + 2.5
    alert = Alerts(rdb, fast).get(steps[0]["alert"])
    assert alert["kind"] == "escalation" and alert["person"] == "l1p" and alert["state"] == "open"
    # second round: nobody again; depth 2 reached after the third timeout
    desk.fire_due(now=T0 + 3)
    assert states_of(desk.get(oid))["d6"] == "sent"
    last = desk.fire_due(now=T0 + 5)
    assert last[0]["added"] == [] and "depth" in last[0]["notes"][0]
    assert desk.fire_due(now=T0 + 100) == []
    assert rdb.zscore(keys.TIMERS, oid) is None
    # a timed-out recipient cannot take the order late; the three alerts stay until it ends
    with pytest.raises(Conflict):
        desk.report(oid, "d6", "acknowledged", "device:d6", now=T0 + 6)
    o = desk.close(oid, "user:coord", now=T0 + 7)
    assert [Alerts(rdb, fast).get(a)["state"] for a in o["alerts"]] == ["cleared"] * 3


def test_everyone_declining_escalates_at_once(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    oid = issue(desk, POINT, now=T0, k=1)["id"]
    desk.report(oid, "d1", "declined", "device:d1", now=T0 + 0.1)
    desk.report(oid, "d2", "declined", "device:d2", now=T0 + 0.2)
    assert rdb.zscore(keys.TIMERS, oid) == T0 + 0.2
    assert desk.fire_due(now=T0 + 0.3)[0]["added"] == ["d3"]


def test_acknowledged_order_never_escalates_and_ack_clears_escalation_alerts(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    oid = issue(desk, POINT, now=T0)["id"]
    step = desk.fire_due(now=T0 + 1.1)[0]
    desk.report(oid, "d4", "acknowledged", "device:d4", now=T0 + 1.2)
    assert Alerts(rdb, fast).get(step["alert"])["state"] == "cleared"
    assert desk.fire_due(now=T0 + 10) == []
    assert desk.get(oid)["round"] == 1


def test_two_escalators_at_once_fire_each_step_once(rdb, fast, world):
    desk = Orders(rdb, fast, world)
    oids = [issue(desk, POINT, now=T0)["id"] for _ in range(5)]
    results, barrier = [], threading.Barrier(4)

    def run():
        d = Orders(rdb, fast, world)
        barrier.wait()
        results.extend(d.fire_due(now=T0 + 1.5))

    threads = [threading.Thread(target=run) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(s["order"] for s in results) == sorted(oids)
    for oid in oids:
        events = [e.event for e in audit.read_order(rdb, oid)]
        assert events.count("escalated") == 1


def test_ack_racing_the_escalation_is_one_or_the_other(rdb, fast, world):
    """Many rounds of an ack and the timer firing at the same moment: either the ack lands
    first (no escalation, nobody timed out) or the escalation does (then the ack is refused
    as the recipient timed out). Never both an escalation and a successful ack of a silent one."""
    for i in range(20):
        rdb.flushall()
        desk = Orders(rdb, fast, world)
        oid = issue(desk, POINT, now=T0)["id"]
        out = {}
        barrier = threading.Barrier(2)

        def ack():
            barrier.wait()
            try:
                out["ack"] = desk.report(oid, "d1", "acknowledged", "device:d1", now=T0 + 1.5)["changed"]
            except Conflict:
                out["ack"] = False

        def fire():
            barrier.wait()
            out["esc"] = bool(Orders(rdb, fast, world).fire_due(now=T0 + 1.5))

        ts = [threading.Thread(target=ack), threading.Thread(target=fire)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert out["ack"] != out["esc"], out
        state = states_of(desk.get(oid))["d1"]
        assert state == ("acknowledged" if out["ack"] else "timed_out")


def test_order_not_found(rdb, fast):
    with pytest.raises(NotFound):
        Orders(rdb, fast).get("O000000-00001")
    with pytest.raises(Invalid):
        Orders(rdb, fast).list("weird")


def test_the_dispatchers_world_follows_a_newly_loaded_dataset(rdb, demo_data):
    """`gridwatch load` of a dataset that hands a village to a new supervisor: a RedisWorld built
    from the store (the dispatcher's) takes it on its next check, without a restart."""
    import dataclasses

    import pandas as pd

    from alerts.live import RedisWorld
    from geodata.store import save_dataset
    from gridwatch.settings import Settings

    ds = loaded(demo_data)
    save_dataset(rdb, ds)
    world = RedisWorld(rdb, Settings())
    assert world.follow_dataset(force=True) is False  # nothing new
    people = ds.people.copy()
    old = people[(people["role"] == "l2_supervisor") & (people["grids"].map(len) > 1)].iloc[0]
    grid = old["grids"][0]
    assert world.responsible(grid) == old["id"]
    people.at[people.index[people["id"] == old["id"]][0], "grids"] = tuple(old["grids"][1:])
    newcomer = {"id": "p-new-1", "name": "新人", "role": "l2_supervisor", "grids": (grid,), "device": "dev-new-1",
                "phone": ""}
    save_dataset(rdb, dataclasses.replace(ds, people=pd.concat([people, pd.DataFrame([newcomer])], ignore_index=True)))
    assert world.follow_dataset(force=True) is True
    assert world.responsible(grid) == "p-new-1" and world.person_of("dev-new-1") == "p-new-1"
    assert world.device_of("p-new-1") == "dev-new-1"
