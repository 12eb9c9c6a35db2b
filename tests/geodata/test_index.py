"""GridIndex.locate agrees with geopandas' sjoin, also within a metre of borders."""
import geopandas as gpd
import numpy as np
import pytest
import shapely

from geodata.index import GridIndex


def near_border_points(grids, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Points within ~1 m of level-2 borders: border vertices and edge points, jittered."""
    rings = shapely.get_coordinates(shapely.segmentize(shapely.boundary(
        grids[grids["level"] == 2].geometry.values), 0.0005))
    pick = rings[rng.integers(0, len(rings), n)]
    jitter = rng.uniform(-1e-5, 1e-5, (n, 2))  # 1e-5 degree ~ 1 m
    return pick[:, 1] + jitter[:, 1], pick[:, 0] + jitter[:, 0]


def sjoin_truth(grids, lats, lons) -> np.ndarray:
    l2 = grids[grids["level"] == 2].sort_values("id").reset_index(drop=True)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs="EPSG:4326")
    j = gpd.sjoin(pts, l2[["id", "geometry"]], how="left", predicate="intersects")
    # A point exactly on a shared border matches both: the index answers the first id.
    j = j.sort_values("index_right", kind="stable")
    j = j[~j.index.duplicated(keep="first")].sort_index()
    return j["id"].astype(object).where(j["id"].notna(), None).to_numpy()


def test_locate_agrees_with_sjoin_on_random_and_near_border_points(demo, demo_index):
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = demo.grids.total_bounds
    n = 100_000
    blat, blon = near_border_points(demo.grids, n, rng)
    lats = np.r_[rng.uniform(y0, y1, n), blat]
    lons = np.r_[rng.uniform(x0, x1, n), blon]
    l1, l2 = demo_index.locate(lats, lons)
    truth = sjoin_truth(demo.grids, lats, lons)
    assert (l2 == truth).all(), int((l2 != truth).sum())
    parents = dict(zip(demo.grids["id"], demo.grids["parent"]))
    inside = truth != None  # noqa: E711
    assert all(parents[b] == a for a, b in zip(l1[inside], l2[inside]))
    assert inside[:n].mean() > 0.3 and (l1[~inside] == None).all()  # noqa: E711


def test_locate_one_and_parent(demo, demo_index):
    l2 = demo.grids[demo.grids["level"] == 2].iloc[10]
    p = l2.geometry.representative_point()
    assert demo_index.locate_one(p.y, p.x) == (l2["parent"], l2["id"])
    assert demo_index.parent(l2["id"]) == l2["parent"]
    assert demo_index.locate_one(40.0, 116.4) == (None, None)  # Beijing


def test_bad_coordinates_are_outside(demo_index):
    l1, l2 = demo_index.locate(np.array([np.nan, 95.0, 28.26]), np.array([117.07, 117.07, np.inf]))
    assert list(l1) == [None] * 3 and list(l2) == [None] * 3


def test_neighbours_share_a_border_and_are_symmetric(demo, demo_index):
    geoms = dict(zip(demo.grids["id"], demo.grids.geometry))
    some = demo.grids.loc[demo.grids["level"] == 2, "id"].iloc[::50]
    for gid in some:
        ns = demo_index.neighbours(gid)
        assert ns, gid
        for n in ns:
            assert gid in demo_index.neighbours(n)
            assert shapely.intersection(geoms[gid].boundary, geoms[n].boundary).length > 0


def test_small_index_answers_levels_and_gaps():
    from tests.geodata.conftest import feature, square

    grids = gpd.GeoDataFrame.from_features([
        feature("A", 1, None, square(0.0, 0.0, 2.0, 1.0)),
        feature("A1", 2, "A", square(0.0, 0.0, 1.0, 1.0)),  # right half of A is a gap
    ], crs="EPSG:4326")
    index = GridIndex.from_grids(grids)
    l1, l2 = index.locate(np.array([0.5, 0.5, 0.5]), np.array([0.5, 1.5, 2.5]))
    assert list(l1) == ["A", "A", None] and list(l2) == ["A1", None, None]
    assert index.neighbours("A1") == ()


def test_serialised_index_answers_identically(demo, demo_index):
    """What `gridwatch load` stores for the ingest workers: the same answers, borders included."""
    data = demo_index.to_bytes()
    back = GridIndex.from_bytes(data)
    rng = np.random.default_rng(11)
    x0, y0, x1, y1 = demo.grids.total_bounds
    n = 50_000
    blat, blon = near_border_points(demo.grids, n, rng)
    lats = np.r_[rng.uniform(y0 - 0.05, y1 + 0.05, n), blat, np.nan]
    lons = np.r_[rng.uniform(x0 - 0.05, x1 + 0.05, n), blon, 117.0]
    a1, a2 = demo_index.locate(lats, lons)
    b1, b2 = back.locate(lats, lons)
    assert (a1 == b1).all() and (a2 == b2).all()
    assert (a2 == sjoin_truth(demo.grids, lats, lons)).all()
    gid = demo.grids.loc[demo.grids["level"] == 2, "id"].iloc[3]
    assert back.parent(gid) == demo_index.parent(gid) and back.neighbours(gid) == demo_index.neighbours(gid)
    with pytest.raises(ValueError):
        GridIndex.from_bytes(b"gridwatch-gridindex/0\n" + data[len(GridIndex.FORMAT):])
