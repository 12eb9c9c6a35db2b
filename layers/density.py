"""Market entities city-wide: counts per H3 cell at a resolution chosen by the map's zoom
(computed once per dataset), and the individual entities, capped, within the visible bounds
once zoomed in far enough to tell them apart."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import h3
import numpy as np
import pandas as pd

from layers.entities import entities_geojson

# Zoom below which each resolution is drawn: at zoom < 12 res 7 (~2.5 km across, ~18 px on
# screen at zoom 10); res 8 to 13.5; res 9 to 15; from zoom 15 on, the entities themselves.
RES_BY_ZOOM = ((12.0, 7), (13.5, 8), (15.0, 9))
POINTS_FROM_ZOOM = RES_BY_ZOOM[-1][0]
RESOLUTIONS = tuple(r for _, r in RES_BY_ZOOM)
MAX_POINTS = 3000


def res_for_zoom(zoom: float | None) -> int | None:
    """The H3 resolution to draw at a map zoom, or None: draw the entities as points."""
    z = 0.0 if zoom is None else float(zoom)
    for below, res in RES_BY_ZOOM:
        if z < below:
            return res
    return None


@dataclass(frozen=True)
class Density:
    """Counts of one resolution: cells with at least one entity, their centres and counts."""
    res: int
    cells: list[str]
    lat: np.ndarray
    lon: np.ndarray
    count: np.ndarray

    @property
    def max(self) -> int:
        return int(self.count.max()) if len(self.count) else 0


def density_counts(lat, lon, resolutions=RESOLUTIONS) -> dict[int, Density]:
    """Entity counts per cell at each resolution: the finest cell of each entity once, then its
    parents, so every resolution counts the same entities."""
    finest = max(resolutions)
    fine = Counter(h3.latlng_to_cell(float(a), float(o), finest) for a, o in zip(lat, lon))
    out = {}
    for res in resolutions:
        counts: Counter = Counter()
        for cell, n in fine.items():
            counts[cell if res == finest else h3.cell_to_parent(cell, res)] += n
        cells = sorted(counts)
        ll = np.array([h3.cell_to_latlng(c) for c in cells]) if cells else np.zeros((0, 2))
        out[res] = Density(res, cells, ll[:, 0], ll[:, 1], np.array([counts[c] for c in cells], dtype=np.int64))
    return out


def _in_bounds(lat, lon, bounds, pad: float) -> np.ndarray:
    """Mask of points inside [[south, west], [north, east]] grown by `pad` of its size."""
    (s, w), (n, e) = bounds
    dy, dx = (n - s) * pad, (e - w) * pad
    return (lat >= s - dy) & (lat <= n + dy) & (lon >= w - dx) & (lon <= e + dx)


def density_geojson(d: Density, bounds=None, pad: float = 0.25) -> dict:
    """The cells (all, or those whose centre is in the padded bounds) as hexagons with `count`;
    `max` is the city-wide maximum of this resolution, so colours hold while panning."""
    idx = np.arange(len(d.cells)) if bounds is None else np.flatnonzero(_in_bounds(d.lat, d.lon, bounds, pad))
    feats = []
    for i in idx:
        ring = [[round(lng, 5), round(lat, 5)] for lat, lng in h3.cell_to_boundary(d.cells[i])]
        ring.append(ring[0])
        feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                      "properties": {"cell": d.cells[i], "count": int(d.count[i])}})
    return {"type": "FeatureCollection", "features": feats, "res": d.res, "max": d.max}


def points_geojson(entities: pd.DataFrame, bounds, limit: int = MAX_POINTS) -> dict:
    """The entities inside the bounds as points, at most `limit` (`truncated` says so)."""
    inside = entities[_in_bounds(entities["lat"].to_numpy(float), entities["lon"].to_numpy(float), bounds, 0.0)]
    return {**entities_geojson(inside, limit), "res": None}
