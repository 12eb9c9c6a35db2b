"""Ingest throughput: messages/s through the whole pipeline (`gridwatch ingest` processes:
decode, filter, grid index, one Lua script + trail per fix, PUBACK after Redis) vs bare paho
receive (QoS 1, auto-ack) of the same messages from the same broker in the same run, with 1 and
2 workers on an MQTT v5 shared subscription. Both drain a queue the broker kept for their
offline persistent sessions. Goal: ratio >= 0.5. Also the workers' peak RSS (goal <= 150 MB; a
worker is its receiver process plus its store process: the figure is their summed PSS, which
counts the pages they share once, and each process's RSS is printed too)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import psutil
import redis

from gridwatch.services import MosquittoServer, RedisServer, ensure_on_path
from gridwatch.settings import Settings

M = int(os.environ.get("BENCH_INGEST_MESSAGES", "40000"))
DEVICES = 2000


def messages(n: int, now: float) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        d, j = i % DEVICES, i // DEVICES
        out.append((f"gw/sim-{d:05d}/loc", orjson.dumps({
            "_type": "location", "lat": round(28.0 + (d % 50) * 0.01 + j * 1e-5, 6),
            "lon": round(116.8 + (d // 50) * 0.01, 6), "tst": int(now) - 3000 + j, "acc": 8, "batt": 80})))
    return out


def publish(settings, items) -> None:
    from telemetry.mqtt import connect

    pub = connect(settings, "bench-pub", clean_start=True, session_expiry_s=0)
    for chunk in range(0, len(items), 2000):
        infos = [pub.publish(t, p, qos=1) for t, p in items[chunk:chunk + 2000]]
        for info in infos:
            info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()


# ---- the bare receiver (a subprocess, like a worker) ----------------------------------------------

def bare(url: str, group: str, client_id: str, mode: str) -> None:
    from paho.mqtt.subscribeoptions import SubscribeOptions

    from telemetry.mqtt import connect, subscribe

    s = Settings(mqtt_url=url)
    got = [0, 0.0, 0.0]
    lock = threading.Lock()

    def on_message(c, u, msg):
        with lock:
            now = time.perf_counter()
            if not got[0]:
                got[1] = now
            got[0] += 1
            got[2] = now

    c = connect(s, client_id, on_message=on_message)
    topic = f"$share/{group}/gw/+/loc"
    subscribe(c, [(topic, SubscribeOptions(qos=1))])  # returns on the SUBACK: the session now exists
    if mode != "init":
        while True:
            before = got[0]
            time.sleep(1.0)
            if got[0] and got[0] == before:
                break
        c.unsubscribe(topic)
        time.sleep(0.2)
    c.disconnect()
    c.loop_stop()
    print(f"{got[0]} {got[1]!r} {got[2]!r}", flush=True)


def _bare_procs(url, group, n, mode):
    return [subprocess.Popen([sys.executable, "-m", "bench.bench_ingest", "--bare", url, group, f"bare-{group}-{i}", mode],
                             stdout=subprocess.PIPE, text=True) for i in range(n)]


def bare_rate(settings, items, workers: int) -> float:
    group = f"bare{workers}"
    for p in _bare_procs(settings.mqtt_url, group, workers, "init"):
        p.wait(30)
    publish(settings, items)
    procs = _bare_procs(settings.mqtt_url, group, workers, "drain")
    results = [tuple(map(float, p.communicate(timeout=300)[0].split())) for p in procs]
    total = sum(r[0] for r in results)
    return total / (max(r[2] for r in results) - min(r[1] for r in results if r[0]))


# ---- the pipeline ---------------------------------------------------------------------------------------

def _workers(settings, group: str, n: int) -> list[subprocess.Popen]:
    env = dict(os.environ, GRIDWATCH_REDIS_URL=settings.redis_url, GRIDWATCH_MQTT_URL=settings.mqtt_url,
               GRIDWATCH_INGEST_GROUP=group, GRIDWATCH_SYNTHETIC_DEVICES="1")
    procs = [subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "ingest", "--client-id", f"ingest-{group}-{i}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(n)]
    for p in procs:
        for line in p.stdout:
            if "subscribed" in line:
                break
        threading.Thread(target=lambda p=p: [None for _ in p.stdout], daemon=True).start()
    return procs


def pipeline_rate(settings, r: redis.Redis, items, workers: int) -> tuple[float, float]:
    group = f"ingest{workers}"
    for p in _workers(settings, group, workers):  # create the sessions, then leave
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    publish(settings, items)
    r.config_resetstat()
    procs = _workers(settings, group, workers)
    # a worker is two processes: the MQTT receiver and its store process (StoreProcess)
    tree = [[psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)] for p in procs]
    ps = [q for t in tree for q in t]
    names = [" ".join(q.cmdline())[-40:] for q in tree[-1]]
    cpu = lambda: sum(sum(p.cpu_times()[:2]) for p in ps)  # noqa: E731 - user + system, all workers
    peak, t_first, first_count, cpu0, polls, peak_rss = 0, None, 0, cpu(), 0, []
    rinfo = r.info("cpu")
    rcpu0 = rinfo["used_cpu_user"] + rinfo["used_cpu_sys"]
    while True:
        calls = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        now = time.perf_counter()
        if calls and t_first is None:
            t_first, first_count = now, calls
        if polls % 10 == 0:  # PSS: shared pages (interpreter, libraries) counted once across the processes
            for t in tree:
                mem = [q.memory_full_info() for q in t]
                peak = max(peak, sum(m.pss for m in mem))
                peak_rss = [max(a, m.rss) for a, m in zip(peak_rss, mem)] if peak_rss else [m.rss for m in mem]
        polls += 1
        if calls >= len(items):
            break
        time.sleep(0.01)
    rate = (calls - first_count) / (now - t_first)
    # Worker CPU per message: steadier than the rates on a shared machine (the other tenants
    # move the rates, bare and pipeline alike, far more than the work each message costs).
    cpu_us = (cpu() - cpu0) / len(items) * 1e6
    rinfo = r.info("cpu")
    redis_us = (rinfo["used_cpu_user"] + rinfo["used_cpu_sys"] - rcpu0) / len(items) * 1e6
    print(f"    Redis CPU {redis_us:.1f} us per message (live script, trail, tally; the province arithmetic "
          f"in docs/scale-out.md uses it)")
    for p in procs:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    print("    peak RSS per process of a worker: " + ", ".join(
        f"{'receiver' if i == 0 else 'resource tracker' if 'resource_tracker' in n else 'store'} {b / 2**20:.0f} MB"
        for i, (n, b) in enumerate(zip(names, peak_rss))))
    return rate, peak / 2**20, cpu_us


def main(argv: list[str] | None = None) -> int:
    ensure_on_path()
    with tempfile.TemporaryDirectory() as tmp:
        rs = RedisServer(workdir=Path(tmp) / "redis", appendonly=False).start()
        ms = MosquittoServer(workdir=Path(tmp) / "mosquitto").start()
        try:
            return run(rs, ms)
        finally:
            ms.stop()
            rs.stop()


def load_demo(r: redis.Redis) -> None:
    from geodata.dataset import load_dataset
    from geodata.demo import ensure_demo_dataset
    from geodata.store import save_dataset

    save_dataset(r, load_dataset(ensure_demo_dataset(Settings().data_dir())))


def run(rs: RedisServer, ms: MosquittoServer) -> int:
    settings = Settings(redis_url=rs.url, mqtt_url=ms.url, synthetic_devices=True)
    r = redis.Redis.from_url(rs.url)
    load_demo(r)
    ok = True
    print(f"ingest: {M} QoS 1 location messages ({DEVICES} devices) drained from offline persistent sessions")
    peak_all = 0.0
    for workers in (1, 2):
        now = time.time()
        items = messages(M, now + workers * 100)  # fresh fixes each round (never duplicates)
        b = bare_rate(settings, items, workers)
        p, peak, cpu_us = pipeline_rate(settings, r, items, workers)
        peak_all = max(peak_all, peak)
        ratio = p / b
        ok &= ratio >= 0.5
        print(f"  {workers} worker(s): pipeline {p:,.0f} msgs/s, bare paho {b:,.0f} msgs/s, ratio {ratio:.2f}, "
              f"worker peak PSS {peak:.0f} MB, worker CPU {cpu_us:.0f} us per message")
    ok &= peak_all <= 150
    print(f"  goal ratio >= 0.5 with 1 and 2 workers, memory <= 150 MB: {'met' if ok else 'MISSED'}")
    r.close()
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        bare(*sys.argv[2:6])
    else:
        sys.exit(main(sys.argv[1:]))
