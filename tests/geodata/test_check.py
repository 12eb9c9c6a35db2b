"""`gridwatch geodata check` and `gridwatch load` from the command line."""
import json

import pytest
from typer.testing import CliRunner

from gridwatch.cli import app
from tests.geodata.conftest import feature, small_features, square, write_small

runner = CliRunner()


def test_check_passes_the_demo(demo_data):
    res = runner.invoke(app, ["geodata", "check", str(demo_data / "grids.geojson")])
    assert res.exit_code == 0, res.output
    assert "grids: level 1: 59, level 2: 528" in res.output
    assert "coverage by level-2 grids: 100.0000 %" in res.output
    assert "gaps above 10 m2: 0" in res.output and "overlaps above 10 m2: 0" in res.output


@pytest.mark.parametrize("case, expect", [
    ("overlap", "feature 2 (id A1): overlap (level 2: 1,087,954 m2 shared with grids.geojson feature 3 (id A2)"),
    ("self_intersection", "feature 2 (id A1): invalid geometry (Self-intersection"),
    ("orphan", "feature 4 (id B1): orphan level-2"),
    ("bad_crs", "grids.geojson: file: bad CRS"),
    ("duplicate", "feature 5 (id B1): duplicate id"),
])
def test_check_exits_1_naming_each_broken_file(tmp_path, case, expect):
    f = small_features()
    extra = None
    if case == "overlap":
        f[2] = feature("A1", 2, "A", square(117.00, 28.20, 117.015, 28.22))
    elif case == "self_intersection":
        f[2] = feature("A1", 2, "A", {"type": "Polygon", "coordinates": [[
            [117.00, 28.20], [117.01, 28.22], [117.01, 28.20], [117.00, 28.22], [117.00, 28.20]]]})
    elif case == "orphan":
        f[4] = feature("B1", 2, "Q", f[4]["geometry"])
    elif case == "bad_crs":
        extra = {"crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}
    elif case == "duplicate":
        f[5] = feature("B1", 2, "B", f[5]["geometry"])
    d = write_small(tmp_path, f, extra=extra)
    res = runner.invoke(app, ["geodata", "check", str(d / "grids.geojson")])
    assert res.exit_code == 1, res.output
    assert expect in res.output and "FAILED" in res.output


def test_check_reports_a_gap_with_area_and_place(tmp_path):
    f = [x for x in small_features() if x["properties"]["id"] != "B2"]
    d = write_small(tmp_path, f, people="id,name,role,grid,device,phone\n")
    res = runner.invoke(app, ["geodata", "check", str(d / "grids.geojson")])
    assert res.exit_code == 1
    assert "gaps above 10 m2: 1" in res.output
    # B2 was 0.01 x 0.02 degrees: ~2.19 km2, its middle at 28.21 N, 117.035 E.
    line = next(x for x in res.output.splitlines() if "covered by no level-2 grid" in x)
    area = float(line.split(" m2")[0].strip().replace(",", ""))
    assert 2.1e6 < area < 2.3e6 and "at 28.21" in line and "117.03" in line
    assert "coverage by level-2 grids: 75.0" in res.output


def test_check_reads_several_files_as_one_set(tmp_path):
    f = small_features()
    for name, part in (("level1.geojson", f[:2]), ("level2.geojson", f[2:])):
        (tmp_path / name).write_text(json.dumps({"type": "FeatureCollection", "features": part}))
    res = runner.invoke(app, ["geodata", "check", str(tmp_path / "level1.geojson"), str(tmp_path / "level2.geojson")])
    assert res.exit_code == 0, res.output
    assert "100.0000 %" in res.output


def test_load_puts_the_dataset_in_redis_and_refuses_a_broken_one(redis_server, rdb, small, tmp_path):
    res = runner.invoke(app, ["--redis-url", redis_server.url, "load", str(small)])
    assert res.exit_code == 0, res.output
    assert "2 level1, 4 level2" in res.output and rdb.get("gw:{dataset}:current")
    version = rdb.get("gw:{dataset}:current")
    entities = [("91350100M000100Y44", "坏", "enterprise", "catering", "地址", 28.21, 117.005)]
    bad = write_small(tmp_path / "bad", entities=entities)
    res = runner.invoke(app, ["--redis-url", redis_server.url, "load", str(bad)])
    assert res.exit_code == 1
    assert "entities.csv: row 2 (uscc 91350100M000100Y44): bad USCC" in res.output
    assert rdb.get("gw:{dataset}:current") == version  # nothing half-loaded
