"""Fixtures of the geodata tests: the demo loaded once, its index, and a small hand-made
dataset directory to break in each test."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from geodata import uscc
from tests.conftest import loaded


@pytest.fixture(scope="session")
def demo(demo_data):

    return loaded(demo_data)


@pytest.fixture(scope="session")
def demo_index(demo):
    from geodata.index import GridIndex

    return GridIndex.from_grids(demo.grids)


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def feature(gid, level, parent, geometry, name=None) -> dict:
    return {"type": "Feature", "properties": {"id": gid, "name": name or f"grid {gid}", "level": level,
                                              "parent": parent}, "geometry": geometry}


def small_features() -> list[dict]:
    """Two level-1 grids side by side near Yingtan, each split into two level-2 grids."""
    return [
        feature("A", 1, None, square(117.00, 28.20, 117.02, 28.22)),
        feature("B", 1, None, square(117.02, 28.20, 117.04, 28.22)),
        feature("A1", 2, "A", square(117.00, 28.20, 117.01, 28.22)),
        feature("A2", 2, "A", square(117.01, 28.20, 117.02, 28.22)),
        feature("B1", 2, "B", square(117.02, 28.20, 117.03, 28.22)),
        feature("B2", 2, "B", square(117.03, 28.20, 117.04, 28.22)),
    ]


PEOPLE = """id,name,role,grid,device,phone
s1a,甲,l1_supervisor,A,dev-1,13800000001
s1b,乙,l1_supervisor,B,dev-2,13800000002
s2a,丙,l2_supervisor,A1;A2,dev-3,13800000003
s2b,丁,l2_supervisor,B1;B2,dev-4,13800000004
as1,戊,assistant,A1,,13800000005
in1,己,informant,A1,,13800000006
co1,庚,coordinator,,,13800000007
"""


def write_small(d: Path, features=None, people: str = PEOPLE, entities: list[tuple] | None = None,
                extra: dict | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    fc = {"type": "FeatureCollection", "features": features if features is not None else small_features()}
    fc.update(extra or {})
    (d / "grids.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    (d / "people.csv").write_text(people, encoding="utf-8")
    rng = random.Random(5)
    if entities is None:
        entities = [(uscc.generate(rng, "360602"), "店", "individual", "catering", "地址", 28.21, 117.005),
                    (uscc.generate(rng, "360602", kind="1"), "公司", "enterprise", "pharmacy", "地址", 28.215, 117.035)]
    lines = ["uscc,name,kind,category,address,lat,lon"] + [",".join(map(str, e)) for e in entities]
    (d / "entities.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


@pytest.fixture
def small(tmp_path) -> Path:
    return write_small(tmp_path / "small")
