"""Loading refuses a broken dataset whole, naming file, feature or row, and the rule; declared
GCJ-02 data and projected CRSs end in WGS-84."""
import json

import geopandas as gpd
import numpy as np
import prcoords
import pytest
import shapely

from geodata.dataset import DatasetError, load_dataset
from tests.geodata.conftest import PEOPLE, feature, small_features, square, write_small


def refused(d, **kw):
    with pytest.raises(DatasetError) as e:
        load_dataset(d, **kw)
    return e.value.problems


def has(problems, file, where, rule):
    return any(p.file == file and where in p.where and p.rule == rule for p in problems), \
        "\n".join(map(str, problems))


def test_small_dataset_loads_with_the_documented_fields(small):
    ds = load_dataset(small)
    assert list(ds.grids.columns) == ["id", "name", "level", "parent", "branch", "synthetic", "geometry"]
    assert ds.grids.crs.to_epsg() == 4326
    assert ds.people.set_index("id").loc["s2a", "grids"] == ("A1", "A2")
    assert ds.people.set_index("id").loc["as1", "device"] is None
    assert list(ds.entities["grid"]) == ["A1", "B2"]


def test_overlapping_siblings_are_refused(tmp_path):
    f = small_features()
    f[3] = feature("A2", 2, "A", square(117.005, 28.20, 117.02, 28.22))  # reaches into A1
    ok, msg = has(refused(write_small(tmp_path, f)), "grids.geojson", "feature 2 (id A1)", "overlap")
    assert ok, msg
    assert "m2 shared with grids.geojson feature 3 (id A2)" in msg and "at 28.2" in msg


def test_self_intersecting_polygon_is_refused_unless_repair_is_asked(tmp_path):
    f = small_features()
    bowtie = {"type": "Polygon", "coordinates": [[[117.00, 28.20], [117.01, 28.22], [117.01, 28.20],
                                                   [117.00, 28.22], [117.00, 28.20]]]}
    f[2] = feature("A1", 2, "A", bowtie)
    d = write_small(tmp_path, f)
    ok, msg = has(refused(d), "grids.geojson", "feature 2 (id A1)", "invalid geometry")
    assert ok and "Self-intersection" in msg, msg
    assert load_dataset(d, repair=True).grids.set_index("id").loc["A1", "geometry"].is_valid


def test_orphan_and_escaping_level2_are_refused(tmp_path):
    f = small_features()
    f[4] = feature("B1", 2, "Z", square(117.02, 28.20, 117.03, 28.22))
    f[5] = feature("B2", 2, None, square(117.03, 28.20, 117.04, 28.22))
    f[3] = feature("A2", 2, "A", square(117.01, 28.20, 117.02, 28.23))  # 1 km north of its parent
    problems = refused(write_small(tmp_path, f, people="id,name,role,grid,device,phone\n"))
    for where, rule in (("id B1", "orphan level-2"), ("id B2", "orphan level-2"), ("id A2", "outside its parent")):
        ok, msg = has(problems, "grids.geojson", where, rule)
        assert ok, msg


def test_duplicate_ids_and_bad_levels_are_refused(tmp_path):
    f = small_features()
    f[5] = feature("B1", 2, "B", square(117.03, 28.20, 117.04, 28.22))
    f.append(feature("C", 3, None, square(117.05, 28.20, 117.06, 28.21)))
    problems = refused(write_small(tmp_path, f, people="id,name,role,grid,device,phone\n"))
    assert has(problems, "grids.geojson", "feature 5 (id B1)", "duplicate id")[0]
    assert has(problems, "grids.geojson", "feature 6 (id C)", "bad level")[0]


