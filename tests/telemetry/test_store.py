"""The live store on real Redis, driven through the pipeline: stored right, late and future
fixes, cell membership moves, presence, the will, events, trails, deltas, memory layout."""
from __future__ import annotations

import time

import h3
import orjson

from telemetry.protocols import Fix
from telemetry.store import CELL, DELTAS, EVENTS, OCC, LiveStore, presence, trail_key

from .conftest import counter
from .test_protocols import OT_LOCATION

# Near the real clock: trail buckets expire relative to Redis' own time.
NOW = float(int(time.time()))
OT_TST = int(NOW) - 10


def loc(lat, lon, tst, **kw):
    return orjson.dumps({"_type": "location", "lat": lat, "lon": lon, "tst": tst, **kw})


def test_owntracks_location_stored_right(pipeline, rdb):
    payload = OT_LOCATION.replace(b"1701263310", str(OT_TST).encode())
    out = pipeline.handle("owntracks/p1/dev1", payload, now=NOW)
    assert out.accepted == 1 and not out.dropped
    s = pipeline.store.device("dev1", now=NOW)
    assert (s.lat, s.lon, s.tst, s.acc, s.alt, s.vel, s.cog, s.batt) == (28.230722, 117.012126, OT_TST, 9, 93, 1, 252, 94)
    assert (s.person, s.role, s.status, s.fresh, s.l1, s.l2) == ("p1", "l2_supervisor", "on_duty", "live", "W", "W-S")
    assert s.cell == h3.latlng_to_cell(28.230722, 117.012126, 9)
    assert rdb.hget(CELL + s.cell, "dev1").decode() == f"28.230722|117.012126|{OT_TST}|on_duty|l2_supervisor|p1"
    coarse = h3.cell_to_parent(s.cell, 7)
    assert rdb.hexists(CELL + coarse, "dev1") and rdb.hget(OCC, coarse) == b"1"
    [t] = pipeline.store.trail("dev1", NOW - 100, NOW)
    assert (t.tst, t.lat, t.lon, t.acc, t.batt) == (OT_TST, 28.230722, 117.012126, 9, 94)


def test_moving_changes_cells_atomically(pipeline, rdb):
    pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 1000), now=NOW)
    c1 = pipeline.store.device("dev1").cell
    pipeline.handle("gw/dev1/loc", loc(28.29, 117.04, NOW - 10), now=NOW)  # 9 km in 990 s: riding
    s = pipeline.store.device("dev1", now=NOW)
    assert s.cell != c1 and not rdb.hexists(CELL + c1, "dev1") and rdb.hexists(CELL + s.cell, "dev1")
    assert s.l2 == "W-N"
    assert not rdb.hexists(OCC, h3.cell_to_parent(c1, 7)) or h3.cell_to_parent(c1, 7) == h3.cell_to_parent(s.cell, 7)


def test_late_fix_goes_to_trail_in_order_but_never_moves_live(pipeline):
    pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 10), now=NOW)
    out = pipeline.handle("gw/dev1/loc", loc(28.22, 117.02, NOW - 1000), now=NOW)
    assert out.accepted == 1
    s = pipeline.store.device("dev1", now=NOW)
    assert (s.lat, s.lon, s.tst) == (28.21, 117.01, NOW - 10)
    assert [t.tst for t in pipeline.store.trail("dev1", NOW - 2000, NOW)] == [NOW - 1000, NOW - 10]


def test_offline_queue_flushed_as_batch_out_of_order(pipeline):
    batch = orjson.dumps([{"_type": "location", "lat": 28.21 + i * 1e-4, "lon": 117.01, "tst": NOW - 100 + i}
                          for i in (5, 1, 3, 2, 4)])
    out = pipeline.handle("gw/dev1/loc", batch, now=NOW)
    assert out.accepted == 5
    assert pipeline.store.device("dev1").tst == NOW - 95
    assert [t.tst for t in pipeline.store.trail("dev1", NOW - 200, NOW)] == [NOW - 99, NOW - 98, NOW - 97, NOW - 96, NOW - 95]


def test_future_fix_dropped_and_cannot_freeze(pipeline, prom):
    out = pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW + 86400), now=NOW)
    assert out.dropped == {"future": 1}
    pipeline.handle("gw/dev1/loc", loc(28.22, 117.01, NOW - 5), now=NOW)
    assert pipeline.store.device("dev1").lat == 28.22
    assert counter(prom, "gridwatch_ingest_dropped_total", reason="future") == 1


