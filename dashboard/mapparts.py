"""Map pieces shared by the wall and the console: the base layer (configurable tiles, or none:
a plain dark background with the grid outlines, since a command centre may have no internet)
and the grid, supervisor, order and alert layers."""
from __future__ import annotations

import dash_leaflet as dl

from dashboard.context import WebContext
from layers.grids import bounds, grids_geojson

EMPTY = {"type": "FeatureCollection", "features": []}


def fn(name: str) -> dict:
    """A reference to a function of dashboard/assets/gridwatch.js."""
    return {"variable": f"gridwatch.{name}"}


def base_layers(ctx: WebContext) -> list:
    url = ctx.settings.tile_url
    if not url:
        return []
    return [dl.TileLayer(url=url, attribution=ctx.settings.tile_attribution, maxZoom=19)]


def grid_layers(ctx: WebContext, prefix: str) -> list:
    grids = ctx.dataset.grids
    return [
        dl.Overlay(dl.GeoJSON(id=f"{prefix}-grid-l2", data=ctx.cached("grids-l2", lambda: grids_geojson(grids, level=2)),
                              style=fn("gridStyle"), hideout={"max": 0},
                              zoomToBoundsOnClick=False),
                   name="二级网格 level-2 grids", checked=True),
        dl.Overlay(dl.GeoJSON(id=f"{prefix}-grid-l1", data=ctx.cached("grids-l1", lambda: grids_geojson(grids, level=1)),
                              style=fn("gridStyle"), hideout={"max": 0}, interactive=False),
                   name="一级网格 level-1 grids", checked=True),
    ]


def coverage_layer(ctx: WebContext, prefix: str):
    from layers.coverage import cells_geojson

    data = ctx.cached("coverage-cells", lambda: cells_geojson(ctx.coverage_grid))
    return dl.Overlay(dl.GeoJSON(id=f"{prefix}-coverage", data=data, style=fn("coverageStyle"),
                                 hideout={"b": {}}, interactive=False),
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


def city_map(ctx: WebContext, prefix: str, extra: list | None = None, **kwargs) -> dl.Map:
    b = ctx.cached("bounds", lambda: bounds(ctx.dataset.grids))
    # dash-leaflet tracks the viewport against `center`, so it must be set beside `bounds`.
    return dl.Map(
        id=f"{prefix}-map", className="gw-map", bounds=b, zoom=10, viewport={"bounds": b},
        center=[(b[0][0] + b[1][0]) / 2, (b[0][1] + b[1][1]) / 2],
        preferCanvas=True, zoomSnap=0.25, attributionControl=bool(ctx.settings.tile_url),
        children=base_layers(ctx) + [dl.LayersControl([coverage_layer(ctx, prefix)] + grid_layers(ctx, prefix)
                                                      + live_layers(prefix),
                                                      position="topright")] + (extra or []),
        **kwargs,
    )
