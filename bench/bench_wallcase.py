"""The wall's casework layers and the console's casework (issue 18) at the demo's size.

A private PostgreSQL (fsync on) holds the demo register and its whole history (2018 .. today:
~160k inspections, ~50k complaints, ~98k tasks); 60 inspections are filed for today. Timed, in
the same run: the two layers' queries of dashboard/wall_casework.py (run once a minute per open
wall) against baselines of the same answers (today by an expression no index serves; open
complaints joined to all entities first, then grouped), and the console's casework of an entity
and of a grid (dashboard/console_casework.py's queries). Goal: each layer query p95 <= 50 ms.

`python -m bench wallcase` or `python -m bench.bench_wallcase [--runs 50]`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_P95_MS = 50.0
TZ = "Asia/Shanghai"

BASE_TODAY = """
SELECT i.id, i.result, i.kind, i.uscc, i.inspectors, i.grid, i.level1, e.name,
       coalesce(i.lat, e.lat) AS lat, coalesce(i.lon, e.lon) AS lon
  FROM inspections i JOIN entities e ON e.uscc = i.uscc
 WHERE (i.started_at AT TIME ZONE %(tz)s)::date = %(d)s
 ORDER BY i.started_at DESC, i.id LIMIT %(n)s
"""
BASE_COMPLAINTS = """
SELECT c.respondent_uscc AS uscc, max(coalesce(e.name, c.respondent_name, '')) AS name,
       avg(coalesce(e.lat, c.lat)) AS lat, avg(coalesce(e.lon, c.lon)) AS lon,
       count(*) AS n, count(*) FILTER (WHERE c.state = 'received') AS waiting
  FROM complaints c LEFT JOIN entities e ON e.uscc = c.respondent_uscc
 WHERE c.state = ANY(%(open)s)
 GROUP BY c.respondent_uscc, CASE WHEN c.respondent_uscc IS NULL
                                  THEN coalesce(c.respondent_name, '') || '|' || coalesce(c.respondent_address, '') END
HAVING avg(coalesce(e.lat, c.lat)) IS NOT NULL
 ORDER BY n DESC, uscc LIMIT %(n)s
"""


def timed(conn, sql: str, args, runs: int) -> tuple[list[float], list]:
    ts, rows = [], []
    for _ in range(runs):
        t = time.perf_counter()
        rows = conn.execute(sql, args).fetchall()
        ts.append((time.perf_counter() - t) * 1000)
    return ts, rows


def answer(r) -> tuple:
    """What both forms of a query must agree on: the inspection, or the respondent and count."""
    return (r["id"],) if "id" in r else (r["uscc"] or "", r["name"] or "", r["n"], r["waiting"])


def p(xs, q):
    return float(np.percentile(np.array(xs), q))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_wallcase")
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args(argv or [])

    from casework import complaints as C
    from casework import records, schema, stats
    from dashboard import console_casework as CC
    from dashboard import wall_casework as W
    from geodata.dataset import load_dataset
    from gridwatch.db import connect
    from gridwatch.demo import ensure_demo
    from gridwatch.services import PostgresServer

    data = ensure_demo(Path("var/yingtan"))
    ds = load_dataset(data)
    work = Path(tempfile.mkdtemp(prefix="gw-bench-wallcase-"))
    if os.geteuid() == 0:
        shutil.chown(work, "postgres", "postgres")
    pg = PostgresServer(workdir=work / "pg").start()
    try:
        schema.upgrade(pg.url)
        t = time.perf_counter()
        with connect(pg.url) as c:
            counts = records.load_dataset_records(c, ds, data)
        print(f"demo history loaded in {time.perf_counter() - t:.1f} s: {counts.get('inspections')} inspections, "
              f"{counts.get('complaints')} complaints, {counts.get('tasks')} tasks")
        conn = connect(pg.url, autocommit=True)
        conn.execute("""
            INSERT INTO inspections (id, uscc, kind, inspectors, grid, level1, branch, category, result, lat, lon, started_at)
            SELECT 'B-' || uscc, uscc, 'routine', '{p1,p2}', grid, level1, branch, category,
                   (ARRAY['pass', 'fail', 'rectify', NULL])[1 + (row_number() OVER ()) % 4], lat, lon, now()
              FROM (SELECT * FROM entities WHERE lat IS NOT NULL ORDER BY uscc LIMIT 60) e""")
        conn.execute("ANALYZE")
        today = stats.today(TZ)
        n_open = conn.execute("SELECT count(*) AS n FROM complaints WHERE state = ANY(%s)", (sorted(C.OPEN),)).fetchone()["n"]
        print(f"today's inspections: 60; open complaints: {n_open}")
        rows_out, ok = [], True
        for name, sql, base, a in (
                ("inspections today", W.INSPECTIONS_TODAY, BASE_TODAY, {"d": today, "tz": TZ, "n": W.MAX_POINTS}),
                ("open complaints by respondent", W.OPEN_COMPLAINTS, BASE_COMPLAINTS,
                 {"open": sorted(C.OPEN), "n": W.MAX_POINTS})):
            ts, got = timed(conn, sql, a, args.runs)
            bs, want = timed(conn, base, a, max(10, args.runs // 5))
            same = sorted(map(answer, got)) == sorted(map(answer, want))
            ok &= same and p(ts, 95) <= GOAL_P95_MS
            rows_out.append((name, len(got), p(ts, 50), p(ts, 95), p(bs, 50), p(bs, 95), same))
        e = conn.execute("SELECT c.respondent_uscc AS u, e.grid FROM complaints c JOIN entities e ON e.uscc = c.respondent_uscc "
                         "GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1").fetchone()
        cw = []
        for label, sql, key in (
                ("console: entity's complaints", CC.COMPLAINTS_OF["entity"], e["u"]),
                ("console: grid's complaints", CC.COMPLAINTS_OF["grid"], e["grid"]),
                ("console: grid's inspections", CC.INSPECTIONS_OF_GRID, e["grid"]),
                ("console: grid's cases", CC.CASES_OF_GRID, e["grid"])):
            ts, _ = timed(conn, sql, (key, CC.ROWS * 5), args.runs)
            cw.append((label, p(ts, 50), p(ts, 95)))
        print("| query | rows | p50 / p95 ms | baseline p50 / p95 ms | p95 ratio | same answer |")
        print("|---|---|---|---|---|---|")
        for name, n, a50, a95, b50, b95, same in rows_out:
            print(f"| {name} | {n} | {a50:.2f} / {a95:.2f} | {b50:.2f} / {b95:.2f} | {b95 / a95:.1f}x | {same} |")
        for label, a50, a95 in cw:
            print(f"| {label} | | {a50:.2f} / {a95:.2f} | | | |")
        print(f"goal: each layer query p95 <= {GOAL_P95_MS:.0f} ms: {'met' if ok else 'NOT met'}")
        conn.close()
        return 0 if ok else 1
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
