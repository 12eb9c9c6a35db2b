"""Scale-out: 100k simulated terminals at a reduced rate through the whole system, and what it
says about a province (docs/scale-out.md does the arithmetic with these figures).

A private redis-server (AOF everysec, as deployed) and mosquitto, the Yingtan dataset, W
`gridwatch ingest` processes on one shared subscription and the simulator (`telemetry.simulator`,
as `gridwatch simulate --devices 100000 --interval S` runs it, here with the synthetic terminals
only: 100,000 of them, each reporting every S seconds with jitter). After a warm-up in which every terminal has reported, it measures
for a while: messages stored per second (the shared tally), ingest lag (store time minus fix
time, from the lag histogram; the simulator sends whole seconds, so up to 1 s of it is the
device clock's rounding), CPU per message of the workers (both processes of each) and of Redis,
and nearest k=5 latency among the 100k while they move.

No goal of its own: the goals are in the other benchmarks. Baseline in the same run: the same
nearest queries against Redis GEOSEARCH 2 km over the same live positions."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import redis

from gridwatch.services import MosquittoServer, RedisServer, ensure_on_path
from gridwatch.settings import Settings
from telemetry.nearest import nearest
from telemetry.store import SEEN, LiveStore

BOX = (27.85, 28.63, 116.69, 117.47)  # the Yingtan demo's extent


def spawn(settings: Settings, log: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, GRIDWATCH_REDIS_URL=settings.redis_url, GRIDWATCH_MQTT_URL=settings.mqtt_url,
               GRIDWATCH_SYNTHETIC_DEVICES="1")
    return subprocess.Popen([sys.executable, "-m", "gridwatch.cli", *args], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            for q in [p, *p.children(recursive=True)]:
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def redis_cpu_s(r: redis.Redis) -> float:
    info = r.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def lag_quantile(buckets: list[tuple[float, int]], q: float) -> float:
    """Upper bound of the histogram bucket holding quantile q (the histogram's resolution)."""
    total = buckets[-1][1]
    for le, n in buckets:
        if n >= q * total:
            return le
    return float("inf")


def diff_buckets(a, b):
    return [(le, nb - na) for (le, na), (_, nb) in zip(a, b)]


def pct(xs, p) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=50.0, help="seconds between reports of one terminal")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring time after the warm-up")
    a = ap.parse_args(argv or [])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers and processes it started
    ensure_on_path()
    with tempfile.TemporaryDirectory() as tmp:
        rs = RedisServer(workdir=Path(tmp) / "redis").start()  # AOF everysec, as deployed
        ms = MosquittoServer(workdir=Path(tmp) / "mosquitto").start()
        try:
            return run(rs, ms, a)
        finally:
            ms.stop()
            rs.stop()


