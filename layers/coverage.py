"""Live coverage: every H3 cell of the jurisdiction coloured by the great-circle distance from
its centre to the nearest live on-duty supervisor; cells beyond a set distance are uncovered,
and their share of the city's area is the wall's "uncovered" figure (the seed's 100 %
coverage, made live). Pure functions; the web process recomputes it every few seconds."""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import h3
import numpy as np
from scipy.spatial import cKDTree

from geodata.geo import EARTH_RADIUS_M

# Resolution 8 (~0.74 km², ~460 m edges): ~5,600 cells over Yingtan, fine enough for 1-2 km
# response rings, merged into two outlines (thin, uncovered) for the map.
COVERAGE_RES = 8
BUCKETS_M = (1000.0, 2000.0)  # covered (<1 km), thin (1-2 km), uncovered (>= 2 km)


@dataclass(frozen=True)
class CellGrid:
    cells: list[str]
    lat: np.ndarray
    lon: np.ndarray
    area_km2: np.ndarray


def jurisdiction_cells(grids: gpd.GeoDataFrame, res: int = COVERAGE_RES) -> CellGrid:
    """The H3 cells whose centres lie in the union of the level-2 grids."""
    shape = grids[grids["level"] == 2].union_all()
    cells = sorted(h3.geo_to_cells(shape, res))
    ll = np.array([h3.cell_to_latlng(c) for c in cells]) if cells else np.zeros((0, 2))
    area = np.array([h3.cell_area(c, unit="km^2") for c in cells])
    return CellGrid(cells, ll[:, 0], ll[:, 1], area)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def nearest_distance_m(grid: CellGrid, sup_lat, sup_lon) -> np.ndarray:
    """Exact great-circle distance from each cell centre to the nearest supervisor (inf when
    there is none): nearest by chord in 3-D is nearest by arc, then chord -> arc."""
    if len(sup_lat) == 0 or len(grid.cells) == 0:
        return np.full(len(grid.cells), np.inf)
    tree = cKDTree(_unit_vectors(np.asarray(sup_lat, float), np.asarray(sup_lon, float)))
    chord, _ = tree.query(_unit_vectors(grid.lat, grid.lon), k=1)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.clip(chord / 2, 0, 1))


def buckets(dist: np.ndarray, edges=BUCKETS_M) -> np.ndarray:
    """0 covered, 1 thin, 2 uncovered."""
    return np.searchsorted(np.asarray(edges), dist, side="right")


def uncovered_pct(grid: CellGrid, dist: np.ndarray, threshold_m: float = BUCKETS_M[-1]) -> float:
    total = grid.area_km2.sum()
    return 0.0 if total == 0 else float(100 * grid.area_km2[dist >= threshold_m].sum() / total)


def _rounded(coords, ndigits: int = 5):
    if coords and isinstance(coords[0], (int, float)):
        return [round(coords[0], ndigits), round(coords[1], ndigits)]
    return [_rounded(c, ndigits) for c in coords]


def regions(grid: CellGrid, dist: np.ndarray) -> dict:
    """What the map draws: the thin (bucket 1) and uncovered (bucket 2) cells merged into one
    outline each (h3's `cells_to_geo`: a few polygons with holes instead of one polygon per
    cell, so the wall builds two map layers, not 5,000), and the uncovered share of the area."""
    b = buckets(dist)
    feats = []
    for k in (1, 2):
        cells = [c for c, x in zip(grid.cells, b) if x == k]
        if cells:
            geo = h3.cells_to_geo(cells, tight=False)
            feats.append({"type": "Feature", "properties": {"bucket": k},
                          "geometry": {"type": geo["type"], "coordinates": _rounded(geo["coordinates"])}})
    return {"fc": {"type": "FeatureCollection", "features": feats}, "pct": round(uncovered_pct(grid, dist), 2)}
