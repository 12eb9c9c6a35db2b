"""Grid layers: level-1 and level-2 outlines as GeoJSON with the properties the map labels and
colours by, simplified for the screen."""
from __future__ import annotations

import geopandas as gpd
import orjson

# ~5 m at Yingtan's latitude: invisible at city zoom, cuts vertices (and bytes) several-fold.
SIMPLIFY_DEG = 0.00005


def grids_geojson(grids: gpd.GeoDataFrame, level: int | None = None, measure: dict | None = None,
                  simplify_deg: float = SIMPLIFY_DEG) -> dict:
    """GeoJSON of the grids of one level (or all), with `id`, `name`, `level`, `parent` and, when
    a measure is given (grid id -> number), `value` for a choropleth."""
    g = grids if level is None else grids[grids["level"] == level]
    cols = [c for c in ("id", "name", "level", "parent", "branch") if c in g.columns]
    out = g[cols + ["geometry"]].copy()
    if simplify_deg:
        out["geometry"] = out.geometry.simplify(simplify_deg, preserve_topology=True)
    if measure is not None:
        out["value"] = out["id"].map(measure).fillna(0)
    out = out.where(out.notna(), None)
    return orjson.loads(out.to_json(drop_id=True))


def bounds(grids: gpd.GeoDataFrame) -> list[list[float]]:
    """[[south, west], [north, east]] of all grids, for fitting the map."""
    minx, miny, maxx, maxy = grids.total_bounds
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]
