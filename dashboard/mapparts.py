"""Map pieces shared by the wall and the console: the base layer (configurable tiles, local
tiles served by /tiles, or none: a plain dark background with the grid outlines, since a
command centre may have no internet), the grid, grid-name, entity-density, supervisor, order
and alert layers, and the callbacks that follow the map's zoom. Every coordinate handed to the
map passes through `ctx.to_map`, every point read from it through `ctx.from_map` (the tiles'
datum, layers/datum.py)."""
from __future__ import annotations

import dash_leaflet as dl
from dash import Input, Output, State, no_update
from fastapi import Request  # module level: the route's annotation is resolved from here

from dashboard.context import WebContext
from layers.datum import bounds_from_map, bounds_to_map
from layers.density import density_geojson, points_geojson, res_for_zoom
from layers.grids import bounds, grids_geojson
from layers.labels import labels_geojson

EMPTY = {"type": "FeatureCollection", "features": []}
PREFIXES = ("wall", "con")
TILE_ROUTE = "/tiles/{z}/{x}/{y}"


def fn(name: str) -> dict:
    """A reference to a function of dashboard/assets/gridwatch.js."""
    return {"variable": f"gridwatch.{name}"}


def mapfn(name: str) -> dict:
    """A reference to a function of dashboard/assets/gridwatch_map.js (names, density)."""
    return {"variable": f"gridwatchMap.{name}"}


def base_layers(ctx: WebContext) -> list:
    s = ctx.settings
    url = TILE_ROUTE if s.tile_dir else s.tile_url
    if not url:
        return []
    return [dl.TileLayer(url=url, attribution=s.tile_attribution, maxZoom=19)]


# The grid outlines and names do not change until the next `gridwatch load`: the map fetches
# them by URL (the dataset's version in it, so a browser may keep them) instead of carrying
# ~650 kB of coordinates in every page's layout through Dash's JSON encoder and React's props.
STATIC_ROUTE = "/maplayers/{name}.geojson"
STATIC_LAYERS = {
    "grids-l2": lambda ctx: grids_geojson(ctx.dataset.grids, level=2),
    "grids-l1": lambda ctx: grids_geojson(ctx.dataset.grids, level=1),
    "grid-labels": lambda ctx: labels_geojson(ctx.dataset.grids),
}


def static_layer(ctx: WebContext, name: str) -> dict:
    """One of STATIC_LAYERS in the map's datum (KeyError for another name)."""
    build = STATIC_LAYERS[name]
    return ctx.cached(name, lambda: ctx.to_map(build(ctx)))


def static_url(ctx: WebContext, name: str) -> str:
    return STATIC_ROUTE.format(name=name) + f"?v={ctx.dataset_version}"


def static_packed(ctx: WebContext, name: str) -> tuple[bytes, bytes, str]:
    """One of STATIC_LAYERS serialised and gzipped once per dataset, with its content's tag."""
    import orjson

    from dashboard.bundles import pack

    return ctx.cached(f"{name}.packed", lambda: pack(orjson.dumps(static_layer(ctx, name))))


def install_static_layer_routes(server, ctx: WebContext) -> None:
    from fastapi.responses import JSONResponse, Response

    from dashboard.bundles import packed_response

    @server.get(STATIC_ROUTE, include_in_schema=False)
    def static_geojson(name: str, request: Request) -> Response:
        if name not in STATIC_LAYERS:
            return JSONResponse({"error": "not_found", "detail": f"no map layer {name!r}"}, status_code=404)
        # behind the login: the browser may keep it (the URL changes with the dataset), shared caches not
        return packed_response(request, static_packed(ctx, name), "application/geo+json", "private, max-age=86400")


def grids_l2(ctx: WebContext) -> dict:
    """The level-2 outlines as the maps draw them (simplified, in the tiles' datum), once per dataset."""
    return static_layer(ctx, "grids-l2")


def grid_layers(ctx: WebContext, prefix: str) -> list:
    return [
        dl.Overlay(dl.GeoJSON(id=f"{prefix}-grid-l2", url=static_url(ctx, "grids-l2"),
                              style=fn("gridStyle"), hideout={"max": 0},
                              zoomToBoundsOnClick=False),
                   name="二级网格 level-2 grids", checked=True),
        dl.Overlay(dl.GeoJSON(id=f"{prefix}-grid-l1", url=static_url(ctx, "grids-l1"),
                              style=fn("gridStyle"), hideout={"max": 0}, interactive=False),
                   name="一级网格 level-1 grids", checked=True),
    ]


def labels_layer(ctx: WebContext, prefix: str):
    """Grid names; each appears from its own zoom (min_zoom), which the browser compares with
    the map's zoom through the layer's hideout."""
    return dl.Overlay(dl.GeoJSON(id=f"{prefix}-labels", url=static_url(ctx, "grid-labels"), pointToLayer=mapfn("gridLabel"),
                                 filter=mapfn("labelFilter"), hideout={"zoom": None}, interactive=False),
                      name="网格名称 grid names", checked=True)


DENSITY = "市场主体 market entities"


