"""The system of record (issue 13), on a private PostgreSQL (fsync on) started for the run:

1. entity search and the entity card at 700,000 entities (ten times the demo: each demo entity
   ten times over, with new valid USCCs), p50/p95 of `GET /api/entities?q=` (name part or
   USCC prefix, through casework.register.search) against the same query as a plain LIKE scan
   of the same table (indexes off) in the same run; goal p95 <= 20 ms;
2. the demo history: generation time and `gridwatch load` time (entities, history, sealing),
   and `records verify`; goal load < 60 s;
3. a 100 MB upload through a real `gridwatch web`: throughput against writing the same bytes to
   a file in the same run, and the web process's RSS growth (goal <= 20 MB).

`python -m bench records` or `python -m bench.bench_records [--entities N] [--queries N]`.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from testkit.waiting import wait_for_web

import numpy as np

GOAL_SEARCH_P95_MS = 20.0
GOAL_LOAD_S = 60.0
GOAL_RSS_MB = 20.0


def pct(xs, p):
    return float(np.percentile(np.array(xs) * 1000, p))


def big_register(ds, times: int):
    """The demo's entities `times` over, each copy with a new valid USCC."""
    import pandas as pd

    from geodata.uscc import check_char

    rng = random.Random(700)
    copies = [ds.entities]
    for k in range(1, times):
        e = ds.entities.copy()
        first17 = [u[:8] + f"{rng.randrange(36**9):09d}"[-9:] for u in e["uscc"]]
        first17 = ["".join(c if c not in "IOZSV" else "1" for c in f) for f in first17]
        e["uscc"] = [f + check_char(f) for f in first17]
        copies.append(e)
    out = pd.concat(copies, ignore_index=True).drop_duplicates("uscc")
    return type(ds)(grids=ds.grids, people=ds.people, entities=out)


def search_bench(conn, ds, n_queries: int) -> dict:
    from casework import register

    rng = random.Random(13)
    names = ds.entities["name"].tolist()
    codes = ds.entities["uscc"].tolist()
    queries = []
    for i in range(n_queries):
        if i % 3 == 2:
            c = rng.choice(codes)
            queries.append(c[:rng.randint(8, 14)])
        else:
            nm = rng.choice(names)
            a = rng.randrange(0, max(1, len(nm) - 3))
            queries.append(nm[a:a + rng.randint(2, 4)])
    fast, slow, compared = [], [], 0
    for q in queries:
        t = time.perf_counter()
        got = register.search(conn, q)
        fast.append(time.perf_counter() - t)
        like = "%" + q + "%"
        code = q.upper() + "%" if register.USCC_PREFIX.match(q.upper()) else "-"
        # the baseline: the plain query a first version would send, a scan of the whole table
        with conn.transaction():
            conn.execute("SET LOCAL enable_indexscan = off")
            conn.execute("SET LOCAL enable_bitmapscan = off")
            t = time.perf_counter()
            base = conn.execute("SELECT uscc FROM entities WHERE active AND (name ILIKE %s OR uscc LIKE %s) "
                                "ORDER BY (uscc = %s) DESC, length(name), name, uscc LIMIT 20",
                                (like, code, q.upper())).fetchall()
            slow.append(time.perf_counter() - t)
        n = conn.execute("SELECT count(*) AS n FROM entities WHERE active AND (name ILIKE %s OR uscc LIKE %s)",
                         (like, code)).fetchone()["n"]
        if n <= register.CANDIDATES:   # where the ranking sees every match, the answers agree
            assert [r["uscc"] for r in got] == [r["uscc"] for r in base], q
            compared += 1
    # the card: one entity with its history
    with_history = [r["uscc"] for r in conn.execute(
        "SELECT uscc FROM inspections GROUP BY uscc ORDER BY random() LIMIT 300").fetchall()]
    card = []
    for u in with_history:
        t = time.perf_counter()
        register.get(conn, u)
        card.append(time.perf_counter() - t)
    return {"search": (pct(fast, 50), pct(fast, 95)), "like": (pct(slow, 50), pct(slow, 95)),
            "card": (pct(card, 50), pct(card, 95)), "queries": len(queries), "compared": compared}


