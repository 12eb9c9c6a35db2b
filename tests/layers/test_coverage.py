"""Live coverage: distances agree with h3's great-circle distance by brute force; the
uncovered share follows the supervisors."""
import h3
import numpy as np
import geopandas as gpd
from shapely.geometry import box

from shapely.geometry import Point, shape

from layers.coverage import buckets, jurisdiction_cells, nearest_distance_m, regions, uncovered_pct


def small_city():
    return gpd.GeoDataFrame({"id": ["A", "B", "L"], "level": [2, 2, 1]},
                            geometry=[box(117.00, 28.20, 117.05, 28.25), box(117.05, 28.20, 117.10, 28.25),
                                      box(117.00, 28.20, 117.10, 28.25)], crs="EPSG:4326")


def test_distances_equal_brute_force_great_circle():
    grid = jurisdiction_cells(small_city())
    assert len(grid.cells) > 50
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(28.19, 28.26, 40), rng.uniform(116.99, 117.11, 40)
    got = nearest_distance_m(grid, lat, lon)
    for i in range(0, len(grid.cells), 7):
        brute = min(h3.great_circle_distance((grid.lat[i], grid.lon[i]), (a, b), unit="m") for a, b in zip(lat, lon))
        assert abs(got[i] - brute) < 0.01


def test_no_supervisor_leaves_everything_uncovered_and_one_in_the_middle_covers_part():
    grid = jurisdiction_cells(small_city())
    none = nearest_distance_m(grid, [], [])
    assert uncovered_pct(grid, none) == 100.0
    one = nearest_distance_m(grid, [28.225], [117.05])
    pct = uncovered_pct(grid, one)
    assert 0 < pct < 100
    r = regions(grid, one)
    assert r["pct"] == round(pct, 2)
    outline = {f["properties"]["bucket"]: shape(f["geometry"]) for f in r["fc"]["features"]}
    # The cell holding the supervisor is covered, so neither outline holds it; every cell
    # centre lies in the outline of its bucket and in no other.
    assert not any(o.contains(Point(117.05, 28.225)) for o in outline.values())
    b = buckets(one)
    for i in range(0, len(grid.cells), 5):
        p = Point(grid.lon[i], grid.lat[i])
        assert [k for k, o in outline.items() if o.contains(p)] == ([b[i]] if b[i] else [])


def test_buckets_edges():
    assert list(buckets(np.array([0, 999, 1000, 1999, 2000, np.inf]))) == [0, 0, 1, 1, 2, 2]


def test_regions_are_few_closed_outlines_whatever_the_number_of_cells():
    grid = jurisdiction_cells(small_city())
    fc = regions(grid, nearest_distance_m(grid, [], []))["fc"]
    assert len(fc["features"]) == 1 and fc["features"][0]["properties"]["bucket"] == 2
    polys = fc["features"][0]["geometry"]["coordinates"]
    assert len(polys) < len(grid.cells) / 10
    assert all(ring[0] == ring[-1] for poly in polys for ring in poly)