def run(rs: RedisServer, ms: MosquittoServer, a) -> int:
    from bench.bench_ingest import load_demo

    settings = Settings(redis_url=rs.url, mqtt_url=ms.url, synthetic_devices=True)
    r = redis.Redis.from_url(rs.url)
    load_demo(r)
    store = LiveStore(r, settings)
    logs = Path(rs.workdir).parent
    workers = [spawn(settings, logs / f"ingest-{i}.log", "ingest", "--client-id", f"scale-ingest-{i}")
               for i in range(a.workers)]
    # the simulator as a library, synthetic terminals only: 175 registered phones, each with its
    # own MQTT connection and thread, add nothing to the load and slow the start
    sim = subprocess.Popen([sys.executable, "-m", "bench.bench_scale", "--simulate", settings.redis_url, settings.mqtt_url,
                            str(a.devices), str(a.interval)], stdout=(logs / "simulate.log").open("w"),
                           stderr=subprocess.STDOUT)
    procs = [psutil.Process(p.pid) for p in workers]
    print(f"scale: {a.devices:,} synthetic terminals, one report per {a.interval:.0f} s each "
          f"(~{a.devices / a.interval:,.0f} msgs/s), {a.workers} ingest workers, Redis with AOF everysec")
    try:
        # warm-up: every terminal has reported once (its first report comes within one interval)
        t0 = time.monotonic()
        while r.zcard(SEEN) < a.devices and time.monotonic() - t0 < 600:
            if any(p.poll() is not None for p in [sim, *workers]):
                raise SystemExit("a process of the bench exited:\n" + "\n".join(
                    f.read_text()[-2000:] for f in sorted(logs.glob("*.log"))))
            time.sleep(1.0)
        live = store.presence_counts()
        print(f"  warm-up {time.monotonic() - t0:.0f} s: {sum(live.values()):,} devices in the store {live}")

        s0, c0, rc0, w0 = store.stats(), cpu_s(procs), redis_cpu_s(r), time.monotonic()
        # nearest among the moving 100k while ingest runs, and GEOSEARCH on a snapshot of them
        rng = np.random.default_rng(7)
        lat_q = rng.uniform(BOX[0], BOX[1], 400)
        lon_q = rng.uniform(BOX[2], BOX[3], 400)
        ours, geo = [], []
        snap = "bench:geo"
        deadline = w0 + a.seconds
        rounds = 0
        pipe = r.pipeline(transaction=False)  # the GEOSEARCH baseline: the positions at the start
        for d in store.devices():
            if d.lat is not None:
                pipe.geoadd(snap, (d.lon, d.lat, d.device))
        pipe.execute()
        while time.monotonic() < deadline:
            i = rounds % len(lat_q)
            t = time.perf_counter()
            nearest(r, float(lat_q[i]), float(lon_q[i]), 5, statuses=None)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            r.geosearch(snap, longitude=float(lon_q[i]), latitude=float(lat_q[i]), radius=2, unit="km",
                        count=5, sort="ASC", withdist=True)
            geo.append(time.perf_counter() - t)
            rounds += 1
            time.sleep(0.05)
        s1, c1, rc1, w1 = store.stats(), cpu_s(procs), redis_cpu_s(r), time.monotonic()
        r.delete(snap)
    finally:
        sim.send_signal(signal.SIGTERM)
        for p in workers:
            p.send_signal(signal.SIGTERM)
        for p in [sim, *workers]:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        r.close()
    secs = w1 - w0
    n = s1["messages"] - s0["messages"]
    rate = n / secs
    lag = diff_buckets(s0["lag"]["buckets"], s1["lag"]["buckets"])
    worker_us = (c1 - c0) / max(1, n) * 1e6
    redis_us = (rc1 - rc0) / max(1, n) * 1e6
    print(f"  measured {secs:.0f} s: {rate:,.0f} msgs/s stored ({n:,} messages; dropped "
          f"{sum(s1['dropped'].values()) - sum(s0['dropped'].values()):,}, by reason "
          f"{ {k: v - s0['dropped'].get(k, 0) for k, v in s1['dropped'].items() if v - s0['dropped'].get(k, 0)} })")
    print(f"  ingest lag (store - fix time), histogram bucket bounds: p50 <= {lag_quantile(lag, 0.5)} s, "
          f"p95 <= {lag_quantile(lag, 0.95)} s, p99 <= {lag_quantile(lag, 0.99)} s")
    print(f"  CPU per message: ingest workers {worker_us:.0f} us (both processes), Redis {redis_us:.1f} us")
    print(f"  -> one core of ingest ~{1e6 / worker_us:,.0f} msgs/s; Redis main thread busy "
          f"{(rc1 - rc0) / secs * 100:.1f} % at this rate, ~{1e6 / max(redis_us, 1e-9):,.0f} msgs/s at 100 %")
    print(f"  nearest k=5 among them while they move: p50 {pct(ours, 0.5):.2f} ms, p99 {pct(ours, 0.99):.2f} ms "
          f"(n={len(ours)}); GEOSEARCH 2 km on a snapshot: p50 {pct(geo, 0.5):.2f} ms, p99 {pct(geo, 0.99):.2f} ms")
    return 0


def simulate(redis_url: str, mqtt_url: str, devices: str, interval: str) -> int:
    from telemetry.simulator import Simulator

    settings = Settings(redis_url=redis_url, mqtt_url=mqtt_url, synthetic_devices=True)
    return Simulator.from_redis(settings, int(devices), interval_s=float(interval), connect_registered=False).run()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--simulate":
        sys.exit(simulate(*sys.argv[2:6]))
    sys.exit(main(sys.argv[1:]))
