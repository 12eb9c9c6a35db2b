"""Map features against a real stack (Redis with the demo dataset, Mosquitto): the tile route
(directory and MBTiles), the tiles' datum applied to everything the map is sent, the entity
density by zoom, and the console's credit-code search."""
from __future__ import annotations

import math
import sqlite3
import time

import h3
import pytest
from dash import no_update
from fastapi.testclient import TestClient

from dashboard import live
from dashboard.context import WebContext
from dashboard.mapparts import STATIC_LAYERS, city_map, click_point, density_view, static_layer, static_url
from tests.dashboard.conftest import report

PNG = b"\x89PNG\r\n\x1a\n" + b"tile-%d-%d-%d"


def png(z, x, y) -> bytes:
    return PNG % (z, x, y)


def make_mbtiles(path, tiles) -> None:
    """A tiny MBTiles file: tiles given in XYZ order, stored in TMS rows as the spec says."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "t"), ("format", "png")])
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                    [(z, x, (1 << z) - 1 - y, png(z, x, y)) for z, x, y in tiles])
    con.commit()
    con.close()


def make_dir(root, tiles) -> None:
    for z, x, y in tiles:
        p = root / str(z) / str(x)
        p.mkdir(parents=True, exist_ok=True)
        (p / f"{y}.png").write_bytes(png(z, x, y))


TILES = [(0, 0, 0), (10, 842, 428), (10, 842, 429), (12, 3370, 1713)]


@pytest.fixture(params=["mbtiles", "dir"])
def tile_client(request, web_stack, tmp_path):
    from dashboard.server import create_server

    if request.param == "mbtiles":
        src = tmp_path / "city.mbtiles"
        make_mbtiles(src, TILES)
    else:
        src = tmp_path / "tiles"
        make_dir(src, TILES)
    server = create_server(web_stack.settings.model_copy(update={"tile_dir": str(src)}))
    with TestClient(server) as client:
        yield client
    server.state.ctx.close()


def test_tiles_served_from_a_directory_or_mbtiles_with_y_flipped_and_cache_headers(tile_client, web_stack):
    auth = {"Authorization": f"Bearer {web_stack.tokens['viewer1']}"}
    for z, x, y in TILES:
        res = tile_client.get(f"/tiles/{z}/{x}/{y}", headers=auth)
        assert res.status_code == 200 and res.content == png(z, x, y)
        assert res.headers["content-type"] == "image/png"
        assert "max-age" in res.headers["cache-control"]
    assert tile_client.get("/tiles/10/842/428.png", headers=auth).content == png(10, 842, 428)


def test_missing_or_impossible_tiles_are_json_404_and_anonymous_is_401(tile_client, web_stack):
    auth = {"Authorization": f"Bearer {web_stack.tokens['viewer1']}"}
    for path in ("/tiles/10/842/430", "/tiles/3/9/0", "/tiles/99/0/0", "/tiles/1/0/x"):
        res = tile_client.get(path, headers=auth)
        assert res.status_code == 404 and "error" in res.json(), path
    anon = tile_client.get("/tiles/0/0/0", follow_redirects=False)
    assert anon.status_code == 401 and "error" in anon.json()


def test_the_grid_layers_are_fetched_by_url_with_the_dataset_version_behind_the_login(tile_client, web_stack):
    ctx = tile_client.app.state.ctx
    auth = {"Authorization": f"Bearer {web_stack.tokens['viewer1']}"}
    layers = {c.id: c for c in walk(city_map(ctx, "wall")) if type(c).__name__ == "GeoJSON"}
    for cid, name in (("wall-grid-l2", "grids-l2"), ("wall-grid-l1", "grids-l1"), ("wall-labels", "grid-labels")):
        assert layers[cid].url == static_url(ctx, name) and ctx.dataset_version in layers[cid].url
        assert getattr(layers[cid], "data", None) is None  # not in the page's layout
        res = tile_client.get(layers[cid].url, headers=auth)
        assert res.status_code == 200 and res.headers["content-type"] == "application/geo+json"
        assert "private" in res.headers["cache-control"]
        fc = res.json()
        assert fc == static_layer(ctx, name) and fc["features"], name
    levels = {f["properties"]["level"] for f in tile_client.get(static_url(ctx, "grids-l2"), headers=auth).json()["features"]}
    assert levels == {2}
    missing = tile_client.get("/maplayers/people.geojson", headers=auth)
    assert missing.status_code == 404 and "error" in missing.json()
    assert tile_client.get(static_url(ctx, "grids-l1"), follow_redirects=False).status_code in (303, 401)


def walk(component):
    yield component
    kids = getattr(component, "children", None)
    for k in (kids if isinstance(kids, list) else [kids] if kids is not None else []):
        if hasattr(k, "_prop_names"):
            yield from walk(k)


def test_the_page_tile_layer_points_at_the_local_route(web_stack, tmp_path):
    make_dir(tmp_path, TILES)
    ctx = WebContext.build(web_stack.settings.model_copy(update={"tile_dir": str(tmp_path)}))
    try:
        tiles = [c for c in city_map(ctx, "wall").children if type(c).__name__ == "TileLayer"]
        assert [t.url for t in tiles] == ["/tiles/{z}/{x}/{y}"]
    finally:
        ctx.close()


# -- the datum ------------------------------------------------------------------------------------

def metres(a, b):
    dy = math.radians(b[0] - a[0]) * 6_371_000
    dx = math.radians(b[1] - a[1]) * 6_371_000 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


@pytest.fixture(scope="module")
def gcj(web_stack):
    ctx = WebContext.build(web_stack.settings.model_copy(update={"tile_datum": "gcj02"}))
    yield ctx
    ctx.close()


def first_coords(geo):
    """The first (lat, lon) of a FeatureCollection."""
    c = geo["features"][0]["geometry"]["coordinates"]
    while isinstance(c[0], list):
        c = c[0]
    return c[1], c[0]


def shifted(a, b) -> bool:
    return 550 < metres(a, b) < 700  # GCJ-02 in Yingtan: ~620 m east-south-east


def test_gcj02_shifts_everything_the_map_is_sent(web_stack, gcj):
    wgs = web_stack.ctx
    p = wgs.dataset.people
    dev = p[(p["role"] == "l2_supervisor") & p["device"].notna()]["device"].iloc[7]
    report(wgs, dev, 28.2386, 117.0339, tst=time.time() - 30)
    report(wgs, dev, 28.2390, 117.0342)
    order = wgs.orders.issue({"lat": 28.2391, "lon": 117.0343, "title": "datum", "kind": "task",
                              "recipients": [dev]}, "user:coord1")
    e = wgs.dataset.entities
    one = e[e["grid"].notna()].iloc[0]
    now = time.time()
    sent = {
        "supervisors (snapshot and deltas)": lambda c: live.supervisors_snapshot(c, [dev]),
        "orders layer": lambda c: live.orders_layer(c),
        "orders layer in the panels": lambda c: live.panels(c)["orders_layer"],
        "entities of a grid": lambda c: live.entities_at(c, float(one["lat"]), float(one["lon"])),
        "trail": lambda c: live.trail_geojson(c, dev, now - 600, now + 1),
        "density hexagons": lambda c: density_view(c, 10, None)[0],
        "density points": lambda c: density_view(c, 17, [[28.2, 117.0], [28.3, 117.1]])[0],
        "coverage outlines": lambda c: live.coverage(c)["fc"],
    }
    for what, build in sent.items():
        a, b = first_coords(build(wgs)), first_coords(build(gcj))
        assert shifted(a, b), what
    # The static layers, as the page is built.
    for layer in STATIC_LAYERS:
        a, b = first_coords(static_layer(wgs, layer)), first_coords(static_layer(gcj, layer))
        assert shifted(a, b), layer
    ba, bb = city_map(wgs, "wall").bounds, city_map(gcj, "wall").bounds
    assert shifted(tuple(ba[0]), tuple(bb[0]))
    wgs.orders.cancel(order["id"], "user:coord1")


def find(component, cid):
    if getattr(component, "id", None) == cid:
        return component
    kids = getattr(component, "children", None)
    for k in (kids if isinstance(kids, list) else [kids] if kids is not None else []):
        if (hit := find(k, cid)) is not None:
            return hit
    return None


def test_a_click_on_a_gcj02_map_is_read_back_as_the_wgs84_point(gcj, web_stack):
    lat, lon = gcj.to_map_point(28.2386, 117.0339)
    back = click_point(gcj, {"latlng": {"lat": lat, "lng": lon}})
    assert metres((28.2386, 117.0339), (back["lat"], back["lon"])) < 0.1
    assert click_point(web_stack.ctx, {"latlng": {"lat": 28.2386, "lng": 117.0339}}) == {"lat": 28.2386, "lon": 117.0339}


# -- entities ---------------------------------------------------------------------------------

def test_density_by_zoom_counts_every_entity_then_points_in_view(web_stack):
    ctx = web_stack.ctx
    n = len(ctx.dataset.entities)
    fc, hide = density_view(ctx, 10, None)
    assert hide["res"] == 7 and sum(f["properties"]["count"] for f in fc["features"]) == n
    assert all(h3.get_resolution(f["properties"]["cell"]) == 7 for f in fc["features"])
    assert hide["max"] == max(f["properties"]["count"] for f in fc["features"])
    # A pan at the same zoom sends nothing again.
    again = density_view(ctx, 10.5, None, shown=hide)
    assert again[0] is no_update and again[1] is no_update
    view = [[28.23, 117.02], [28.26, 117.06]]
    fc8, hide8 = density_view(ctx, 12.5, view)
    assert hide8["res"] == 8 and 0 < len(fc8["features"])
    pts, hide_pts = density_view(ctx, 16, [[28.24, 117.03], [28.245, 117.035]])
    assert hide_pts["res"] is None
    for f in pts["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 28.24 <= lat <= 28.245 and 117.03 <= lon <= 117.035


def test_search_by_credit_code_gives_the_entity_its_details_and_a_close_zoom(web_stack):
    e = web_stack.ctx.dataset.entities
    one = e.iloc[123]
    hit = live.search(web_stack.ctx, one["uscc"].lower())
    assert hit["entity"]["name"] == one["name"] and hit["entity"]["address"] == one["address"]
    assert (hit["lat"], hit["lon"]) == (float(one["lat"]), float(one["lon"])) and hit["zoom"] >= 16
    assert live.search(web_stack.ctx, "000000000000000000") is None
