import math

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon, box

from layers.labels import LEVEL2_FROM_ZOOM, label_point, labels_geojson, placement_zooms


def test_label_point_lies_inside_a_concave_grid_whose_centroid_does_not():
    u = Polygon([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)])
    assert not u.contains(u.centroid)
    assert u.contains(label_point(u))
    multi = shapely.MultiPolygon([box(0, 0, 0.1, 0.1), box(5, 5, 7, 7)])
    assert box(5, 5, 7, 7).contains(label_point(multi))  # the largest part carries the name


def test_a_name_close_to_an_earlier_one_waits_for_a_higher_zoom():
    # Three names: two 200 m apart east-west, one 20 km away.
    lat = [28.24, 28.24, 28.42]
    lon = [117.03, 117.03 + 200 / 98_000, 117.03]
    z = placement_zooms(lat, lon, [80, 80, 80], [24, 24, 24], [0, 0, 0])
    assert z[0] == 0 and z[2] < z[1]
    # At its zoom the second name's box clears the first: 200 m span at least 80 px.
    m_per_px = 156_543.03392 * 0.8809 / 2 ** z[1]
    assert 200 / m_per_px >= 80 and 200 / (m_per_px * 2 ** 0.25) < 80


def test_no_two_names_ever_overlap_once_both_show():
    rng = np.random.default_rng(3)
    n = 200
    lat, lon = 28.24 + rng.normal(0, 0.05, n), 117.03 + rng.normal(0, 0.05, n)
    w, h = rng.uniform(40, 120, n), np.full(n, 24.0)
    floors = np.where(np.arange(n) < 50, 0.0, 12.0)
    z = placement_zooms(lat, lon, w, h, floors)
    assert (z >= floors).all()
    mpp0 = 156_543.03392 * math.cos(math.radians(lat.mean()))
    x_m = np.radians(lon) * math.cos(math.radians(lat.mean())) * 6_371_008.8
    y_m = np.radians(lat) * 6_371_008.8
    for i in range(n):
        for j in range(i):
            px = 2 ** max(z[i], z[j]) / mpp0  # pixels per metre where both first show
            assert (abs(x_m[i] - x_m[j]) * px >= (w[i] + w[j]) / 2 - 1e-6
                    or abs(y_m[i] - y_m[j]) * px >= (h[i] + h[j]) / 2 - 1e-6), (i, j)


def grids():
    l1 = [box(117.0, 28.0, 117.2, 28.2), box(117.2, 28.0, 117.4, 28.2)]
    l2 = [box(117.0 + i * 0.02, 28.0, 117.02 + i * 0.02, 28.02) for i in range(10)]
    return gpd.GeoDataFrame({"id": ["A", "B"] + [f"A{i}" for i in range(10)],
                             "name": ["甲街道", "乙镇"] + [f"第{i}社区" for i in range(10)],
                             "level": [1, 1] + [2] * 10, "parent": [None, None] + ["A"] * 10},
                            geometry=l1 + l2, crs="EPSG:4326")


def test_labels_for_both_levels_inside_their_grids_level2_later():
    g = grids()
    fc = labels_geojson(g)
    by_id = {f["properties"]["id"]: f for f in fc["features"]}
    assert set(by_id) == set(g["id"])
    for gid, geom in zip(g["id"], g.geometry):
        assert geom.contains(shapely.Point(by_id[gid]["geometry"]["coordinates"]))
    l1 = [f["properties"] for f in fc["features"] if f["properties"]["level"] == 1]
    l2 = [f["properties"] for f in fc["features"] if f["properties"]["level"] == 2]
    assert all(p["min_zoom"] <= 10 for p in l1)  # township names at city zoom
    assert all(p["min_zoom"] >= LEVEL2_FROM_ZOOM for p in l2)
    assert l1[0]["px"] > l2[0]["px"]
