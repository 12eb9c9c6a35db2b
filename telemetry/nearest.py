"""Exact k-nearest search over the live store: grow H3 disks around the point and stop as soon
as no unseen cell can hold anything closer than the k-th candidate; no radius needed.

The bounds are pure functions (cell_geometry, ring_lower_bound) so they can be tested alone;
`nearest` is the thin shell that fetches cell membership from Redis.
"""
from __future__ import annotations

import hashlib
import math
import time
from functools import lru_cache
from typing import Iterable, NamedTuple

import h3
import redis

import numpy as np

from telemetry.store import NEAREST_LUA, OCC, OCCST, OCCUPANCY_LUA, OCCUPIED_LUA, REC_SEP

_NEAREST_SHA = hashlib.sha1(NEAREST_LUA.encode()).hexdigest()
_OCCUPIED_SHA = hashlib.sha1(OCCUPIED_LUA.encode()).hexdigest()
_OCCUPANCY_SHA = hashlib.sha1(OCCUPANCY_LUA.encode()).hexdigest()
EARTH_RADIUS_M = 6371007.180918475  # h3's authalic radius, so bounds and distances agree

# Safety margins on measured geometry: the H3 lattice is only locally regular (edges within
# one res-9 cell differ by ~9%), and its distortion drifts slowly with distance.
SPACING_MARGIN = 0.97
RADIUS_MARGIN = 1.03
SLACK_M = 1.0
FINE_MAX_RING = 4   # beyond this the sparse-area search over coarse cells takes over
COARSE_BATCH = 8    # coarse cells fetched per round trip in the sparse-area search
SKIP_AFTER = 16     # coarse cells read before a filtered search asks which cells hold anyone eligible


class Candidate(NamedTuple):
    device: str
    person: str
    distance_m: float
    state: str        # duty status
    lat: float
    lon: float
    tst: float
    role: str


class CellGeometry(NamedTuple):
    spacing_m: float   # lower bound of (centre distance of cells n rings apart) / n
    radius_m: float    # upper bound of any nearby cell's circumradius
    centre: tuple[float, float]


def _local_xy(origin: tuple[float, float], p: tuple[float, float]) -> tuple[float, float]:
    """Metres east/north of origin on the tangent plane (exact enough over a few cells)."""
    k = math.pi / 180 * 6371007.180918475
    return ((p[1] - origin[1]) * k * math.cos(math.radians(origin[0])), (p[0] - origin[0]) * k)


def circumradius_m(cell: str) -> float:
    """Largest distance from a cell's centre to its boundary. H3 edges are great-circle arcs
    (straight in the gnomonic projection), so the farthest boundary point is a vertex."""
    c = h3.cell_to_latlng(cell)
    return max(h3.great_circle_distance(c, v, "m") for v in h3.cell_to_boundary(cell))


@lru_cache(maxsize=200_000)
def cell_geometry(cell: str) -> CellGeometry | None:
    """Conservative lattice geometry measured from the cells around `cell`.

    In a flat lattice of regular hexagons with edge e, the centre of any cell at grid distance
    >= n lies at least 1.5*n*e from the centre cell's centre (ring n is a hexagon of cells whose
    sides are 1.5*n*e from the centre). H3 cells are not regular, so two measures are taken
    and the smaller kept: 1.5 * the shortest edge among the cell and its neighbours, and the
    distance from the centre to each line through two adjacent neighbour centres (in a locally
    affine lattice ring n's sides lie n times that far). The radius term takes the largest of
    the longest edge and the measured circumradius of those cells. Both get a safety margin.
    Using the *average* edge here is what made Apache Pinot's H3 index return wrong results
    (pinot#7766, fixed in #14628). None near a pentagon: callers fall back to the exact
    per-cell search."""
    try:
        disk = h3.grid_disk(cell, 1)
    except h3.H3BaseException:
        return None
    if len(disk) != 7 or any(h3.is_pentagon(c) for c in disk):
        return None
    centre = h3.cell_to_latlng(cell)
    edges = [h3.edge_length(e, "m") for c in disk for e in h3.origin_to_directed_edges(c)]
    radius = max(max(edges), max(circumradius_m(c) for c in disk))
    pts = [_local_xy(centre, h3.cell_to_latlng(c)) for c in disk if c != cell]
    pts.sort(key=lambda p: math.atan2(p[1], p[0]))
    side = math.inf
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
        side = min(side, abs(x1 * y2 - x2 * y1) / math.hypot(x2 - x1, y2 - y1))
    spacing = min(1.5 * min(edges), side)
    return CellGeometry(spacing * SPACING_MARGIN, radius * RADIUS_MARGIN + SLACK_M, centre)


