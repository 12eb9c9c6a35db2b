"""Order latency under load: order issued -> device receives it (MQTT QoS 1), and device ack ->
state visible through `Orders.get` (what `GET /api/orders/{id}` returns), while 1,000 terminals
report at 1 Hz. Goals: p95 <= 100 ms and <= 250 ms.

Everything is real: private redis-server and mosquitto, a dispatcher process, paho clients as
the measured terminals. With telemetry's ingest installed, the 1,000 terminals
publish their reports over MQTT (QoS 1) and an ingest process stores them, and the measured
terminals' acks travel the same way; without it the bench writes the same load through
telemetry's LiveStore (the ingest's own write path) and says so in its output.

`python -m bench orders` or `python -m bench.bench_orders [--orders N] [--terminals N]`.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
POINT = (28.2500, 117.0100)
MEASURED = 5  # terminals that receive and acknowledge every measured order


def bench_dataset(n_load: int) -> SimpleNamespace:
    """Two townships, three villages; MEASURED supervisors around the point, n_load assistants
    spread over the jurisdiction (seeded, so every run has the same field)."""
    import pandas as pd

    from testkit.jurisdiction import small_dataset  # the alerts tests' field: its grids

    grids = small_dataset().grids
    rng = random.Random(7)
    rows, pos = [("l1a", "L1A head", "l1_supervisor", "L1A", "dev-l1a", "")], {"dev-l1a": (28.29, 117.03)}
    for i in range(MEASURED):
        rows.append((f"m{i}", f"M{i}", "l2_supervisor", "A1", f"dev-m{i}", ""))
        pos[f"dev-m{i}"] = (POINT[0] + 0.0005 * (i + 1), POINT[1])
    for i in range(n_load):
        rows.append((f"x{i}", f"X{i}", "assistant", rng.choice(["A1", "A2", "B1"]), f"dev-x{i}", ""))
        pos[f"dev-x{i}"] = (rng.uniform(28.21, 28.29), rng.uniform(117.001, 117.079))
    people = pd.DataFrame(rows, columns=["id", "name", "role", "grid", "device", "phone"])
    people["grids"] = [(g,) for g in people["grid"]]  # as load_dataset gives it
    return SimpleNamespace(grids=grids, people=people, positions=pos)


class DirectLoad:
    """1 Hz reports of every load terminal, written as the ingest writes them (LiveStore)."""

    def __init__(self, settings, ds, world):
        import redis
        from telemetry.store import LiveStore

        self.r = redis.Redis.from_url(settings.redis_url)
        self.store = LiveStore(self.r, settings)
        self.store.ensure_scripts()
        roles = dict(zip(ds.people["device"], zip(ds.people["id"], ds.people["role"])))
        self.rows = [(d, roles[d][0], roles[d][1], lat, lon, *world.locate(lat, lon))
                     for d, (lat, lon) in ds.positions.items() if not d.startswith("dev-m")]
        self.stop = threading.Event()
        self.reports = 0

    def one_second(self):
        from telemetry.protocols import Fix

        now = time.time()
        p = self.r.pipeline(transaction=False)
        for d, pid, role, lat, lon, l1, l2 in self.rows:
            jlat, jlon = lat + random.uniform(-1e-4, 1e-4), lon + random.uniform(-1e-4, 1e-4)
            self.store.queue_fix(p, Fix(d, now, jlat, jlon, 10.0, st="on_duty", batt=80.0), now, pid, role, l1, l2)
        self.store.execute(p)
        self.reports += len(self.rows)

    def run(self):
        nxt = time.monotonic()
        while not self.stop.is_set():
            self.one_second()
            nxt += 1.0
            self.stop.wait(max(0.0, nxt - time.monotonic()))

    def ack(self, device, person, order, state):
        from telemetry.protocols import Ack

        now = time.time()
        p = self.r.pipeline(transaction=False)
        self.store.queue_ack(p, Ack(device, order, state, now), now, person, "l2_supervisor")
        self.store.execute(p)


class MqttLoad:
    """1 Hz reports of every load terminal over MQTT, QoS 1, as the terminals send them."""

    def __init__(self, settings, ds):
        from telemetry.mqtt import connect

        self.settings = settings
        self.client = connect(settings, "bench-load", clean_start=True, session_expiry_s=0)
        self.rows = [(d, lat, lon) for d, (lat, lon) in ds.positions.items() if not d.startswith("dev-m")]
        self.stop = threading.Event()
        self.reports = 0

    def one_second(self):
        import orjson

        root, tst = self.settings.topic_root, int(time.time())
        for d, lat, lon in self.rows:
            body = {"_type": "location", "lat": lat + random.uniform(-1e-4, 1e-4),
                    "lon": lon + random.uniform(-1e-4, 1e-4), "tst": tst, "acc": 10, "batt": 80, "st": "on_duty"}
            self.client.publish(f"{root}/{d}/loc", orjson.dumps(body), qos=1)
        self.reports += len(self.rows)

    run = DirectLoad.run

    def ack(self, device, person, order, state):
        import orjson

        self.client.publish(f"{self.settings.topic_root}/{device}/ack",
                            orjson.dumps({"order": order, "state": state, "tst": int(time.time())}), qos=1)

    def fix(self, device, person, lat, lon):
        import orjson

        self.client.publish(f"{self.settings.topic_root}/{device}/loc", orjson.dumps(
            {"_type": "location", "lat": lat, "lon": lon, "tst": int(time.time()), "acc": 5, "st": "on_duty"}), qos=1)


def _ingest_main(n_load: int) -> int:
    from geodata.index import GridIndex
    from geodata.registry import Registry
    from gridwatch.settings import Settings
    from telemetry.ingest import Pipeline
    from telemetry.worker import IngestWorker

    settings = Settings()
    ds = bench_dataset(n_load)
    index = GridIndex.from_grids(ds.grids)
    return IngestWorker(settings, "bench-ingest", pipeline_factory=lambda r: Pipeline(
        settings, r, Registry(ds), index)).run()


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def _dispatcher_main(name: str, n_load: int) -> int:
    """The dispatcher process of the bench (same World as the bench builds)."""
    from alerts.dispatcher import Dispatcher
    from alerts.live import RedisWorld
    from gridwatch.settings import Settings

    settings = Settings()
    ds = bench_dataset(n_load)
    return Dispatcher(settings, name=name, world_factory=lambda r: RedisWorld(r, settings, dataset=ds)).run()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_orders", description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--terminals", type=int, default=1000)
    ap.add_argument("--nodelay", action="store_true", help="broker with set_tcp_nodelay true")
    args = ap.parse_args(argv)

    import redis

    from alerts.live import RedisWorld
    from alerts.orders import Orders
    from gridwatch.services import MosquittoServer, RedisServer, ensure_on_path
    from gridwatch.settings import Settings
    from telemetry.mqtt import connect

    ensure_on_path()
    work = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    rs = RedisServer(workdir=work / "redis").start()
    # Mosquitto's default leaves Nagle on for its sockets; --nodelay measures the difference.
    ms = MosquittoServer(workdir=work / "mosquitto",
                         extra_config="set_tcp_nodelay true\n" if args.nodelay else "").start()
    procs: list[subprocess.Popen] = []
    try:
        settings = Settings(redis_url=rs.url, mqtt_url=ms.url, ack_timeout_s=600, var_dir=work / "var")
        env = {**os.environ, "GRIDWATCH_REDIS_URL": rs.url, "GRIDWATCH_MQTT_URL": ms.url,
               "GRIDWATCH_ACK_TIMEOUT_S": "600", "PYTHONPATH": str(ROOT)}
        ds = bench_dataset(args.terminals)
        r = redis.Redis.from_url(rs.url)
        world = RedisWorld(r, settings, dataset=ds)
        if importlib.util.find_spec("telemetry.ingest") is not None:
            procs.append(subprocess.Popen([sys.executable, "-m", "bench.bench_orders", "ingest",
                                           str(args.terminals)], cwd=ROOT, env=env))
            time.sleep(3.0)  # the ingest's shared subscription is in place before anyone reports
            load = MqttLoad(settings, ds)
            mode = "reports and acks over MQTT QoS 1 through telemetry's ingest"
        else:
            load = DirectLoad(settings, ds, world)
            mode = "load written through telemetry.store.LiveStore (no ingest installed)"
        load.one_second()
        threading.Thread(target=load.run, daemon=True).start()
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.bench_orders", "dispatcher", "bench",
                                       str(args.terminals)], cwd=ROOT, env=env))

        # The measured terminals: paho clients, persistent sessions, QoS 1; on an order they
        # note the time and acknowledge (the ack goes up the same way as the load's reports).
        received: dict[tuple[str, str], float] = {}
        got = threading.Condition()
        terms = {}
        for i in range(MEASURED):
            dev = f"dev-m{i}"

            def on_message(client, userdata, msg, dev=dev):
                import orjson

                body = orjson.loads(msg.payload)
                with got:
                    received[(dev, body["id"])] = time.time()
                    got.notify_all()

            def on_connect(client, userdata, flags, rc, props, dev=dev):
                client.subscribe(f"{settings.topic_root}/{dev}/orders", qos=1)

            terms[dev] = connect(settings, dev, clean_start=False, session_expiry_s=600,
                                 on_message=on_message, on_connect=on_connect)
        orders = Orders(r, settings, world)
        time.sleep(2.0)  # dispatcher up, consumer groups created

        deliver, visible = [], []
        recipients = [f"dev-m{i}" for i in range(MEASURED)]
        for n in range(args.orders):
            t0 = time.time()
            o = orders.issue({"lat": POINT[0], "lon": POINT[1], "title": f"bench {n}", "recipients": recipients},
                             "user:bench")
            with got:
                got.wait_for(lambda: all((d, o["id"]) in received for d in recipients), timeout=10)
            deliver += [received[(d, o["id"])] - t0 for d in recipients if (d, o["id"]) in received]
            dev = recipients[n % MEASURED]
            t1 = time.time()
            load.ack(dev, dev.removeprefix("dev-"), o["id"], "acknowledged")
            while True:
                rec = next(x for x in orders.get(o["id"], with_audit=False)["recipients"] if x["device"] == dev)
                if rec["state"] == "acknowledged":
                    visible.append(time.time() - t1)
                    break
                if time.time() - t1 > 10:
                    break
                time.sleep(0.001)
            time.sleep(0.02)

        ms_ = lambda xs, q: percentile(xs, q) * 1000  # noqa: E731
        print(f"bench orders: {args.orders} orders x {MEASURED} recipients, {args.terminals} terminals at 1 Hz "
              f"({load.reports} reports sent); {mode}; broker set_tcp_nodelay {'true' if args.nodelay else 'false (default)'}")
        print(f"  issued -> device received: n={len(deliver)} p50 {ms_(deliver, 50):.1f} ms  "
              f"p95 {ms_(deliver, 95):.1f} ms  max {max(deliver) * 1000:.1f} ms  (goal p95 <= 100 ms)")
        print(f"  ack -> state visible:      n={len(visible)} p50 {ms_(visible, 50):.1f} ms  "
              f"p95 {ms_(visible, 95):.1f} ms  max {max(visible) * 1000:.1f} ms  (goal p95 <= 250 ms)")
        ok = ms_(deliver, 95) <= 100 and ms_(visible, 95) <= 250 and len(deliver) == args.orders * MEASURED
        load.stop.set()
        for c in terms.values():
            c.disconnect()
            c.loop_stop()
        return 0 if ok else 1
    finally:
        for p_ in procs:
            p_.terminate()
            try:
                p_.wait(10)
            except subprocess.TimeoutExpired:
                p_.kill()
        rs.stop()
        ms.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "dispatcher":
        sys.exit(_dispatcher_main(sys.argv[2], int(sys.argv[3])))
    if len(sys.argv) > 1 and sys.argv[1] == "ingest":
        sys.exit(_ingest_main(int(sys.argv[2])))
    sys.exit(main())
