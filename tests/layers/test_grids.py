import shapely
from shapely.geometry import box
import geopandas as gpd

from layers.grids import bounds, grids_geojson


def jagged():
    # Two neighbours sharing a zigzag border of 200 small steps.
    pts = [(117.0 + i * 0.0005, 28.2 + (0.0002 if i % 2 else 0)) for i in range(201)]
    south = shapely.Polygon([(117.0, 28.1)] + pts + [(117.1, 28.1)])
    north = shapely.Polygon([(117.0, 28.3)] + pts + [(117.1, 28.3)])
    return gpd.GeoDataFrame({"id": ["S", "N", "L"], "name": ["s", "n", "l"], "level": [2, 2, 1],
                             "parent": ["L", "L", None]},
                            geometry=[south, north, box(117.0, 28.1, 117.1, 28.3)], crs="EPSG:4326")


def test_level_filter_properties_and_measure():
    fc = grids_geojson(jagged(), level=2, measure={"S": 3})
    assert [f["properties"]["id"] for f in fc["features"]] == ["S", "N"]
    assert [f["properties"]["value"] for f in fc["features"]] == [3, 0]


def test_simplified_neighbours_still_share_their_border_and_lose_vertices():
    g = jagged()
    fc = grids_geojson(g, level=2)
    polys = [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]
    assert all(p.is_valid for p in polys)
    assert polys[0].intersection(polys[1]).area < 1e-9  # no overlap after simplification
    before = shapely.get_num_coordinates(g[g.level == 2].geometry.values).sum()
    assert sum(shapely.get_num_coordinates(p) for p in polys) < before / 2


def test_bounds_are_south_west_north_east():
    assert bounds(jagged()) == [[28.1, 117.0], [28.3, 117.1]]
