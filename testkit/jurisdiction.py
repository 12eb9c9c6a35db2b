"""A small real jurisdiction: two townships, three villages, nine people with terminals (the
alerts tests' field, tests/alerts/field.py, and the orders benchmark)."""
from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

POINT = (28.2500, 117.0100)  # in village A1, township L1A

# id, role, grid, device, position (lat, lon): distances from POINT noted for reading the tests
PEOPLE = [
    ("l1a", "l1_supervisor", "L1A", "dev-l1a", (28.2950, 117.0300)),  # ~5 km, township head
    ("s1", "l2_supervisor", "A1", "dev-s1", (28.2550, 117.0150)),     # ~740 m, responsible for A1
    ("s2", "l2_supervisor", "A2", "dev-s2", (28.2500, 117.0250)),     # ~1.5 km
    ("s3", "l2_supervisor", "B1", "dev-s3", (28.2500, 117.0550)),     # ~4.4 km
    ("a4", "assistant", "A1", "dev-a4", (28.2500, 117.0110)),         # ~100 m
    ("a5", "assistant", "A1", "dev-a5", (28.2500, 117.0130)),         # ~290 m
    ("a6", "assistant", "A1", "dev-a6", (28.2500, 117.0170)),         # ~690 m
    ("a7", "assistant", "A2", "dev-a7", (28.2500, 117.0330)),         # ~2.2 km
    ("c1", "coordinator", "", "", None),
]


def small_dataset() -> SimpleNamespace:
    grids = gpd.GeoDataFrame(
        {"id": ["L1A", "L1B", "A1", "A2", "B1"], "name": ["Township A", "Township B", "A one", "A two", "B one"],
         "level": [1, 1, 2, 2, 2], "parent": [None, None, "L1A", "L1A", "L1B"], "branch": [None] * 5,
         "synthetic": [True] * 5},
        geometry=[box(117.00, 28.20, 117.04, 28.30), box(117.04, 28.20, 117.08, 28.30),
                  box(117.00, 28.20, 117.02, 28.30), box(117.02, 28.20, 117.04, 28.30),
                  box(117.04, 28.20, 117.08, 28.30)], crs="EPSG:4326")
    people = pd.DataFrame(
        [(pid, pid.upper(), role, grid, dev or None, "") for pid, role, grid, dev, _ in PEOPLE],
        columns=["id", "name", "role", "grid", "device", "phone"])
    people["grids"] = [tuple(g.split(";")) if g else () for g in people["grid"]]  # as load_dataset gives it
    return SimpleNamespace(grids=grids, people=people)


def position(device: str) -> tuple[float, float]:
    return next(p for _, _, _, d, p in PEOPLE if d == device)