def test_every_pipeline_drop_reason_counted(pipeline, prom):
    cases = [
        ("gw/ghost/loc", loc(28.21, 117.01, NOW), "unknown_device"),
        ("gw/dev1/loc", b"{nope", "not_json"),
        ("gw/dev1/loc", b'{"_type":"location","lat":"x","lon":1,"tst":1}', "schema"),
        ("gw/dev1/loc", loc(0.0, 0.0, NOW), "bad_coordinates"),
        ("gw/dev1/loc", loc(95, 117.01, NOW), "bad_coordinates"),
        ("gw/dev1/loc", loc(28.21, 117.01, NOW + 3600), "future"),
        ("gw/dev1/loc", loc(28.21, 117.01, NOW - 30 * 86400), "too_old"),
        ("gw/dev1/loc", loc(28.21, 117.01, NOW - 50, acc=5000), "poor_accuracy"),
        ("gw/dev1/loc", loc(28.21, 117.01, NOW - 50, device="dev2"), "foreign_topic"),
        ("owntracks/p2/dev1", loc(28.21, 117.01, NOW - 50), "person_mismatch"),
        ("owntracks/p1/dev1", b'{"_type":"waypoint","desc":"x"}', "ignored_type"),
        ("gw/dev1/loc", b"[" + b" " * 70000 + b"]", "oversize"),
        ("gw/dev1/what", b"{}", "unknown_topic"),
        ("gw/dev1/loc", loc(28.21, 117.01, NOW - 50, batt=250), "bad_value"),
    ]
    for topic, payload, reason in cases:
        out = pipeline.handle(topic, payload, now=NOW)
        assert out.dropped == {reason: 1}, (topic, reason, out)
    pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 20), now=NOW)
    assert pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 20), now=NOW).dropped == {"duplicate": 1}
    assert pipeline.handle("gw/dev1/loc", loc(28.29, 117.09, NOW - 19), now=NOW).dropped == {"jump": 1}
    for _, _, reason in cases + [(0, 0, "duplicate"), (0, 0, "jump")]:
        assert counter(prom, "gridwatch_ingest_dropped_total", reason=reason) >= 1, reason
    assert counter(prom, "gridwatch_ingest_messages_total") == len(cases) + 3
    assert pipeline.store.device("ghost") is None


def test_status_events_sos_will_and_return(pipeline):
    pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 30), now=NOW)
    pipeline.handle("gw/dev1/status", b'{"st":"busy","tst":%d}' % (NOW - 20), now=NOW)
    pipeline.handle("gw/dev1/status", b'{"st":"busy","tst":%d}' % (NOW - 19), now=NOW)  # no change
    pipeline.handle("gw/dev1/status", b'{"st":"sos","tst":%d,"lat":28.215,"lon":117.012,"note":"help"}' % (NOW - 10),
                    now=NOW)
    pipeline.handle("gw/dev1/status", b'{"st":"offline"}', now=NOW + 1)
    pipeline.handle("gw/dev1/status", b'{"st":"offline"}', now=NOW + 2)  # already offline: no event
    ev = [e for _, e in pipeline.store.events()]
    assert [(e["kind"], e["st"], e.get("prev")) for e in ev] == [
        ("status", "busy", "on_duty"), ("status", "sos", "busy"), ("status", "offline", "sos")]
    assert ev[1]["lat"] == "28.215" and ev[1]["note"] == "help" and ev[1]["person"] == "p1" and ev[1]["l2"] == "W-S"
    assert ev[2]["will"] == "1"
    s = pipeline.store.device("dev1", now=NOW + 3)
    assert s.fresh == "offline" and s.status == "sos" and s.cell is None and (s.lat, s.lon) == (28.215, 117.012)
    # it comes back: a status event says so, and it is in the index again
    pipeline.handle("gw/dev1/loc", loc(28.216, 117.012, NOW + 4), now=NOW + 5)
    last = pipeline.store.events()[-1][1]
    assert (last["st"], last["prev"]) == ("sos", "offline")
    s = pipeline.store.device("dev1", now=NOW + 5)
    assert s.fresh == "live" and s.cell is not None and pipeline.r.hexists(CELL + s.cell, "dev1")


