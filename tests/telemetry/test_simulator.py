"""The simulator against real Mosquitto, Redis and an ingest worker: terminals report inside
their own grids, the will marks a dropped terminal offline, orders are answered in order."""
from __future__ import annotations

import threading
import time
import uuid

import orjson
from prometheus_client import CollectorRegistry

from telemetry.ingest import Pipeline, metrics
from telemetry.mqtt import connect
from telemetry.simulator import Simulator, Terminal, step_towards
from telemetry.store import LiveStore
from telemetry.worker import IngestWorker

from .conftest import GRIDS, TinyRegistry
from .test_ingest import wait_for


def test_step_towards():
    lat, lon, arrived = step_towards(28.0, 117.0, 28.01, 117.0, 100)
    assert not arrived and abs((lat - 28.0) * 111_320 - 100) < 0.5
    assert step_towards(28.0, 117.0, 28.0001, 117.0, 100)[2]


def test_simulated_terminals_report_drop_out_and_answer_orders(settings, rdb, tiny_index):
    s = settings.model_copy(update={"ingest_group": f"g{uuid.uuid4().hex[:6]}"})
    worker = IngestWorker(s, f"w-{uuid.uuid4().hex[:6]}",
                          pipeline_factory=lambda r: Pipeline(s, r, TinyRegistry(), tiny_index,
                                                              m=metrics(CollectorRegistry())))
    wt = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    wt.start()
    assert worker.ready.wait(10)
    areas = {g[0]: g[4] for g in GRIDS}
    terminals = [Terminal("dev1", "p1", "l2_supervisor", areas["W-S"]),
                 Terminal("dev2", "p2", "l2_supervisor", areas["W-N"]),
                 Terminal("dev3", "p3", "assistant", areas["E-S"])]
    sim = Simulator(s, terminals, interval_s=0.2, seed=5, fast_orders=True, bad_fix_rate=0, dropout_rate=0,
                    status_rate=0).start()
    store = LiveStore(rdb, s)
    try:
        assert wait_for(lambda: all(store.device(d) is not None for d in ("dev1", "dev2", "dev3")), timeout=20)
        time.sleep(1.0)
        for d, grid in (("dev1", "W-S"), ("dev2", "W-N"), ("dev3", "E-S")):
            st = store.device(d)
            assert st.l2 == grid and st.fresh == "live", st
            assert len(store.trail(d, time.time() - 60, time.time() + 1)) >= 3
        # an order, as the dispatcher sends it
        pub = connect(s, f"disp-{uuid.uuid4().hex[:6]}", clean_start=True, session_expiry_s=0)
        pub.publish("gw/dev1/orders", orjson.dumps({"_type": "order", "id": "O1", "kind": "task", "priority": 2,
                                                    "title": "check", "body": "", "lat": 28.22, "lon": 117.02}),
                    qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()

        def acks():
            return [e["state"] for _, e in store.events(500) if e["kind"] == "ack" and e["order"] == "O1"]

        assert wait_for(lambda: acks()[-1:] in (["completed"], ["declined"]), timeout=30)
        assert acks() in (list(Simulator.ACK_STEPS), ["delivered", "declined"])
        # a terminal vanishing: the broker publishes its will, the store says offline
        sim._at(time.time(), sim._drop, terminals[2])
        assert wait_for(lambda: store.device("dev3").fresh == "offline", timeout=20)
    finally:
        sim.stop()
        worker.stop.set()
        wt.join(10)
