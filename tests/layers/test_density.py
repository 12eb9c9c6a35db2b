import h3
import numpy as np
import pandas as pd
import pytest

from layers.density import POINTS_FROM_ZOOM, density_counts, density_geojson, points_geojson, res_for_zoom


def entities(n=2000, seed=7):
    rng = np.random.default_rng(seed)
    lat = 28.24 + rng.normal(0, 0.05, n)
    lon = 117.03 + rng.normal(0, 0.05, n)
    return pd.DataFrame({"uscc": [f"U{i:017d}" for i in range(n)], "name": [f"主体{i}" for i in range(n)],
                         "kind": "enterprise", "category": "catering", "address": "鹰潭", "lat": lat, "lon": lon})


@pytest.mark.parametrize("zoom,res", [(None, 7), (8, 7), (10.5, 7), (11.99, 7), (12, 8), (13.25, 8), (13.5, 9),
                                      (14.75, 9), (POINTS_FROM_ZOOM, None), (18, None)])
def test_resolution_per_zoom(zoom, res):
    assert res_for_zoom(zoom) == res


def test_counts_add_up_to_the_entities_at_every_resolution_and_nest():
    e = entities()
    d = density_counts(e["lat"], e["lon"])
    for res, dens in d.items():
        assert dens.count.sum() == len(e)
        assert all(h3.get_resolution(c) == res for c in dens.cells)
    # A res-7 cell holds exactly the entities of its res-8 children.
    by_parent = {}
    for c, n in zip(d[8].cells, d[8].count):
        by_parent[h3.cell_to_parent(c, 7)] = by_parent.get(h3.cell_to_parent(c, 7), 0) + int(n)
    assert by_parent == {c: int(n) for c, n in zip(d[7].cells, d[7].count)}
    one = e.iloc[0]
    cell = h3.latlng_to_cell(one["lat"], one["lon"], 9)
    assert d[9].count[d[9].cells.index(cell)] >= 1


def test_hexagons_carry_counts_and_the_city_maximum_and_bounds_select_nearby_cells():
    e = entities()
    d = density_counts(e["lat"], e["lon"])[8]
    fc = density_geojson(d)
    assert sum(f["properties"]["count"] for f in fc["features"]) == len(e)
    assert fc["max"] == max(f["properties"]["count"] for f in fc["features"])
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]
    box = [[28.23, 117.02], [28.25, 117.04]]
    near = density_geojson(d, box, pad=0.0)
    assert 0 < len(near["features"]) < len(fc["features"]) and near["max"] == fc["max"]
    for f in near["features"]:
        lat, lon = h3.cell_to_latlng(f["properties"]["cell"])
        assert 28.23 <= lat <= 28.25 and 117.02 <= lon <= 117.04


def test_points_only_inside_the_bounds_and_capped():
    e = entities()
    box = [[28.23, 117.02], [28.25, 117.04]]
    fc = points_geojson(e, box)
    inside = ((e["lat"] >= 28.23) & (e["lat"] <= 28.25) & (e["lon"] >= 117.02) & (e["lon"] <= 117.04)).sum()
    assert len(fc["features"]) == inside > 0 and not fc["truncated"]
    assert {"uscc", "name", "kind", "category", "address"} <= set(fc["features"][0]["properties"])
    capped = points_geojson(e, [[27, 116], [29, 118]], limit=10)
    assert len(capped["features"]) == 10 and capped["truncated"]