def density_layer(prefix: str, checked: bool):
    """Market entities: H3 density hexagons by zoom, the entities themselves when close;
    fetched only while the layer is switched on (the wall has it off: nothing to build)."""
    return dl.Overlay(dl.GeoJSON(id=f"{prefix}-density", data=EMPTY, style=mapfn("densityStyle"),
                                 pointToLayer=mapfn("entityPoint"), onEachFeature=mapfn("densityFeature"),
                                 hideout={"max": 0}),
                      name=DENSITY, checked=checked)


def coverage_layer(ctx: WebContext, prefix: str):
    """Live coverage: the outlines of the thin and the uncovered cells, as the live hub last
    computed them (a page's stream then pushes each new computation as the layer's data)."""
    cov = ctx.hub.live_coverage
    return dl.Overlay(dl.GeoJSON(id=f"{prefix}-coverage", data=cov["fc"] if cov else EMPTY, style=fn("coverageStyle"),
                                 interactive=False),
                      name="实时覆盖 live coverage", checked=True)


def live_layers(prefix: str) -> list:
    return [
        dl.Overlay(dl.GeoJSON(id=f"{prefix}-orders", data=EMPTY, pointToLayer=fn("orderMarker"),
                              style=fn("lineStyle")), name="指令 orders", checked=True),
        # Supervisors are drawn by gridwatch.js in one canvas layer that joins this group when
        # the group is added, fed by /api/live/deltas, not by a Dash prop.
        dl.Overlay(dl.LayerGroup(id=f"{prefix}-supervisors", eventHandlers={"add": fn("attachSupervisors")}),
                   name="监管员 supervisors", checked=True),
    ]


def city_map(ctx: WebContext, prefix: str, extra: list | None = None, entities: bool = False,
             overlays: list | None = None, **kwargs) -> dl.Map:
    """The city map; `entities` turns the market-entity layer on at first (it can always be
    toggled in the layers control); `overlays`: more dl.Overlay entries for that control."""
    b = ctx.cached("bounds", lambda: bounds_to_map(bounds(ctx.dataset.grids), ctx.settings.tile_datum))
    layers = ([density_layer(prefix, entities), coverage_layer(ctx, prefix)] + grid_layers(ctx, prefix)
              + [labels_layer(ctx, prefix)] + live_layers(prefix) + (overlays or []))
    # dash-leaflet tracks the viewport against `center`, so it must be set beside `bounds`.
    return dl.Map(
        id=f"{prefix}-map", className="gw-map", bounds=b, zoom=10, viewport={"bounds": b},
        center=[(b[0][0] + b[1][0]) / 2, (b[0][1] + b[1][1]) / 2],
        preferCanvas=True, zoomSnap=0.25, attributionControl=bool(ctx.settings.tile_url or ctx.settings.tile_dir),
        # `overlays`: the names of the overlays switched on (dash-leaflet keeps it current)
        children=base_layers(ctx) + [dl.LayersControl(layers, id=f"{prefix}-layers", position="topright",
                                                      overlays=[o.name for o in layers if o.checked])]
                 + (extra or []),
        **kwargs,
    )


# -- reading the map ------------------------------------------------------------------------------

def click_point(ctx: WebContext, click: dict | None) -> dict | None:
    """A map click (dash-leaflet clickData) as a WGS-84 point."""
    if not click or "latlng" not in click:
        return None
    lat, lon = ctx.from_map(float(click["latlng"]["lat"]), float(click["latlng"]["lng"]))
    return {"lat": lat, "lon": lon}


def density_view(ctx: WebContext, zoom: float | None, map_bounds, shown: dict | None = None):
    """The entity layer's data and hideout for a view: hexagons of the zoom's resolution near
    the view, or the entities inside it once zoomed in far enough. `shown` is the hideout the
    layer has: city-wide hexagons already there are not sent again for a pan."""
    if not map_bounds:
        map_bounds = bounds(ctx.dataset.grids)
    else:
        map_bounds = bounds_from_map(map_bounds, ctx.settings.tile_datum)
    res = res_for_zoom(zoom)
    if res is None:
        return ctx.to_map(points_geojson(ctx.dataset.entities, map_bounds)), {"max": 0, "res": None}
    d = ctx.entity_density[res]
    if res == min(ctx.entity_density) and (shown or {}).get("res") == res:
        return no_update, no_update
    # The coarsest resolution covers the whole city in under a thousand cells: built once.
    fc = (ctx.cached(f"density-{res}", lambda: ctx.to_map(density_geojson(d))) if res == min(ctx.entity_density)
          else ctx.to_map(density_geojson(d, map_bounds)))
    return fc, {"max": d.max, "res": res}


def register(app, ctx: WebContext) -> None:
    for prefix in PREFIXES:
        # Names appear and hide with the zoom in the browser alone: no round trip.
        app.clientside_callback("function (zoom) { return {zoom: zoom}; }",
                                Output(f"{prefix}-labels", "hideout"), Input(f"{prefix}-map", "zoom"))

        @app.callback(Output(f"{prefix}-density", "data"), Output(f"{prefix}-density", "hideout"),
                      Input(f"{prefix}-map", "zoom"), Input(f"{prefix}-map", "bounds"),
                      Input(f"{prefix}-layers", "overlays"), State(f"{prefix}-density", "hideout"))
        def density(zoom, map_bounds, shown_layers, shown):
            if DENSITY not in (shown_layers or []):
                return no_update, no_update
            return density_view(ctx, zoom, map_bounds, shown)
