"""Point -> grid: `GridIndex.locate` against geopandas `sjoin` on the same 1M points over
Yingtan (80 % uniform over the city's bounding box, 20 % within ~1 m of level-2 borders), in
the same run. Goal: at least 10x sjoin's points/s, and the same answer for every point.

`python -m bench locate` or `python -m bench.bench_locate [--points N] [--data DIR]`.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

GOAL_RATIO = 10.0


def points(grids, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    x0, y0, x1, y1 = grids.total_bounds
    n_border = n // 5
    rings = shapely.get_coordinates(shapely.segmentize(
        shapely.boundary(grids[grids["level"] == 2].geometry.values), 0.0005))
    pick = rings[rng.integers(0, len(rings), n_border)]
    jitter = rng.uniform(-1e-5, 1e-5, (n_border, 2))  # 1e-5 degree ~ 1 m
    lats = np.r_[rng.uniform(y0, y1, n - n_border), pick[:, 1] + jitter[:, 1]]
    lons = np.r_[rng.uniform(x0, x1, n - n_border), pick[:, 0] + jitter[:, 0]]
    return lats, lons


def sjoin_ids(grids, lats, lons) -> np.ndarray:
    """Level-2 id per point by sjoin; a point on a shared border takes the first id, as locate does."""
    import geopandas as gpd

    l2 = grids[grids["level"] == 2].sort_values("id").reset_index(drop=True)[["id", "geometry"]]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs="EPSG:4326")
    j = gpd.sjoin(pts, l2, how="left", predicate="intersects")
    j = j.sort_values("index_right", kind="stable")
    j = j[~j.index.duplicated(keep="first")].sort_index()
    return j["id"].astype(object).where(j["id"].notna(), None).to_numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_locate")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path, default=Path("var/yingtan"))
    args = ap.parse_args(argv or [])
    from geodata.dataset import load_dataset
    from geodata.demo import ensure_demo_dataset
    from geodata.index import GridIndex

    grids = load_dataset(ensure_demo_dataset(args.data)).grids
    lats, lons = points(grids, args.points, np.random.default_rng(2024))

    t = time.perf_counter()
    index = GridIndex.from_grids(grids)
    build_s = time.perf_counter() - t
    index.locate(lats[:1000], lons[:1000])  # first call: lazy numpy paths warm
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        l1, l2 = index.locate(lats, lons)
        runs.append(time.perf_counter() - t)
    locate_s = min(runs)

    t = time.perf_counter()
    truth = sjoin_ids(grids, lats, lons)
    sjoin_s = time.perf_counter() - t

    agree = int((l2 == truth).sum())
    n = len(lats)
    ratio = sjoin_s / locate_s
    raster = index.l2_raster
    print(f"points: {n:,} ({n // 5:,} within ~1 m of level-2 borders); "
          f"{int((truth != None).sum()):,} inside a level-2 grid")  # noqa: E711
    print(f"index build: {build_s:.2f} s, {(raster.nbytes + index.l1_raster.nbytes) / 1e6:.1f} MB, "
          f"border pixels {raster.border_fraction:.2%} of the raster")
    print(f"GridIndex.locate: {locate_s * 1000:.0f} ms (best of 3) = {n / locate_s / 1e6:.2f}M points/s")
    print(f"geopandas sjoin:  {sjoin_s * 1000:.0f} ms = {n / sjoin_s / 1e6:.2f}M points/s")
    print(f"ratio: {ratio:.1f}x (goal >= {GOAL_RATIO:g}x); agreement: {agree:,} / {n:,}")
    return 0 if ratio >= GOAL_RATIO and agree == n else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
