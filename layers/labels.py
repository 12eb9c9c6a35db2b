"""Grid names on the map: one point per grid inside its polygon (the pole of inaccessibility,
where a name sits farthest from the borders; shapely's polylabel), and for each name the zoom
from which it is drawn. Placement is the usual priority-and-collision rule: level-1 names
before level-2, larger grids first; a name appears from the first zoom at which its box clears
the boxes of every name placed before it that is already showing at that zoom."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import polylabel

from geodata.geo import EARTH_RADIUS_M

# Type size of the names on a 1920-px screen, in CSS px; the browser scales the type with the
# wall's width and moves the thresholds by the same factor.
FONT_PX = {1: 18, 2: 14}
PAD_PX = 10             # halo and breathing room around a name
LEVEL2_FROM_ZOOM = 12.0  # village names never join the township names at city zoom
POLYLABEL_TOL_DEG = 1e-4  # ~10 m
MAX_ZOOM = 22.0
M_PER_PX_Z0 = 156_543.03392  # Web Mercator ground resolution at the equator, zoom 0


def _largest(geom):
    if geom.geom_type == "MultiPolygon":
        return max(geom.geoms, key=lambda g: g.area)
    return geom


def label_point(geom) -> shapely.Point:
    part = _largest(geom)
    if part.geom_type != "Polygon" or part.is_empty:
        return geom.representative_point()
    pt = polylabel(part, tolerance=POLYLABEL_TOL_DEG)
    # polylabel works from the outline; a degenerate outline can leave it outside.
    return pt if part.contains(pt) else part.representative_point()


def box_px(name: str, level: int) -> tuple[float, float]:
    """Width and height of a name on screen (CJK characters are about one em wide)."""
    fs = FONT_PX.get(level, 14)
    return len(name) * fs + PAD_PX, fs * 1.3 + PAD_PX / 2


def _zoom_to_clear(gap_m: np.ndarray, need_px: np.ndarray, m_per_px_z0: float) -> np.ndarray:
    """Zoom from which a ground gap spans the pixels needed."""
    with np.errstate(divide="ignore"):
        return np.log2(need_px * m_per_px_z0 / gap_m)


def placement_zooms(lat, lon, widths, heights, floors) -> np.ndarray:
    """For points in priority order, the smallest zoom (quarter steps, >= its floor) from which
    each one's box never overlaps an earlier box: two boxes of widths/heights px centred on the
    points clear once apart by half their widths summed in x or heights in y. Separation grows
    with the zoom, so a pair overlaps only below `need`; an earlier name showing from `need` on
    never meets this one, any other forces this one to wait for `need`."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    lat0 = math.radians(float(lat.mean())) if len(lat) else 0.0
    x = np.radians(lon) * math.cos(lat0) * EARTH_RADIUS_M
    y = np.radians(lat) * EARTH_RADIUS_M
    mpp0 = M_PER_PX_Z0 * math.cos(lat0)
    w, h = np.asarray(widths, float), np.asarray(heights, float)
    out = np.zeros(len(x))
    for i in range(len(x)):
        z = float(floors[i])
        if i:
            zx = _zoom_to_clear(np.abs(x[:i] - x[i]), (w[:i] + w[i]) / 2, mpp0)
            zy = _zoom_to_clear(np.abs(y[:i] - y[i]), (h[:i] + h[i]) / 2, mpp0)
            need = np.minimum(np.minimum(zx, zy), MAX_ZOOM)  # clear along either axis is enough
            meets = need > out[:i]
            if meets.any():
                z = max(z, float(need[meets].max()))
        out[i] = math.ceil(z * 4) / 4
    return out


def labels_geojson(grids: gpd.GeoDataFrame) -> dict:
    """The names of the level-1 and level-2 grids as points (`id`, `name`, `level`, `px` the type
    size, `min_zoom` the zoom from which the name is drawn)."""
    g = grids[grids["level"].isin((1, 2))].copy()
    g["_area"] = shapely.area(g.geometry.values)  # square degrees: only ranks within one city
    g = g.sort_values(["level", "_area"], ascending=[True, False])
    pts = [label_point(geom) for geom in g.geometry.values]
    lat = np.array([p.y for p in pts])
    lon = np.array([p.x for p in pts])
    levels = g["level"].astype(int).to_numpy()
    boxes = [box_px(str(n), int(lv)) for n, lv in zip(g["name"], levels)]
    floors = np.where(levels == 2, LEVEL2_FROM_ZOOM, 0.0)
    zooms = placement_zooms(lat, lon, [b[0] for b in boxes], [b[1] for b in boxes], floors)
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(x), 6), round(float(y), 6)]},
              "properties": {"id": i, "name": n, "level": int(lv), "px": FONT_PX.get(int(lv), 14),
                             "min_zoom": float(z)}}
             for i, n, lv, x, y, z in zip(g["id"], g["name"], levels, lon, lat, zooms)]
    return {"type": "FeatureCollection", "features": feats}
