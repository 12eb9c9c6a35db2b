"""Live coverage: distances agree with h3's great-circle distance by brute force; the
uncovered share follows the supervisors."""
import h3
import numpy as np
import geopandas as gpd
from shapely.geometry import box

from layers.coverage import buckets, cells_geojson, hideout, jurisdiction_cells, nearest_distance_m, uncovered_pct


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
    h = hideout(grid, one)
    assert h["pct"] == round(pct, 2) and all(v in (1, 2) for v in h["b"].values())
    # The cell holding the supervisor is covered, so it is not listed.
    assert h3.latlng_to_cell(28.225, 117.05, 8) not in h["b"]


def test_buckets_edges():
    assert list(buckets(np.array([0, 999, 1000, 1999, 2000, np.inf]))) == [0, 0, 1, 1, 2, 2]


def test_cells_geojson_closed_rings():
    grid = jurisdiction_cells(small_city())
    fc = cells_geojson(grid)
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(fc["features"]) == len(grid.cells)