def upload_bench(pg_url: str, workdir: Path, size_mb: int = 100) -> dict:
    import httpx
    import psutil
    import redis as redis_lib

    from dashboard.auth import Accounts
    from geodata.dataset import load_dataset
    from geodata.store import save_dataset
    from gridwatch.services import RedisServer, free_port

    rs = RedisServer(workdir=workdir / "redis", appendonly=False).start()
    try:
        r = redis_lib.Redis.from_url(rs.url)
        save_dataset(r, load_dataset("var/yingtan"))
        acc = Accounts(r)
        acc.add("bench-sup", "admin", "pw")
        token = acc.new_token("bench-sup")
        port = free_port()
        env = dict(os.environ, GRIDWATCH_REDIS_URL=rs.url, GRIDWATCH_DATABASE_URL=pg_url,
                   GRIDWATCH_HTTP=f"127.0.0.1:{port}", GRIDWATCH_MEDIA_DIR=str(workdir / "media"),
                   GRIDWATCH_VAR_DIR=str(workdir / "var"), GRIDWATCH_MEDIA_MAX_MB=str(size_mb + 10),
                   GRIDWATCH_DATA="var/yingtan")
        web = subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "web"], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_web(base, web, timeout=60)
            proc = psutil.Process(web.pid)
            headers = {"Authorization": f"Bearer {token}"}
            # warm the route (the database pool, the first request's imports)
            small = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(20_000)
            httpx.post(base + "/api/media", files={"file": ("w.mp4", small, "video/mp4")}, headers=headers, timeout=60)
            body = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(size_mb << 20)
            rss0 = proc.memory_info().rss
            peak = [rss0]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], proc.memory_info().rss)
                    time.sleep(0.01)

            th = threading.Thread(target=sample)
            th.start()

            def chunks():
                for i in range(0, len(body), 1 << 20):
                    yield body[i:i + (1 << 20)]

            boundary = "gwbench"
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.mp4\"\r\n"
                    f"Content-Type: video/mp4\r\n\r\n").encode()
            tail = f"\r\n--{boundary}--\r\n".encode()

            def multipart():
                yield head
                yield from chunks()
                yield tail

            t = time.perf_counter()
            res = httpx.post(base + "/api/media", content=multipart(), timeout=300,
                             headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
            up_s = time.perf_counter() - t
            stop.set()
            th.join()
            assert res.status_code == 201, res.text
            # the baseline: the same bytes written to a file and fsynced, in the same run
            t = time.perf_counter()
            with open(workdir / "baseline.bin", "wb") as f:
                for c in chunks():
                    f.write(c)
                f.flush()
                os.fsync(f.fileno())
            disk_s = time.perf_counter() - t
            return {"size_mb": size_mb, "upload_mb_s": size_mb / up_s, "disk_mb_s": size_mb / disk_s,
                    "rss0_mb": rss0 / 2**20, "rss_growth_mb": (peak[0] - rss0) / 2**20}
        finally:
            web.terminate()
            web.wait(20)
    finally:
        rs.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_records")
    ap.add_argument("--entities-times", type=int, default=10)
    ap.add_argument("--queries", type=int, default=600)
    ap.add_argument("--upload-mb", type=int, default=100)
    ap.add_argument("--parts", default="history,search,upload", help="which of history, search, upload")
    args = ap.parse_args(argv or [])

    from casework import history, records, register, schema
    from casework.seal import verify
    from geodata.dataset import load_dataset
    from gridwatch.db import connect
    from gridwatch.demo import ensure_demo
    from gridwatch.services import PostgresServer

    ensure_demo(Path("var/yingtan"))
    ds = load_dataset("var/yingtan")
    work = Path(tempfile.mkdtemp(prefix="gw-bench-records-"))
    if os.geteuid() == 0:
        shutil.chown(work, "postgres", "postgres")
    pg = PostgresServer(workdir=work / "pg").start()
    ok = True
    try:
        schema.upgrade(pg.url)
        conn = connect(pg.url, autocommit=True)
        parts = set(args.parts.split(","))
        # 2. the demo history: generate (into a scratch copy) and load, then verify
        scratch = work / "yingtan"
        scratch.mkdir()
        for name in ("grids.geojson", "people.csv", "entities.csv"):
            (scratch / name).symlink_to((Path("var/yingtan") / name).resolve())
        if "history" not in parts:
            history.write(scratch, ds, until=date(2018, 3, 31))
            with connect(pg.url) as c:
                records.load_dataset_records(c, ds, scratch)
        t = time.perf_counter()
        summary = history.write(scratch, ds) if "history" in parts else ""
        gen_s = time.perf_counter() - t
        if "history" in parts:
            t = time.perf_counter()
            with connect(pg.url) as c:
                counts = records.load_dataset_records(c, ds, scratch)
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            with connect(pg.url) as c:
                v = verify(c)
            verify_s = time.perf_counter() - t
            print(f"history: {summary}")
            print(f"  generation {gen_s:.1f} s; gridwatch load (70,000 entities + history, {counts['sealed']} sealed) "
                  f"{load_s:.1f} s (goal < {GOAL_LOAD_S:.0f} s); records verify {verify_s:.1f} s ({v.text()})")
            ok &= load_s < GOAL_LOAD_S and v.ok
        if "search" not in parts and "upload" in parts:
            u = upload_bench(pg.url, work, args.upload_mb)
            print(f"upload: {u['size_mb']} MB at {u['upload_mb_s']:.0f} MB/s vs disk {u['disk_mb_s']:.0f} MB/s; "
                  f"RSS growth {u['rss_growth_mb']:.1f} MB")
            return 0 if u["rss_growth_mb"] <= GOAL_RSS_MB else 1
        # 1. search at 10x
        big = big_register(ds, args.entities_times)
        t = time.perf_counter()
        with connect(pg.url) as c:
            register.sync(c, big, "load:bench")
        sync_s = time.perf_counter() - t
        conn.execute("ANALYZE entities")
        s = search_bench(conn, big, args.queries)
        print(f"register: {len(big.entities):,} entities upserted in {sync_s:.1f} s")
        print(f"  search p50/p95 {s['search'][0]:.2f}/{s['search'][1]:.2f} ms vs plain LIKE scan "
              f"{s['like'][0]:.1f}/{s['like'][1]:.1f} ms (p95 ratio {s['like'][1] / s['search'][1]:.0f}x), "
              f"{s['queries']} queries ({s['compared']} with at most {register.CANDIDATES} matches: the same answers); goal p95 <= {GOAL_SEARCH_P95_MS:.0f} ms")
        print(f"  entity card with history p50/p95 {s['card'][0]:.2f}/{s['card'][1]:.2f} ms")
        ok &= s["search"][1] <= GOAL_SEARCH_P95_MS
        if "upload" not in parts:
            return 0 if ok else 1
        # 3. upload
        u = upload_bench(pg.url, work, args.upload_mb)
        print(f"upload: {u['size_mb']} MB through gridwatch web at {u['upload_mb_s']:.0f} MB/s vs "
              f"{u['disk_mb_s']:.0f} MB/s writing the same bytes to disk (ratio {u['upload_mb_s'] / u['disk_mb_s']:.2f}); "
              f"web RSS {u['rss0_mb']:.0f} MB, growth {u['rss_growth_mb']:.1f} MB (goal <= {GOAL_RSS_MB:.0f} MB)")
        ok &= u["rss_growth_mb"] <= GOAL_RSS_MB
        conn.close()
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
