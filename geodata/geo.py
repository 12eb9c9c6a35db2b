"""The Earth's radius and the great-circle distance, for every package: one radius, so the
nearest search, its bounds, the coverage layer and the label placement agree."""
from __future__ import annotations

import math
from math import asin, cos, radians, sin, sqrt

import numpy as np

# h3's authalic radius (EARTH_RADIUS_KM in h3's constants): h3.great_circle_distance and the
# nearest script's haversine use it, so distances computed anywhere here are the same numbers.
EARTH_RADIUS_M = 6371007.180918475


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (the haversine on EARTH_RADIUS_M, as h3 computes it)."""
    p1, p2 = radians(lat1), radians(lat2)
    a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * asin(sqrt(min(a, 1.0)))


def haversine_m(lat: float, lon: float, lats_rad: np.ndarray, lons_rad: np.ndarray) -> np.ndarray:
    """`distance_m` from one point (degrees) to many (radians, numpy arrays)."""
    la, lo = math.radians(lat), math.radians(lon)
    a = np.sin((lats_rad - la) / 2) ** 2 + math.cos(la) * np.cos(lats_rad) * np.sin((lons_rad - lo) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