GEOMETRY_PARENT_STEPS = 3  # res 9 cells share the geometry measured for their res-6 parent


def local_geometry(cell: str) -> CellGeometry | None:
    """cell_geometry measured once per parent GEOMETRY_PARENT_STEPS levels up (~3 km across for
    res 9), at the parent's centre child: H3's distortion drifts by well under 1 % over that
    distance, inside the safety margins, and a query then costs no geometry work. Near a
    pentagon, or where the parent's own measure is unavailable, the cell's own is used."""
    res = h3.get_resolution(cell)
    if res <= GEOMETRY_PARENT_STEPS:
        return cell_geometry(cell)
    parent = h3.cell_to_parent(cell, res - GEOMETRY_PARENT_STEPS)
    geo = cell_geometry(h3.cell_to_center_child(parent, res))
    return geo if geo is not None else cell_geometry(cell)


def ring_lower_bound(geo: CellGeometry, offset_m: float, n: int) -> float:
    """Lower bound of the distance from the query to any point in a cell at grid distance
    >= n from the query's cell, `offset_m` being the query's distance from that cell's centre."""
    return n * geo.spacing_m - geo.radius_m - offset_m


class _Search:
    """Accumulates eligible candidates; one device counted once (it may move mid-search).
    Eligibility is decided in Redis (NEAREST_LUA); here only exact distances are taken."""

    def __init__(self, lat, lon, k, statuses, max_age_s, roles, exclude, now):
        self.q = (lat, lon)
        self.k = k
        self.filter_args = [
            "" if statuses is None else "," + ",".join(statuses) + ",",
            "" if roles is None else "," + ",".join(roles) + ",",
            "-1e18" if max_age_s is None else repr(now - max_age_s),
            "," + ",".join(exclude) + "," if exclude else "",
        ]
        self.best: dict[str, Candidate] = {}
        self.kth = math.inf

    def take(self, blob: bytes) -> None:
        if not blob:
            return
        q, best, dist = self.q, self.best, h3.great_circle_distance
        for line in blob.decode().split("\n"):
            device, lat, lon, tst, st, role, person = line.split(REC_SEP, 6)
            lat, lon, tst = float(lat), float(lon), float(tst)
            old = best.get(device)
            if old is None or old.tst < tst:
                best[device] = Candidate(device, person, dist(q, (lat, lon), "m"), st, lat, lon, tst, role)
        if len(best) >= self.k:
            self.kth = sorted(c.distance_m for c in best.values())[self.k - 1]

    def result(self) -> list[Candidate]:
        return sorted(self.best.values(), key=lambda c: (c.distance_m, c.device))[: self.k]


