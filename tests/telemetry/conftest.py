"""A tiny world for telemetry tests: four level-2 grids in two level-1 grids near Yingtan
(real GridIndex over real polygons) and a registry of a few people and devices."""
from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import pytest
import redis
from prometheus_client import CollectorRegistry
from shapely.geometry import box

from geodata.index import GridIndex
from telemetry.ingest import Pipeline, metrics

# lon 117.00-117.10, lat 28.20-28.30, split in four level-2 grids; level-1 = west / east half
GRIDS = [
    ("W", "West", 1, None, box(117.00, 28.20, 117.05, 28.30)),
    ("E", "East", 1, None, box(117.05, 28.20, 117.10, 28.30)),
    ("W-S", "West south", 2, "W", box(117.00, 28.20, 117.05, 28.25)),
    ("W-N", "West north", 2, "W", box(117.00, 28.25, 117.05, 28.30)),
    ("E-S", "East south", 2, "E", box(117.05, 28.20, 117.10, 28.25)),
    ("E-N", "East north", 2, "E", box(117.05, 28.25, 117.10, 28.30)),
]

PEOPLE = [
    # id, role, grids, device
    ("p1", "l2_supervisor", ("W-S",), "dev1"),
    ("p2", "l2_supervisor", ("W-N",), "dev2"),
    ("p3", "assistant", ("E-S",), "dev3"),
    ("p4", "l1_supervisor", ("E",), "dev4"),
    ("p5", "coordinator", (), None),
]


class TinyRegistry:
    """The geodata Registry interface (person_of_device, person, devices) over PEOPLE."""

    def __init__(self, people=PEOPLE):
        self._people = {p[0]: SimpleNamespace(id=p[0], role=p[1], grids=p[2], device=p[3]) for p in people}
        self._by_device = {p.device: p for p in self._people.values() if p.device}

    def person_of_device(self, device):
        return self._by_device.get(device)

    def person(self, pid):
        return self._people.get(pid)

    def devices(self):
        return list(self._by_device)


def tiny_grids() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [g[0] for g in GRIDS], "name": [g[1] for g in GRIDS], "level": [g[2] for g in GRIDS],
         "parent": [g[3] for g in GRIDS]},
        geometry=[g[4] for g in GRIDS], crs="EPSG:4326")


@pytest.fixture(scope="session")
def tiny_index() -> GridIndex:
    return GridIndex.from_grids(tiny_grids())


@pytest.fixture
def prom() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def pipeline(settings, rdb, tiny_index, prom) -> Pipeline:
    return Pipeline(settings, rdb, TinyRegistry(), tiny_index, m=metrics(prom))


def counter(prom: CollectorRegistry, name: str, **labels) -> float:
    return prom.get_sample_value(name, labels) or 0.0
