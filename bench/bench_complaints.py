"""Complaints (issue 17): the citizen's public progress query under load, on loopback.

A private PostgreSQL (fsync on) holds the demo register and a history of complaints (the demo's
generator, 2018 .. --until); a real `gridwatch web` (one uvicorn process, its own Redis and
Mosquitto) answers `GET /api/public/complaints/{code}?phone_last4=` to 200 concurrent clients,
each looking up real codes with the right digits (the rate limit raised for the run, its Redis
counter still paid on every request). In the same run and with the same clients: the baseline
`GET /api/health` (the server's floor: no database), and in SQL the lookup by the indexed
query code against the same lookup by an unindexed expression (what the index buys).
Goal: public query p95 <= 50 ms, with 200 clients back to back (200 lookups always in flight)
and with 200 citizens each looking up every ~2 s; both must be met.

`python -m bench complaints` or `python -m bench.bench_complaints [--until 2021-12-31] [--requests 4000]`.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from testkit.waiting import wait_for_web

import numpy as np

GOAL_P95_MS = 50.0
CONCURRENCY = 200


def pct(xs, p):
    return float(np.percentile(np.array(xs) * 1000, p))


def sql_bench(conn, codes: list[tuple[str, str]], n: int = 300) -> dict:
    from casework.complaint_store import PUBLIC

    sample = random.Random(17).sample(codes, min(n, len(codes)))
    out = {}
    for name, sql in (("indexed", PUBLIC),
                      ("unindexed", PUBLIC.replace("WHERE query_code = %s", "WHERE lower(query_code) = lower(%s)"))):
        ts = []
        for code, last4 in sample[: n if name == "indexed" else max(20, n // 10)]:
            t = time.perf_counter()
            row = conn.execute(sql, (last4, code)).fetchone()
            ts.append(time.perf_counter() - t)
            assert row and row["phone_ok"]
        out[name] = ts
    return out


@contextlib.contextmanager
def stack(until: str, workers: int = 1):
    """The private PostgreSQL with the register and the history, Redis, Mosquitto and `gridwatch
    web` (`workers` uvicorn processes) on a free port: yields (base URL, port, [(code, last4)],
    number of complaints, SQL timings)."""
    import redis as redis_lib

    from casework import history, records, schema
    from geodata.dataset import load_dataset
    from geodata.store import save_dataset
    from gridwatch.db import connect
    from gridwatch.demo import ensure_demo
    from gridwatch.services import MosquittoServer, PostgresServer, RedisServer, free_port

    ensure_demo(Path("var/yingtan"))
    ds = load_dataset("var/yingtan")
    work = Path(tempfile.mkdtemp(prefix="gw-bench-complaints-"))
    if os.geteuid() == 0:
        shutil.chown(work, "postgres", "postgres")
    pg = PostgresServer(workdir=work / "pg").start()
    rs = ms = web = None
    try:
        schema.upgrade(pg.url)
        scratch = work / "yingtan"
        scratch.mkdir()
        for name in ("grids.geojson", "people.csv", "entities.csv"):
            (scratch / name).symlink_to((Path("var/yingtan") / name).resolve())
        history.write(scratch, ds, until=date.fromisoformat(until))
        with connect(pg.url) as c:
            records.load_dataset_records(c, ds, scratch)
        with connect(pg.url, autocommit=True) as conn:
            n_complaints = conn.execute("SELECT count(*) AS n FROM complaints").fetchone()["n"]
            codes = [(r["query_code"], r["last4"]) for r in conn.execute(
                "SELECT query_code, right(complainant_phone, 4) AS last4 FROM complaints")]
            sql = sql_bench(conn, codes)

        rs = RedisServer(workdir=work / "redis", appendonly=False).start()
        ms = MosquittoServer(workdir=work / "mqtt").start()
        r = redis_lib.Redis.from_url(rs.url)
        save_dataset(r, ds)
        port = free_port()
        env = dict(os.environ, GRIDWATCH_REDIS_URL=rs.url, GRIDWATCH_MQTT_URL=ms.url, GRIDWATCH_DATABASE_URL=pg.url,
                   GRIDWATCH_HTTP=f"127.0.0.1:{port}", GRIDWATCH_VAR_DIR=str(work / "var"),
                   GRIDWATCH_DATA="var/yingtan", GRIDWATCH_COMPLAINT_QUERY_PER_MIN=str(10**9))
        web = subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "web", "--workers", str(workers)], env=env)
        base = f"http://127.0.0.1:{port}"
        wait_for_web(base, web, timeout=90, healthy=True)
        yield base, port, codes, n_complaints, sql
    finally:
        if web is not None:
            web.terminate()
            web.wait(20)
        for s in (ms, rs):
            if s is not None:
                s.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_complaints")
    ap.add_argument("--until", default="2021-12-31", help="the history's last day (its complaints are looked up)")
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY)
    ap.add_argument("--workers", type=int, default=1, help="web processes (gridwatch web --workers)")
    ap.add_argument("--client-procs", type=int, default=2, help="processes of the load generator")
    ap.add_argument("--hold", action="store_true", help="start the stack, print its URL and wait (profiling)")
    args = ap.parse_args(argv or [])

    from bench.httpload import run

    host = "127.0.0.1"
    with stack(args.until, args.workers) as (base, port, codes, n_complaints, sql):
        rng = random.Random(2026)
        picks = [codes[rng.randrange(len(codes))] for _ in range(args.requests)]
        query = [f"/api/public/complaints/{c}?phone_last4={d}" for c, d in picks]
        if args.hold:
            Path("/tmp/gw-bench-complaints.paths").write_text("\n".join(query) + "\n")
            print(f"serving on {base}; paths in /tmp/gw-bench-complaints.paths; Ctrl-C or SIGTERM ends", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
            return 0

        def hit(paths, conc, think_s=0.0):
            return run(host, port, paths, conc, think_s=think_s, procs=min(args.client_procs, conc))

        hit(query[:400], 50)            # warm: the pools' connections, the first requests' imports
        hit(["/api/health"] * 400, 50)
        sweep = {conc: (hit(["/api/health"] * n, conc), hit(query[:n], conc)) for conc, n in ((1, 300), (20, 1000))}
        loads = [os.getloadavg()[0]]
        health = hit(["/api/health"] * args.requests, args.concurrency)
        q = hit(query, args.concurrency)
        loads.append(os.getloadavg()[0])
        wrong = [f"/api/public/complaints/{c}?phone_last4={'0000' if d != '0000' else '1111'}" for c, d in picks[:1000]]
        w = hit(wrong, args.concurrency)
        people = hit(query[:2000], args.concurrency, think_s=2.0)
        people_health = hit(["/api/health"] * 2000, args.concurrency, think_s=2.0)
        loads.append(os.getloadavg()[0])

    ok = q.status.get(200, 0) == len(query) and w.status.get(404, 0) == len(wrong) \
        and people.status.get(200, 0) == len(people.latencies)
    p95 = pct(q.latencies, 95)
    print(f"public query on loopback, {n_complaints} complaints (history 2018-01-01 .. {args.until}), "
          f"`gridwatch web --workers {args.workers}`; clients: {args.client_procs} processes of plain asyncio "
          f"keep-alive connections (bench/httpload.py), one connection per client:")
    print(f"  closed, {args.concurrency} clients back to back:")
    print(f"    GET /api/public/complaints/{{code}}  {len(query)} lookups: p50 {pct(q.latencies, 50):.1f} ms, "
          f"p95 {p95:.1f} ms, p99 {pct(q.latencies, 99):.1f} ms, {q.rate:.0f} req/s, statuses {q.status}; "
          f"the clients used {q.client_cpu_s:.1f} CPU s in {q.wall_s:.1f} s")
    print(f"    GET /api/health (floor)            {len(health.latencies)} requests: p50 {pct(health.latencies, 50):.1f} ms, "
          f"p95 {pct(health.latencies, 95):.1f} ms, {health.rate:.0f} req/s, statuses {health.status}; "
          f"clients {health.client_cpu_s:.1f} CPU s in {health.wall_s:.1f} s")
    print(f"    wrong phone digits (404)           {len(w.latencies)} lookups: p50 {pct(w.latencies, 50):.1f} ms, "
          f"p95 {pct(w.latencies, 95):.1f} ms, statuses {w.status}")
    print(f"  open, {args.concurrency} concurrent citizens each looking up every ~2 s (exponential think time): "
          f"query {len(people.latencies)} lookups p50 {pct(people.latencies, 50):.1f} ms, "
          f"p95 {pct(people.latencies, 95):.1f} ms, p99 {pct(people.latencies, 99):.1f} ms, {people.rate:.0f} req/s, "
          f"statuses {people.status}; health p50 {pct(people_health.latencies, 50):.1f} ms, "
          f"p95 {pct(people_health.latencies, 95):.1f} ms")
    for conc, (h, l) in sweep.items():
        print(f"  closed, {conc:>3} clients: query p50 {pct(l.latencies, 50):.1f} ms, p95 {pct(l.latencies, 95):.1f} ms, "
              f"{l.rate:.0f} req/s; health p50 {pct(h.latencies, 50):.1f} ms, p95 {pct(h.latencies, 95):.1f} ms, "
              f"{h.rate:.0f} req/s")
    print(f"  machine load average (1 min) before / after the closed runs / at the end: "
          + " / ".join(f"{x:.1f}" for x in loads) + f" on {os.cpu_count()} cores")
    print(f"  SQL alone: by the indexed query code p50 {pct(sql['indexed'], 50):.3f} ms, p95 {pct(sql['indexed'], 95):.3f} ms; "
          f"by an unindexed expression (lower(query_code)) p50 {pct(sql['unindexed'], 50):.1f} ms "
          f"({pct(sql['unindexed'], 50) / pct(sql['indexed'], 50):.0f}x)")
    closed_met = ok and p95 <= GOAL_P95_MS
    open_met = ok and pct(people.latencies, 95) <= GOAL_P95_MS
    print(f"  goal (p95 <= {GOAL_P95_MS:.0f} ms): closed model {'met' if closed_met else 'MISSED'}, "
          f"open model {'met' if open_met else 'MISSED'}")
    return 0 if (closed_met and open_met) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