def _script(r: redis.Redis, sha: str, source: str, keys: list[str], args: list = ()):
    try:
        return r.evalsha(sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        r.script_load(source)
        return r.evalsha(sha, len(keys), *keys, *args)


def _fetch(r: redis.Redis, s: _Search, rings: Iterable[str], bounds: Iterable[float]) -> tuple[bool, bytes]:
    """Eligible members of the cells, ring by ring (each ring a comma-separated string of
    cells), stopping as soon as the bounds allow."""
    args = [repr(s.q[0]), repr(s.q[1]), s.k, *s.filter_args, 0]
    for ring, bound in zip(rings, bounds):
        args += [ring, repr(max(bound, -1e300))]
    args[7] = (len(args) - 8) // 2
    done, blob = _script(r, _NEAREST_SHA, NEAREST_LUA, [OCC], args)  # OCC: the `{live}` slot
    return bool(done), blob


@lru_cache(maxsize=100_000)
def _rings(cell: str, n: int) -> tuple[str, ...]:
    return tuple(",".join(h3.grid_ring(cell, i)) for i in range(n + 1))


def nearest(r: redis.Redis, lat: float, lon: float, k: int = 5, *, statuses: Iterable[str] | None = ("on_duty",),
            max_age_s: float | None = None, roles: Iterable[str] | None = None, exclude: Iterable[str] = (),
            now: float | None = None, res: int = 9, coarse_res: int = 7) -> list[Candidate]:
    """The k live devices nearest to (lat, lon) in exact great-circle order (h3's haversine),
    nearest first, among those whose duty status is in `statuses` (None: any), whose role is
    in `roles` (None: any), whose latest fix is at most `max_age_s` old, and not in `exclude`.
    Devices that sent their will (offline) are not in the live index. Fewer than k come back
    when fewer are eligible. `res`/`coarse_res` must be the store's (Settings.h3_res/_coarse_res).

    Dense areas, usually one round trip: the rings of fine cells around the query's cell go to
    Redis with, for each ring n, the bound ring_lower_bound(n + 1) (cell_geometry explains it);
    the script reads ring after ring and stops at the first where k eligible devices are known
    and the k-th is no farther than the bound, i.e. no unseen cell can hold anything closer.
    Sparse areas, or filters that exclude most: when FINE_MAX_RING rings do not settle it, the
    occupied coarse cells are visited best-first by an exact per-cell bound (distance to the
    centre minus the measured circumradius), so the search ends at the populated extent even
    when fewer than k are eligible. Filtering happens in Redis, in the same call."""
    if k <= 0:
        return []
    now = time.time() if now is None else now
    statuses = None if statuses is None else tuple(statuses)
    roles = None if roles is None else tuple(roles)
    s = _Search(lat, lon, k, statuses, max_age_s, roles, tuple(exclude), now)
    c0 = h3.latlng_to_cell(lat, lon, res)
    geo = local_geometry(c0)
    if geo is not None:
        offset = h3.great_circle_distance((lat, lon), h3.cell_to_latlng(c0), "m")
        rings = _rings(c0, FINE_MAX_RING)
        done, blob = _fetch(r, s, rings, [ring_lower_bound(geo, offset, n + 1) for n in range(len(rings))])
        s.take(blob)
        if done:
            return s.result()
    return _coarse_search(r, s, lat, lon, coarse_res, None if statuses is None else frozenset(statuses),
                          None if roles is None else frozenset(roles))


@lru_cache(maxsize=100_000)
def _coarse_cell(cell: str) -> tuple[float, float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    return lat, lon, circumradius_m(cell) * RADIUS_MARGIN + SLACK_M


_occupied_cache: list = [None, None]


def _occupied(r: redis.Redis) -> tuple[list[str], np.ndarray]:
    """The occupied coarse cells and their (lat rad, lon rad, bound radius m); the geometry is
    reused while the set is unchanged (it changes far less often than positions do)."""
    blob = _script(r, _OCCUPIED_SHA, OCCUPIED_LUA, [OCC])
    if _occupied_cache[0] != blob:
        cells = blob.decode().split(",") if blob else []
        geo = np.array([_coarse_cell(c) for c in cells], dtype=float).reshape(-1, 3)
        geo[:, :2] = np.radians(geo[:, :2])
        _occupied_cache[:] = [blob, (cells, geo)]
    return _occupied_cache[1]


class Occupancy:
    """Live devices per coarse cell, and per (status, role) in each, as last read: which
    cells hold anyone a filter lets through (parsed again only when the counts changed)."""

    def __init__(self) -> None:
        self.blobs = (None, None)
        self.total = self.st_total = 0
        self.per: dict[str, list[tuple[str, str]]] = {}
        self._sets: dict = {}

    def update(self, occ_blob: bytes, st_blob: bytes) -> "Occupancy":
        if (occ_blob, st_blob) != self.blobs:
            self.total = sum(int(p.rsplit("=", 1)[1]) for p in occ_blob.decode().split(",")) if occ_blob else 0
            per: dict[str, list[tuple[str, str]]] = {}
            total = 0
            for part in (st_blob.decode().split(",") if st_blob else []):
                key, n = part.rsplit("=", 1)
                cell, st, role = key.split("|", 2)
                per.setdefault(cell, []).append((st, role))
                total += int(n)
            self.per, self.st_total, self.blobs, self._sets = per, total, (occ_blob, st_blob), {}
        return self

    def eligible(self, statuses: frozenset | None, roles: frozenset | None) -> set[str] | None:
        """The cells holding a device of those statuses and roles; None: any cell may (no
        filter, or per-status counts that do not add up to the cells' counts, as in a store
        written before they were kept: then nothing is skipped)."""
        if (statuses is None and roles is None) or self.st_total != self.total:
            return None
        key = (statuses, roles)
        if key not in self._sets:
            self._sets[key] = {cell for cell, kinds in self.per.items()
                               if any((statuses is None or st in statuses) and (roles is None or ro in roles)
                                      for st, ro in kinds)}
        return self._sets[key]


_occupancy = Occupancy()


def _eligible_cells(r: redis.Redis, statuses: frozenset | None, roles: frozenset | None) -> set[str] | None:
    occ_blob, st_blob = _script(r, _OCCUPANCY_SHA, OCCUPANCY_LUA, [OCC, OCCST])
    return _occupancy.update(occ_blob, st_blob).eligible(statuses, roles)


def haversine_m(lat: float, lon: float, lats_rad: np.ndarray, lons_rad: np.ndarray) -> np.ndarray:
    la, lo = math.radians(lat), math.radians(lon)
    a = np.sin((lats_rad - la) / 2) ** 2 + math.cos(la) * np.cos(lats_rad) * np.sin((lons_rad - lo) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _coarse_search(r: redis.Redis, s: _Search, lat: float, lon: float, coarse_res: int,
                   statuses: frozenset | None = None, roles: frozenset | None = None) -> list[Candidate]:
    cells, geo = _occupied(r)
    if not cells:
        return s.result()
    # 0.5 m below the haversine: floating-point slack for the vectorised bound
    lb = haversine_m(lat, lon, geo[:, 0], geo[:, 1]) - geo[:, 2] - 0.5
    idx = np.argsort(lb)
    order = list(zip(lb[idx].tolist(), [cells[i] for i in idx]))
    i, size, skipping = 0, 1, statuses is None and roles is None
    while i < len(order) and order[i][0] < s.kth:
        if not skipping and i >= SKIP_AFTER:
            # A filter few pass (or k beyond what exists): from here on read only the cells
            # the per-status counts say hold someone eligible. Asked only now, because most
            # searches settle within a few cells and the counts cost a read of their own.
            skipping = True
            eligible = _eligible_cells(r, statuses, roles)
            if eligible is not None:
                known = _occupancy.per
                order = order[:i] + [(b, c) for b, c in order[i:] if c in eligible or c not in known]
                continue
        batch = []
        while i < len(order) and order[i][0] < s.kth and len(batch) < size:
            batch.append(order[i][1])
            i += 1
        s.take(_fetch(r, s, [",".join(batch)], [-math.inf])[1])
        size = min(size * 2, COARSE_BATCH)  # start small: the first cell often settles it
    return s.result()


def brute_force(points, lat: float, lon: float, k: int) -> list[tuple[float, str]]:
    """Reference answer for tests and benchmarks: (distance_m, device) of every point, sorted."""
    q = (lat, lon)
    return sorted((h3.great_circle_distance(q, (a, b), "m"), d) for d, a, b in points)[:k]
