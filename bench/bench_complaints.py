"""Complaints (issue 17): the citizen's public progress query under load, on loopback.

A private PostgreSQL (fsync on) holds the demo register and a history of complaints (the demo's
generator, 2018 .. --until); a real `gridwatch web` (one uvicorn process, its own Redis and
Mosquitto) answers `GET /api/public/complaints/{code}?phone_last4=` to 200 concurrent clients,
each looking up real codes with the right digits (the rate limit raised for the run, its Redis
counter still paid on every request). In the same run and with the same clients: the baseline
`GET /api/health` (the server's floor: no database), and in SQL the lookup by the indexed
query code against the same lookup by an unindexed expression (what the index buys).
Goal: public query p95 <= 50 ms.

`python -m bench complaints` or `python -m bench.bench_complaints [--until 2021-12-31] [--requests 4000]`.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

GOAL_P95_MS = 50.0
CONCURRENCY = 200


def pct(xs, p):
    return float(np.percentile(np.array(xs) * 1000, p))


async def hammer(base: str, paths: list[str], concurrency: int, think_s: float = 0.0
                 ) -> tuple[list[float], dict[int, int], float]:
    """`concurrency` clients, each with its own connection, taking paths off one list; the
    latency of each request and the count of each status. `think_s`: each client waits a random
    time (exponential, this mean) before each request, as people do (0: back to back)."""
    import httpx

    queue = list(reversed(paths))
    lat: list[float] = []
    status: dict[int, int] = {}

    async def client():
        async with httpx.AsyncClient(base_url=base, timeout=60,
                                     limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as c:
            rng = random.Random(id(c))
            while queue:
                if think_s:
                    await asyncio.sleep(rng.expovariate(1 / think_s))
                    if not queue:
                        break
                p = queue.pop()
                t = time.perf_counter()
                res = await c.get(p)
                lat.append(time.perf_counter() - t)
                status[res.status_code] = status.get(res.status_code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return lat, status, time.perf_counter() - t0


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_complaints")
    ap.add_argument("--until", default="2021-12-31", help="the history's last day (its complaints are looked up)")
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = ap.parse_args(argv or [])

    import httpx
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
        history.write(scratch, ds, until=date.fromisoformat(args.until))
        with connect(pg.url) as c:
            records.load_dataset_records(c, ds, scratch)
        conn = connect(pg.url, autocommit=True)
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
        web = subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "web"], env=env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gridwatch web did not come up")
            time.sleep(0.2)
        rng = random.Random(2026)
        picks = [codes[rng.randrange(len(codes))] for _ in range(args.requests)]
        query = [f"/api/public/complaints/{c}?phone_last4={d}" for c, d in picks]
        # warm: the pool's connections, the first requests' imports
        asyncio.run(hammer(base, query[:400], 50))
        sweep = {}
        for conc, n in ((1, 300), (20, 1000)):
            sweep[conc] = (asyncio.run(hammer(base, ["/api/health"] * n, conc))[0],
                           asyncio.run(hammer(base, query[:n], conc))[0])
        health_lat, health_status, health_s = asyncio.run(hammer(base, ["/api/health"] * args.requests, args.concurrency))
        q_lat, q_status, q_s = asyncio.run(hammer(base, query, args.concurrency))
        wrong = [f"/api/public/complaints/{c}?phone_last4={'0000' if d != '0000' else '1111'}" for c, d in picks[:1000]]
        w_lat, w_status, _ = asyncio.run(hammer(base, wrong, args.concurrency))
        people = asyncio.run(hammer(base, query[:1000], args.concurrency, think_s=2.0))
        load = os.getloadavg()[0]
    finally:
        if web is not None:
            web.terminate()
            web.wait(20)
        for s in (ms, rs):
            if s is not None:
                s.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    ok = q_status.get(200, 0) == len(query) and w_status.get(404, 0) == len(wrong)
    p95 = pct(q_lat, 95)
    print(f"public query, {args.concurrency} concurrent clients on loopback, {n_complaints} complaints "
          f"(history 2018-01-01 .. {args.until}), one `gridwatch web` process:")
    print(f"  GET /api/public/complaints/{{code}}  {len(query)} lookups: p50 {pct(q_lat, 50):.1f} ms, "
          f"p95 {p95:.1f} ms, p99 {pct(q_lat, 99):.1f} ms, {len(query) / q_s:.0f} req/s, statuses {q_status} "
          f"(goal p95 <= {GOAL_P95_MS:.0f} ms)")
    print(f"  wrong phone digits (404)          {len(wrong)} lookups: p50 {pct(w_lat, 50):.1f} ms, "
          f"p95 {pct(w_lat, 95):.1f} ms, statuses {w_status}")
    print(f"  baseline GET /api/health          {len(health_lat)} requests: p50 {pct(health_lat, 50):.1f} ms, "
          f"p95 {pct(health_lat, 95):.1f} ms, {len(health_lat) / health_s:.0f} req/s, statuses {health_status}; "
          f"query p95 / health p95 = {p95 / pct(health_lat, 95):.2f}")
    print(f"  {args.concurrency} concurrent people, each looking up every ~2 s (exponential think time): "
          f"{len(people[0])} lookups, p50 {pct(people[0], 50):.1f} ms, p95 {pct(people[0], 95):.1f} ms, "
          f"statuses {people[1]}")
    for conc, (h_lat, l_lat) in sweep.items():
        print(f"  at {conc:>3} concurrent: query p50 {pct(l_lat, 50):.1f} ms, p95 {pct(l_lat, 95):.1f} ms; "
              f"health p50 {pct(h_lat, 50):.1f} ms, p95 {pct(h_lat, 95):.1f} ms")
    print(f"  machine load average during the run: {load:.1f} on {os.cpu_count()} cores")
    print(f"  SQL alone: by the indexed query code p50 {pct(sql['indexed'], 50):.3f} ms, p95 {pct(sql['indexed'], 95):.3f} ms; "
          f"by an unindexed expression (lower(query_code)) p50 {pct(sql['unindexed'], 50):.1f} ms "
          f"({pct(sql['unindexed'], 50) / pct(sql['indexed'], 50):.0f}x)")
    met = ok and p95 <= GOAL_P95_MS
    print("  goal met" if met else "  GOAL MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
