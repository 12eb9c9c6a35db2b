"""Nearest k=5 among 100k live positions: telemetry.nearest (exact, no radius) vs Redis
GEOSEARCH 2 km COUNT 5 on the same points in the same run, p50/p99, and exactness against
brute force. Goal: p99 <= 1 ms and no slower than GEOSEARCH; exact."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import h3
import numpy as np
import redis

from gridwatch.services import RedisServer, ensure_on_path
from gridwatch.settings import Settings
from telemetry import nearest as nearest_mod
from geodata.geo import haversine_m
from telemetry.nearest import nearest
from telemetry.protocols import Fix
from telemetry.store import LiveStore

N = 100_000
QUERIES = 3000
BOX = (27.85, 28.63, 116.69, 117.47)  # the Yingtan demo's extent
GEO = "bench:geo"


def populate(r: redis.Redis, settings: Settings, n: int, now: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    lats = np.round(rng.uniform(BOX[0], BOX[1], n), 6)
    lons = np.round(rng.uniform(BOX[2], BOX[3], n), 6)
    store = LiveStore(r, settings)
    store.ensure_scripts()
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        store.queue_fix(pipe, Fix(f"dev-{i:06d}", int(now) - 5, float(lats[i]), float(lons[i]), 8.0), now,  # devices send whole seconds
                        f"p-{i:06d}", "l2_supervisor", "360602001", "360602001001")
        if i % 2000 == 1999:
            store.execute(pipe)
            pipe = r.pipeline(transaction=False)
    store.execute(pipe)
    return lats, lons


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1e3


def main(argv: list[str] | None = None) -> int:
    ensure_on_path()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(workdir=Path(tmp), appendonly=False) as srv:
        return run(srv)


def run(srv: RedisServer) -> int:
    r = redis.Redis.from_url(srv.url)
    settings = Settings(redis_url=srv.url)
    now = time.time()
    lats, lons = populate(r, settings, N, now)
    pipe = r.pipeline(transaction=False)
    for i in range(0, N, 5000):
        pipe.geoadd(GEO, [v for j in range(i, min(N, i + 5000)) for v in (float(lons[j]), float(lats[j]), f"dev-{j:06d}")])
    pipe.execute()
    rng = np.random.default_rng(2)
    # queries inside the populated extent (a 1 km margin), where a 2 km radius finds 5
    qs = [(float(a), float(b)) for a, b in zip(rng.uniform(BOX[0] + 0.01, BOX[1] - 0.01, QUERIES),
                                              rng.uniform(BOX[2] + 0.01, BOX[3] - 0.01, QUERIES))]
    # Warm up as a long-running web worker is: the geometry measured once per ~36 km² (res-6
    # parent: ring bounds, disk layout) is known all over the area, and the script is loaded. Other points than the
    # timed ones, and the per-cell cache (rings) is cleared after: each timed query starts
    # from a cell not seen before, as nearly all do among ~60k cells.
    for lat, lon in zip(rng.uniform(BOX[0], BOX[1], 3000).tolist(), rng.uniform(BOX[2], BOX[3], 3000).tolist()):
        nearest(r, lat, lon, 5, now=now)
        r.geosearch(GEO, longitude=lon, latitude=lat, radius=2, unit="km", sort="ASC", count=5)
    nearest_mod._plan.cache_clear()
    # One timing pass, the two searches taking turns query by query (which goes first
    # alternating), so drifts in machine load hit both alike; exactness is checked apart (its
    # numpy brute force would sit between). Redis's own time per call from INFO commandstats.
    t_near, t_geo, geo_short = [], [], 0
    r.config_resetstat()
    for i, (lat, lon) in enumerate(qs):
        for turn in ((0, 1) if i % 2 else (1, 0)):
            t = time.perf_counter()
            if turn:
                nearest(r, lat, lon, 5, now=now)
                t_near.append(time.perf_counter() - t)
            else:
                g = r.geosearch(GEO, longitude=lon, latitude=lat, radius=2, unit="km", sort="ASC", count=5)
                t_geo.append(time.perf_counter() - t)
                geo_short += len(g) < 5
    stats = r.info("commandstats")
    server_near = stats["cmdstat_evalsha"]["usec"] / QUERIES
    server_geo = stats["cmdstat_geosearch"]["usec_per_call"]
    wrong = 0
    la_r, lo_r = np.radians(lats), np.radians(lons)
    for lat, lon in qs:
        got = nearest(r, lat, lon, 5, now=now)
        d = haversine_m(lat, lon, la_r, lo_r)
        best = np.sort(d)[:5]
        if not np.allclose([c.distance_m for c in got], best, atol=1e-3):
            wrong += 1
    # informational: at and beyond the edge of the populated area, and a filter that excludes all
    edge = [(float(a), float(b)) for a, b in zip(rng.uniform(BOX[0] - 0.2, BOX[0], 300), rng.uniform(BOX[2], BOX[3], 300))]
    t_edge = []
    for lat, lon in edge:
        t = time.perf_counter()
        nearest(r, lat, lon, 5, now=now)
        t_edge.append(time.perf_counter() - t)
    t_none = []
    for lat, lon in qs[:300]:
        t = time.perf_counter()
        nearest(r, lat, lon, 5, statuses=("busy",), now=now)
        t_none.append(time.perf_counter() - t)
    # the one-off cost of a new area: measuring its geometry (ring bounds, disk layout), for
    # res-6 cells far from any seen so far
    t_new = []
    for i in range(50):
        parent = h3.str_to_int(h3.cell_to_parent(h3.latlng_to_cell(20.0 + i * 0.3, 110.0 + i * 0.2, 9), 6))
        t = time.perf_counter()
        nearest_mod._area(parent, 9)
        t_new.append(time.perf_counter() - t)
    p50, p99, g50, g99 = pct(t_near, .5), pct(t_near, .99), pct(t_geo, .5), pct(t_geo, .99)
    print(f"nearest k=5 among {N} live positions, {QUERIES} queries inside the populated area")
    print(f"  telemetry.nearest      p50 {p50:.3f} ms  p99 {p99:.3f} ms  exact {QUERIES - wrong}/{QUERIES}")
    print(f"  GEOSEARCH 2 km COUNT 5 p50 {g50:.3f} ms  p99 {g99:.3f} ms  (fewer than 5 within 2 km: {geo_short})")
    print(f"  inside Redis per query: nearest {server_near:.0f} µs, GEOSEARCH {server_geo:.0f} µs")
    print(f"  beyond the edge (0-20 km out)       p50 {pct(t_edge, .5):.3f} ms  p99 {pct(t_edge, .99):.3f} ms")
    print(f"  filter excluding every device      p50 {pct(t_none, .5):.3f} ms  p99 {pct(t_none, .99):.3f} ms")
    print(f"  once per new ~36 km² area (its geometry measured)  p50 {pct(t_new, .5):.3f} ms")
    ok = wrong == 0 and p99 <= 1.0 and p99 <= g99
    print(f"  goal p99 <= 1 ms and <= GEOSEARCH p99, exact: {'met' if ok else 'MISSED'}")
    r.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