def test_late_sos_still_raises_an_event(pipeline):
    pipeline.handle("gw/dev1/status", b'{"st":"on_duty","tst":%d}' % (NOW - 10), now=NOW)
    pipeline.handle("gw/dev1/status", b'{"st":"sos","tst":%d}' % (NOW - 500), now=NOW)
    last = pipeline.store.events()[-1][1]
    assert last["st"] == "sos" and last["late"] == "1"
    assert pipeline.store.device("dev1").status == "on_duty"


def test_st_inside_location_changes_status(pipeline, rdb):
    pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 30, st="off_duty"), now=NOW)
    s = pipeline.store.device("dev1")
    assert s.status == "off_duty" and rdb.hget(CELL + s.cell, "dev1").decode().split("|")[3] == "off_duty"
    assert pipeline.store.events()[-1][1]["st"] == "off_duty"


def test_acks_appended(pipeline):
    out = pipeline.handle("gw/dev3/ack", b'{"order":"O1","state":"acknowledged","tst":%d}' % (NOW - 1), now=NOW)
    assert out.accepted == 1
    [(_, e)] = pipeline.store.events()
    assert e == {"kind": "ack", "device": "dev3", "person": "p3", "role": "assistant", "order": "O1",
                 "state": "acknowledged", "tst": str(int(NOW - 1)), "at": f"{NOW:.3f}"}


def test_presence_rule_and_counts(pipeline, settings):
    assert presence(NOW, NOW, False, NOW + 10, 120, 600) == "live"
    assert presence(NOW - 200, NOW, False, NOW + 10, 120, 600) == "stale"
    assert presence(NOW, NOW, False, NOW + 601, 120, 600) == "offline"
    assert presence(NOW, NOW, True, NOW, 120, 600) == "offline"
    pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 1), now=NOW)
    pipeline.handle("gw/dev2/loc", loc(28.26, 117.01, NOW - 300), now=NOW)
    pipeline.handle("gw/dev3/loc", loc(28.21, 117.06, NOW - 2), now=NOW)
    pipeline.handle("gw/dev3/status", b'{"st":"offline"}', now=NOW)
    assert pipeline.store.presence_counts(NOW + 1) == {"live": 1, "stale": 1, "offline": 1}
    assert pipeline.store.presence_counts(NOW + 700) == {"live": 0, "stale": 0, "offline": 3}
    assert {s.device: s.fresh for s in pipeline.store.devices(now=NOW + 1)} == {
        "dev1": "live", "dev2": "stale", "dev3": "offline"}


def test_trail_bucket_expires(pipeline, rdb, settings):
    pipeline.handle("gw/dev1/loc", loc(28.21, 117.01, NOW - 5), now=NOW)
    b = int((NOW - 5) // settings.trail_bucket_s) * settings.trail_bucket_s
    ttl = rdb.ttl(trail_key("dev1", b))
    assert 0 < ttl and rdb.expiretime(trail_key("dev1", b)) == b + settings.trail_bucket_s + settings.trail_retention_s


def test_deltas_coalesced_per_device(pipeline, rdb):
    sub = rdb.pubsub()
    sub.subscribe(DELTAS)
    sub.get_message(timeout=1)
    pipeline.flush_deltas(force=True)
    now = time.time()
    items = [("gw/dev1/loc", loc(28.21 + i * 1e-4, 117.01, now - 10 + i)) for i in range(5)]
    items.append(("gw/dev2/loc", loc(28.26, 117.01, now - 1)))
    pipeline.process(items, now=now)
    pipeline.flush_deltas(now + 1, force=True)
    msg = sub.get_message(timeout=2)
    deltas = orjson.loads(msg["data"])
    assert sorted(d["device"] for d in deltas) == ["dev1", "dev2"]
    assert next(d for d in deltas if d["device"] == "dev1")["tst"] == now - 6
    sub.close()


def test_store_reads_without_pipeline(rdb, settings):
    store = LiveStore(rdb, settings)
    assert store.device("nobody") is None and store.devices() == [] and store.trail("x", 0, 10) == []
    assert store.presence_counts(NOW) == {"live": 0, "stale": 0, "offline": 0}
    pipe = rdb.pipeline(transaction=False)
    store.ensure_scripts()
    store.queue_fix(pipe, Fix("zz", NOW, 28.2, 117.0), NOW, "pz", "assistant", None, None)
    store.execute(pipe)
    assert store.device("zz").l1 is None and EVENTS
