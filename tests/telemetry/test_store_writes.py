"""Each write of the live store (telemetry/store.lua through LiveStore) as a table case: the
state before, one write, its flags, and every key of the store afterwards, in full. A change
to the script shows up here as a changed key, not only as a changed read."""
from __future__ import annotations

import h3
import pytest

from telemetry.protocols import Ack, Fix, Status
from telemetry.store import BACK, EVENT, MOVED, LiveStore

NOW = 1_800_000_000.0
LAT, LON = 28.21, 117.01
CELL9 = h3.latlng_to_cell(LAT, LON, 9)
CELL7 = h3.cell_to_parent(CELL9, 7)
LAT2, LON2 = 28.29, 117.04
CELL9B = h3.latlng_to_cell(LAT2, LON2, 9)
CELL7B = h3.cell_to_parent(CELL9B, 7)
REC = f"{LAT}|{LON}|{int(NOW - 10)}|on_duty|l2_supervisor|p1"


def write(store: LiveStore, msg, now: float) -> int:
    pipe = store.batch()
    if isinstance(msg, Fix):
        store.queue_fix(pipe, msg, now, "p1", "l2_supervisor", "W", "W-S")
    elif isinstance(msg, Status):
        store.queue_status(pipe, msg, now, "p1", "l2_supervisor")
    else:
        store.queue_ack(pipe, msg, now, "p1", "l2_supervisor")
    return store.execute(pipe)[0]