def test_wrong_crs_is_refused(tmp_path):
    # Degrees labelled as Web Mercator metres land in the Gulf of Guinea.
    problems = refused(write_small(tmp_path, extra={"crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}))
    ok, msg = has(problems, "grids.geojson", "file", "bad CRS")
    assert ok and "outside China" in msg, msg


def test_missing_crs_is_refused(tmp_path, small):
    d = tmp_path / "shp"
    d.mkdir()
    gpd.read_file(small / "grids.geojson").to_file(d / "grids.shp")
    (d / "grids.prj").unlink()
    for name in ("people.csv", "entities.csv"):
        (d / name).write_bytes((small / name).read_bytes())
    ok, msg = has(refused(d), "grids.shp", "file", "missing CRS")
    assert ok, msg


def test_projected_crs_is_reprojected(tmp_path, small):
    d = tmp_path / "utm"
    d.mkdir()
    gpd.read_file(small / "grids.geojson").to_crs(32650).to_file(d / "grids.gpkg")
    for name in ("people.csv", "entities.csv"):
        (d / name).write_bytes((small / name).read_bytes())
    got = load_dataset(d).grids.set_index("id").geometry
    want = load_dataset(small).grids.set_index("id").geometry
    assert all(shapely.equals_exact(got[i], want[i], tolerance=1e-7) for i in want.index)


def test_people_rules_are_named_by_row(tmp_path):
    people = PEOPLE + ("x1,辛,l2_supervisor,A1;NOPE,dev-1,13800000008\nx2,壬,janitor,A1,,13800000009\n"
                       "x3,癸,informant,A1,t|3,13800000010\n")
    problems = refused(write_small(tmp_path, people=people))
    assert has(problems, "people.csv", "row 11 (id x3)", "bad device id")[0]
    assert has(problems, "people.csv", "row 9 (id x1)", "unknown grid")[0]
    assert has(problems, "people.csv", "row 9 (id x1)", "duplicate device")[0]
    assert has(problems, "people.csv", "row 10 (id x2)", "bad role")[0]


def test_entity_with_bad_uscc_or_outside_the_jurisdiction_is_refused(tmp_path):
    entities = [("91350100M000100Y44", "坏", "enterprise", "catering", "地址", 28.21, 117.005),
                ("91350100M000100Y43", "远", "enterprise", "catering", "地址", 28.5, 117.5)]
    problems = refused(write_small(tmp_path, entities=entities))
    ok, msg = has(problems, "entities.csv", "row 2 (uscc 91350100M000100Y44)", "bad USCC")
    assert ok and "check character" in msg, msg
    assert has(problems, "entities.csv", "row 3", "outside the jurisdiction")[0]


def test_refusal_is_whole_and_lists_every_problem(tmp_path):
    f = small_features()
    f[5] = feature("B1", 2, "B", square(117.03, 28.20, 117.04, 28.22))
    entities = [("91350100M000100Y44", "坏", "enterprise", "catering", "地址", 28.21, 117.005)]
    problems = refused(write_small(tmp_path, f, entities=entities))
    assert {p.rule for p in problems} >= {"duplicate id", "bad USCC"}


def _gcj_features() -> list[dict]:
    """The small dataset with every vertex moved into GCJ-02, as Amap would serve it. Edges are
    split every 0.001 degree first, so that parents and children share vertices (the shift is
    not linear: unshared long edges would bend apart)."""
    out = []
    for f in small_features():
        dense = shapely.segmentize(shapely.geometry.shape(f["geometry"]), 0.001)
        ring = [list(prcoords.wgs_gcj((y, x)))[::-1] for x, y in dense.exterior.coords]
        out.append({**f, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return out


def test_declared_gcj02_is_converted_to_wgs84(tmp_path, small):
    d = write_small(tmp_path / "gcj", _gcj_features(), extra={"datum": "GCJ-02"})
    got = load_dataset(d).grids.set_index("id").geometry
    want = load_dataset(small).grids.set_index("id").geometry
    for gid in want.index:
        assert shapely.hausdorff_distance(got[gid], want[gid]) < 1e-6  # ~0.1 m
    # The raw file sits ~518 m east and ~347 m south of the truth in Yingtan.
    raw = shapely.geometry.shape(json.loads((d / "grids.geojson").read_text())["features"][0]["geometry"])
    dx = (raw.centroid.x - got["A"].centroid.x) * 111_320 * np.cos(np.radians(28.21))
    dy = (raw.centroid.y - got["A"].centroid.y) * 110_574
    assert 480 < dx < 560 and -390 < dy < -300, (dx, dy)


def test_gcj02_sidecar_declares_entities(tmp_path, small):
    lat, lon = prcoords.wgs_gcj((28.21, 117.005))
    entities = [("91350100M000100Y43", "店", "individual", "catering", "地址", lat, lon)]
    d = write_small(tmp_path / "side", entities=entities)
    (d / "entities.csv.datum").write_text("GCJ-02\n")
    e = load_dataset(d).entities
    assert abs(e["lat"][0] - 28.21) < 1e-6 and abs(e["lon"][0] - 117.005) < 1e-6 and e["grid"][0] == "A1"


def test_undeclared_gcj02_is_taken_as_wgs84(tmp_path):
    d = write_small(tmp_path, _gcj_features(), entities=[])
    a = load_dataset(d).grids.set_index("id").geometry["A"]
    assert a.bounds[0] > 117.004  # not converted: still shifted east


def test_unknown_datum_is_refused(tmp_path):
    problems = refused(write_small(tmp_path, extra={"datum": "Xian-80-ish"}))
    assert has(problems, "grids.geojson", "file", "unknown datum")[0]