def state(r) -> dict:
    """Every key in Redis, by type: hashes and strings as text, sorted sets as (member, score),
    streams as their entries' fields (ids left out: they are times)."""
    out = {}
    for key in sorted(k.decode() for k in r.keys("*")):
        kind = r.type(key).decode()
        if kind == "hash":
            out[key] = {k.decode(): v.decode() for k, v in r.hgetall(key).items()}
        elif kind == "zset":
            out[key] = [(m.decode(), s) for m, s in r.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            out[key] = [{k.decode(): v.decode() for k, v in f.items()} for _, f in r.xrange(key)]
        else:
            out[key] = r.get(key).decode()
    return out


FIRST = Fix("dev1", NOW - 10, LAT, LON, acc=5, batt=80)
TRAIL = f"gw:{{trail:dev1}}:{int((NOW - 10) // 600 * 600)}"
WHO = {"device": "dev1", "person": "p1", "role": "l2_supervisor"}
DEV_AFTER_FIRST = {
    "tst": str(int(NOW - 10)), "lat": str(LAT), "lon": str(LON), "cell": CELL9, "coarse": CELL7, "l1": "W", "l2": "W-S",
    "person": "p1", "role": "l2_supervisor", "acc": "5", "batt": "80", "seen": f"{NOW:.3f}",
    "oc": f"{CELL7}|on_duty|l2_supervisor", "fb": str(int((NOW - 10) // 10)),
}
LIVE_AFTER_FIRST = {
    "gw:{live}:dev:dev1": DEV_AFTER_FIRST,
    f"gw:{{live}}:cell:{CELL9}": {"dev1": REC},
    f"gw:{{live}}:cell:{CELL7}": {"dev1": REC},
    "gw:{live}:occ": {CELL7: "1"},
    "gw:{live}:occst": {f"{CELL7}|on_duty|l2_supervisor": "1"},
    "gw:{live}:seen": [("dev1", NOW)],
    "gw:{live}:fixage": {str(int((NOW - 10) // 10)): "1"},
    TRAIL: [(f"{int(NOW - 10)}|{LAT}|{LON}|5|||80|", NOW - 10)],
}


def merged(base: dict, **changes) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in changes.items():
        key = k.replace("__", ":")
        if v is None:
            out.pop(key, None)
        else:
            out[key] = v
    return out


EVENTS = "gw:{live}:events"
REC_BUSY = REC.replace("on_duty", "busy")
WILL_EVENT = {"kind": "status", **WHO, "at": f"{NOW + 1:.3f}", "st": "offline", "prev": "on_duty", "will": "1",
              "tst": f"{NOW + 1:.3f}", "lat": str(LAT), "lon": str(LON), "l1": "W", "l2": "W-S"}
AFTER_WILL = merged(
    LIVE_AFTER_FIRST,
    **{"gw:{live}:dev:dev1": {**{k: v for k, v in DEV_AFTER_FIRST.items() if k != "oc"},
                              "gone": f"{NOW + 1:.3f}", "cell": "", "coarse": "", "gcell": CELL9, "gcoarse": CELL7,
                              "fb": "0", "seen": f"{NOW:.3f}"},
       f"gw:{{live}}:cell:{CELL9}": None, f"gw:{{live}}:cell:{CELL7}": None,
       "gw:{live}:occ": None, "gw:{live}:occst": None,
       "gw:{live}:seen": [("dev1", 0.0)], "gw:{live}:fixage": {"0": "1"},
       EVENTS: [WILL_EVENT]})

CASES = {
    "fix: the first position of a device": dict(
        before=[], write=(FIRST, NOW), flags=MOVED,
        after=LIVE_AFTER_FIRST),
    "fix: a move to other cells, with a duty status": dict(
        before=[(FIRST, NOW)], write=(Fix("dev1", NOW - 5, LAT2, LON2, vel=12, st="busy"), NOW + 1), flags=MOVED + EVENT,
        after=merged(
            LIVE_AFTER_FIRST,
            **{"gw:{live}:dev:dev1": {**{k: v for k, v in DEV_AFTER_FIRST.items() if k != "acc"},
                                      "tst": str(int(NOW - 5)), "lat": str(LAT2), "lon": str(LON2), "cell": CELL9B,
                                      "coarse": CELL7B, "vel": "12", "seen": f"{NOW + 1:.3f}", "st": "busy",
                                      "st_tst": str(int(NOW - 5)), "oc": f"{CELL7B}|busy|l2_supervisor",
                                      "fb": str(int((NOW - 5) // 10))},
               f"gw:{{live}}:cell:{CELL9}": None, f"gw:{{live}}:cell:{CELL7}": None,
               f"gw:{{live}}:cell:{CELL9B}": {"dev1": f"{LAT2}|{LON2}|{int(NOW - 5)}|busy|l2_supervisor|p1"},
               f"gw:{{live}}:cell:{CELL7B}": {"dev1": f"{LAT2}|{LON2}|{int(NOW - 5)}|busy|l2_supervisor|p1"},
               "gw:{live}:occ": {CELL7B: "1"}, "gw:{live}:occst": {f"{CELL7B}|busy|l2_supervisor": "1"},
               "gw:{live}:seen": [("dev1", NOW + 1)], "gw:{live}:fixage": {str(int((NOW - 5) // 10)): "1"},
               TRAIL: [(f"{int(NOW - 10)}|{LAT}|{LON}|5|||80|", NOW - 10),
                       (f"{int(NOW - 5)}|{LAT2}|{LON2}||12|||", NOW - 5)],
               EVENTS: [{"kind": "status", **WHO, "at": f"{NOW + 1:.3f}", "st": "busy", "prev": "on_duty",
                         "tst": str(int(NOW - 5)), "lat": str(LAT2), "lon": str(LON2), "batt": "", "l1": "W",
                         "l2": "W-S"}]})),
    "late fix: kept in the trail, the live position stays": dict(
        before=[(FIRST, NOW)], write=(Fix("dev1", NOW - 100, LAT2, LON2), NOW + 1), flags=0,
        after=merged(
            LIVE_AFTER_FIRST,
            **{"gw:{live}:dev:dev1": {**DEV_AFTER_FIRST, "seen": f"{NOW + 1:.3f}"},
               "gw:{live}:seen": [("dev1", NOW + 1)],
               TRAIL: [(f"{int(NOW - 100)}|{LAT2}|{LON2}|||||", NOW - 100),
                       (f"{int(NOW - 10)}|{LAT}|{LON}|5|||80|", NOW - 10)]})),
    "status: a change of duty status, marked in the cells and counts": dict(
        before=[(FIRST, NOW)], write=(Status("dev1", "busy", NOW - 5, batt=70, note="lunch"), NOW + 1), flags=EVENT,
        after=merged(
            LIVE_AFTER_FIRST,
            **{"gw:{live}:dev:dev1": {**DEV_AFTER_FIRST, "seen": f"{NOW + 1:.3f}", "st": "busy",
                                      "st_tst": str(int(NOW - 5)), "batt": "70",
                                      "oc": f"{CELL7}|busy|l2_supervisor"},
               f"gw:{{live}}:cell:{CELL9}": {"dev1": REC_BUSY}, f"gw:{{live}}:cell:{CELL7}": {"dev1": REC_BUSY},
               "gw:{live}:occst": {f"{CELL7}|busy|l2_supervisor": "1"},
               "gw:{live}:seen": [("dev1", NOW + 1)],
               EVENTS: [{"kind": "status", **WHO, "at": f"{NOW + 1:.3f}", "st": "busy", "prev": "on_duty",
                         "tst": str(int(NOW - 5)), "lat": str(LAT), "lon": str(LON), "batt": "70", "note": "lunch",
                         "late": "", "l1": "W", "l2": "W-S"}]})),
    "will: out of the cells and counts, offline": dict(
        before=[(FIRST, NOW)], write=(Status("dev1", "offline", None, will=True), NOW + 1), flags=EVENT,
        after=AFTER_WILL),
    "return: any message after the will puts the device back where it was": dict(
        before=[(FIRST, NOW), (Status("dev1", "offline", None, will=True), NOW + 1)],
        write=(Ack("dev1", "O-1", "delivered", NOW + 2), NOW + 3), flags=BACK + EVENT,
        after=merged(
            LIVE_AFTER_FIRST,
            **{"gw:{live}:dev:dev1": {**DEV_AFTER_FIRST, "seen": f"{NOW + 3:.3f}", "cell": CELL9, "coarse": CELL7},
               "gw:{live}:seen": [("dev1", NOW + 3)],
               EVENTS: [WILL_EVENT,
                        {"kind": "status", **WHO, "at": f"{NOW + 3:.3f}", "st": "on_duty", "prev": "offline",
                         "tst": f"{NOW + 3:.3f}", "l1": "W", "l2": "W-S"},
                        {"kind": "ack", **WHO, "at": f"{NOW + 3:.3f}", "order": "O-1", "state": "delivered",
                         "tst": str(int(NOW + 2)), "note": ""}]})),
    "ack: an event for the dispatcher, and presence": dict(
        before=[(FIRST, NOW)], write=(Ack("dev1", "O-1", "acknowledged", NOW - 2, note="on my way"), NOW + 1),
        flags=EVENT,
        after=merged(
            LIVE_AFTER_FIRST,
            **{"gw:{live}:dev:dev1": {**DEV_AFTER_FIRST, "seen": f"{NOW + 1:.3f}"},
               "gw:{live}:seen": [("dev1", NOW + 1)],
               EVENTS: [{"kind": "ack", **WHO, "at": f"{NOW + 1:.3f}", "order": "O-1", "state": "acknowledged",
                         "tst": str(int(NOW - 2)), "note": "on my way"}]})),
}


@pytest.mark.parametrize("case", list(CASES))
def test_write(case, rdb, settings):
    c = CASES[case]
    store = LiveStore(rdb, settings)
    for msg, at in c["before"]:
        write(store, msg, at)
    assert write(store, *c["write"]) == c["flags"]
    got = state(rdb)
    for key in [k for k in got if k.startswith("gw:{trail:")]:
        assert rdb.ttl(key) > 0, key  # every trail bucket expires
    assert got == c["after"]
