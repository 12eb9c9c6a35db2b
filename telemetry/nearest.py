"""Exact k-nearest search over the live store: read the H3 cells around the point nearest first
and stop as soon as no unseen cell can hold anything closer than the k-th candidate; no radius
needed.

The bounds are pure functions (ring_bounds, ring_lower_bounds) so they can be tested alone;
`nearest` is the thin shell that fetches cell membership from Redis.
"""
from __future__ import annotations

import math
import operator
import time
from functools import lru_cache
from typing import Iterable, NamedTuple

import h3
import h3.api.basic_int as h3i
import h3.api.numpy_int as h3n
import redis

import numpy as np

from geodata.geo import EARTH_RADIUS_M, haversine_m
from telemetry import lua
from telemetry.keys import CELL, OCC, OCCST, REC_SEP

# A cell-membership record's first five fields (lat lon tst status role), as a Lua pattern.
RECORD_PATTERN = "^" + f"([^{REC_SEP}]*){REC_SEP}" * 5
NEAREST = lua.load("nearest.lua", EARTH_RADIUS_M=EARTH_RADIUS_M, CELL=CELL, SEP=REC_SEP, RECORD_PATTERN=RECORD_PATTERN)
OCCUPIED = lua.load("nearest_occupied.lua")
OCCUPANCY = lua.load("nearest_occupancy.lua")

# Safety margins on measured geometry: the H3 lattice is only locally regular (edges within
# one res-9 cell differ by ~9%), and its distortion drifts slowly with distance.
SUPPORT_MARGIN = 0.99
RADIUS_MARGIN = 1.03
SLACK_M = 1.0
FIRST_RINGS = 3     # rings read in the first call: among 100k devices in Yingtan they settle ~all queries
FINE_MAX_RING = 4   # the second call reads up to here; beyond, the search over coarse cells takes over
# The first call's cells, nearest first by their lower bounds, go in groups ending at these
# counts (the script may stop after each group): small groups where searches usually end.
GROUP_ENDS = (4, 7, 9, 11, 13, 16, 20, 25, 3 * FIRST_RINGS * (FIRST_RINGS + 1) + 1)
LAYOUT_DRIFT = 0.01  # a shared disk layout's centres may be off by this share of their distance
MAX_ABS_LAT = 85.0   # nearer the poles the tangent plane is no good: the coarse search serves
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


def _local_xy(origin: tuple[float, float], p: tuple[float, float], cos_lat: float | None = None) -> tuple[float, float]:
    """Metres east/north of origin on the tangent plane (exact enough over a few cells, away
    from the poles: MAX_ABS_LAT); across the 180th meridian too. `p` may hold numpy arrays."""
    k = math.pi / 180 * EARTH_RADIUS_M
    if cos_lat is None:
        cos_lat = math.cos(math.radians(origin[0]))
    return (((p[1] - origin[1] + 180.0) % 360.0 - 180.0) * k * cos_lat, (p[0] - origin[0]) * k)


def _unit(x: float, y: float) -> tuple[float, float]:
    n = math.hypot(x, y)
    return x / n, y / n


def circumradius_m(cell: str) -> float:
    """Largest distance from a cell's centre to its boundary. H3 edges are great-circle arcs
    (straight in the gnomonic projection), so the farthest boundary point is a vertex."""
    c = h3.cell_to_latlng(cell)
    return max(h3.great_circle_distance(c, v, "m") for v in h3.cell_to_boundary(cell))


def _measurable_disk(cell: str, rings: int) -> tuple[tuple[float, float], float, list[str]] | None:
    """The cell's centre, its tangent plane's scale and its disk, where the geometry can be
    measured on that plane: no pentagon in the disk, not nearer a pole than MAX_ABS_LAT."""
    centre = h3.cell_to_latlng(cell)
    if abs(centre[0]) > MAX_ABS_LAT:
        return None
    try:
        disk = h3.grid_disk(cell, rings)
    except h3.H3BaseException:
        return None
    if len(disk) != 3 * rings * (rings + 1) + 1 or any(h3.is_pentagon(c) for c in disk):
        return None
    return centre, math.cos(math.radians(centre[0])), disk


class RingBounds(NamedTuple):
    """How far the rings around a cell lie from its centre, as half-planes: every point of
    every cell at grid distance >= n + 1 lies beyond at least one of the lines
    normal_j . x = support[n][j] (x in metres east/north of the centre)."""
    cos_lat: float                               # the tangent plane's scale at the centre
    normals: tuple[tuple[float, float], ...]     # 12 unit vectors
    support: tuple[tuple[float, ...], ...]       # per ring n + 1, per normal (inf: no cell there)


@lru_cache(maxsize=20_000)
def ring_bounds(cell: str, rings: int = FINE_MAX_RING + 1) -> RingBounds | None:
    """Measured from the cells around `cell` (their real, distorted H3 boundaries).

    Take 12 directions: towards the 6 neighbours' centres and between them (the sides of a hex
    ring face those). Give every cell of ring n + 1 to the direction along which its nearest
    vertex projects farthest, and keep per direction the least such projection: support[n].
    Each cell is convex, so all of it lies beyond its direction's line; and anything at grid
    distance > n + 1 is reached only through ring n + 1. So for a query inside, the distance
    to every unseen cell is at least min_j (support[n][j] - normal_j . q), which is
    ring_lower_bounds. This follows the zigzag edge of the disk closely; bounding by centre
    distance minus a radius, or worse by the *average* edge length, does not (the average
    is what made Apache Pinot's H3 index return wrong results: pinot#7766, fixed in #14628).
    The supports get a safety margin for the tangent plane and for use by neighbouring cells
    (local_ring_bounds). None near a pentagon or a pole (MAX_ABS_LAT): callers fall back to
    the exact search over coarse cells."""
    measurable = _measurable_disk(cell, rings)
    if measurable is None:
        return None
    centre, cos_lat, _ = measurable
    toward = sorted((_unit(*_local_xy(centre, h3.cell_to_latlng(c), cos_lat)) for c in h3.grid_ring(cell, 1)),
                    key=lambda u: math.atan2(u[1], u[0]))
    normals = tuple(toward) + tuple(_unit(a[0] + b[0], a[1] + b[1]) for a, b in zip(toward, toward[1:] + toward[:1]))
    to_normals = np.array(normals).T
    support = []
    for n in range(1, rings + 1):
        outlines = [h3.cell_to_boundary(c) for c in h3.grid_ring(cell, n)]
        m = max(len(o) for o in outlines)  # 6, more where an outline crosses a face edge
        ll = np.array([o + o[-1:] * (m - len(o)) for o in outlines])  # cells x vertices x (lat, lon)
        xy = np.stack(_local_xy(centre, (ll[..., 0], ll[..., 1]), cos_lat), axis=-1)
        proj = (xy @ to_normals).min(axis=1)  # cells x normals: each cell's least projection
        j = proj.argmax(axis=1)
        least = np.full(len(normals), math.inf)
        np.minimum.at(least, j, proj[np.arange(len(j)), j])
        support.append(tuple((least * SUPPORT_MARGIN - SLACK_M).tolist()))
    return RingBounds(cos_lat, normals, tuple(support))


class DiskLayout(NamedTuple):
    """Where the cells of a disk lie around its centre cell, in h3's disk order (centre first,
    then ring by ring): each cell's centre in metres east and north of the centre cell's, and
    how much to take off the distance to that centre for a lower bound of the distance to any
    point of the cell (its circumradius, with margins for use by other cells nearby)."""
    centres: np.ndarray   # complex: east + north * 1j, metres
    reach: np.ndarray


def disk_layout(cell: str, rings: int) -> DiskLayout | None:
    """Measured at `cell` (None near a pentagon, where h3 does not list disks ring by ring, or
    a pole)."""
    measurable = _measurable_disk(cell, rings)
    if measurable is None:
        return None
    centre, cos_lat, disk = measurable
    xy = np.array([_local_xy(centre, h3.cell_to_latlng(c), cos_lat) for c in disk])
    radius = max(circumradius_m(c) for c in disk) * RADIUS_MARGIN + SLACK_M
    centres = xy[:, 0] + 1j * xy[:, 1]
    return DiskLayout(centres, radius + LAYOUT_DRIFT * np.abs(centres))


class _Area(NamedTuple):
    bounds: RingBounds | None
    layout: DiskLayout | None


GEOMETRY_PARENT_STEPS = 3  # res 9 cells share the geometry measured for their res-6 parent
MIN_SHARED_RES = 6         # coarser cells' parents are too large for the margins: each its own
_PENTAGON_BASES = frozenset(h3.get_base_cell_number(p) for p in h3.get_pentagons(0))


@lru_cache(maxsize=20_000)
def _area(parent: int, res: int) -> _Area:
    """The geometry shared by the parent's res-`res` cells, measured once at its centre child:
    H3's distortion drifts by well under 1 % over a res-6 cell (~3 km), inside the margins.
    Where the parent and its neighbours lie on one icosahedron face (H3's lattice bends at
    face edges) the ring bounds serve all its cells; where they are also in one base cell
    that is no pentagon's, every disk of FIRST_RINGS rings around its cells is listed in the
    same pattern (h3 walks a disk in its base cell's fixed directions), so one layout serves."""
    parent = h3i.int_to_str(parent)
    disk = h3.grid_disk(parent, 1)
    if len({f for c in disk for f in h3.get_icosahedron_faces(c)}) != 1:
        return _Area(None, None)
    centre = h3.cell_to_center_child(parent, res)
    bounds = ring_bounds(centre)
    bases = {h3.get_base_cell_number(c) for c in disk}
    if bounds is None or len(bases) != 1 or bases & _PENTAGON_BASES:
        return _Area(bounds, None)
    return _Area(bounds, disk_layout(centre, FIRST_RINGS))


def _geometry(cell: int) -> _Area:
    """What a search from this cell uses: its parent's shared geometry (_area), with the
    cell's own ring bounds where no shared ones serve (near a pentagon or a face edge, or at
    resolutions below MIN_SHARED_RES)."""
    res = h3i.get_resolution(cell)
    area = _area(h3i.cell_to_parent(cell, res - GEOMETRY_PARENT_STEPS), res) \
        if res >= MIN_SHARED_RES else _Area(None, None)
    return area if area.bounds is not None else _Area(ring_bounds(h3i.int_to_str(cell)), area.layout)


def local_ring_bounds(cell: str) -> RingBounds | None:
    return _geometry(h3.str_to_int(cell)).bounds


def local_layout(cell: str) -> DiskLayout | None:
    return _geometry(h3.str_to_int(cell)).layout


def _beyond(rb: RingBounds, x: float, y: float, n: int) -> float:
    """ring_lower_bounds' n-th, for a point x m east and y m north of the cell's centre."""
    return min(map(operator.sub, rb.support[n], [nx * x + ny * y for nx, ny in rb.normals]))


def ring_lower_bounds(rb: RingBounds, centre: tuple[float, float], lat: float, lon: float) -> list[float]:
    """For each n, a lower bound of the distance from (lat, lon), a point in the cell centred
    at `centre`, to any point of any cell at grid distance >= n + 1 from it."""
    x, y = _local_xy(centre, (lat, lon), rb.cos_lat)
    return [_beyond(rb, x, y, n) for n in range(len(rb.support))]


def cell_lower_bounds(layout: DiskLayout, x: float, y: float) -> np.ndarray:
    """Per disk cell (h3's order), a lower bound of the distance from a point x m east and y m
    north of the centre cell's centre to any point of that cell."""
    return np.abs(layout.centres - complex(x, y)) - layout.reach


class _Search:
    """Accumulates eligible candidates; one device counted once (it may move mid-search).
    Eligibility and distances are decided in Redis (telemetry/nearest.lua: h3's haversine, the same
    formula and radius as h3.great_circle_distance)."""

    __slots__ = ("q", "k", "filter_args", "exclude", "best")

    def __init__(self, lat, lon, k, filter_args, exclude):
        self.q = (lat, lon)
        self.k = k
        self.filter_args = filter_args
        self.exclude = exclude
        self.best: dict[str, Candidate] = {}

    def take(self, blob: bytes) -> None:
        if not blob:
            return
        best, new = self.best, tuple.__new__
        for line in blob.decode().split("\n"):
            dist, device, lat, lon, tst, st, role, person = line.split(REC_SEP, 7)
            tst = float(tst)
            old = best.get(device)
            if old is None or old.tst < tst:
                best[device] = new(Candidate, (device, person, float(dist), st, float(lat), float(lon), tst, role))

    @property
    def kth(self) -> float:
        return self.result()[-1].distance_m if len(self.best) >= self.k else math.inf

    def result(self) -> list[Candidate]:
        return sorted(self.best.values(), key=_rank)[: self.k]


def _rank(c: Candidate) -> tuple[float, str]:
    return c.distance_m, c.device


@lru_cache(maxsize=256)
def _filter_args(statuses: tuple | None, roles: tuple | None, exclude: tuple) -> tuple[str, str, str]:
    """telemetry/nearest.lua's ",a,b," lists (statuses, roles, exclude); '' for no limit."""
    return ("" if statuses is None else "," + ",".join(statuses) + ",",
            "" if roles is None else "," + ",".join(roles) + ",",
            "," + ",".join(exclude) + "," if exclude else "")


def _script(r: redis.Redis, script: lua.Script, keys: list[str], args: list = ()):
    try:
        return r.evalsha(script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        r.script_load(script.source)
        return r.evalsha(script.sha, len(keys), *keys, *args)


def _fetch(r: redis.Redis, s: _Search, min_tst: str, rings: Iterable[str], bounds: Iterable[float]) -> tuple[bool, bytes]:
    """Eligible members of the cells, ring by ring (each ring a string of cells, as _rings
    gives them), stopping as soon as the bounds allow, counting the candidates already known."""
    sts, roles, excl = s.filter_args
    seed = ""
    if s.best:
        # the k best known go along: their distances count towards the k-th, and their
        # devices are not read again (one device counted once, even if it moved meanwhile)
        known = s.result()
        seed = ",".join([repr(c.distance_m) for c in known])
        excl = "," + ",".join([*s.exclude, *(c.device for c in known)]) + ","
    args = [s.q[0], s.q[1], s.k, sts, roles, min_tst, excl, seed, 0]
    for ring, bound in zip(rings, bounds):
        args += [ring, max(bound, -1e300)]  # no "-inf": a number Lua reads for sure
    args[8] = (len(args) - 9) // 2
    done, blob = _script(r, NEAREST, [OCC], args)  # OCC: the `{live}` slot
    return bool(done), blob


def _rings(cell: int, n: int) -> tuple[str, ...]:
    """Rings 0..n around the cell, each as its cells' indexes in 16 hex digits (telemetry/nearest.lua's
    form). Outside the 12 pentagons' base cells h3 lists a disk ring by ring, centre first, so
    one conversion of the whole disk serves, each ring at a fixed span of it."""
    disk = h3n.grid_disk(cell, n)
    if h3i.get_base_cell_number(cell) in _PENTAGON_BASES or len(disk) != 3 * n * (n + 1) + 1:
        name = h3i.int_to_str(cell)
        return tuple(_cell_list(h3.grid_ring(name, i)) for i in range(n + 1))
    text = disk.astype(">u8").tobytes().hex()
    return tuple(text[16 * (3 * i * (i - 1) + 1) if i else 0: 16 * (3 * i * (i + 1) + 1)] for i in range(n + 1))


def _cell_list(cells: Iterable[str]) -> str:
    """Cells in telemetry/nearest.lua's form: 16 hex digits each, one after another (h3 names a cell in
    15, its top digit being 0)."""
    return "".join("0" + c for c in cells)


class _Plan(NamedTuple):
    bounds: RingBounds
    centre: tuple[float, float]
    layout: DiskLayout | None
    disk: np.ndarray | None        # with a layout: the disk's cells, big-endian (hex in order)
    rings: tuple[str, ...] | None  # without: rings 0..FIRST_RINGS, as _rings gives them


@lru_cache(maxsize=20_000)  # < 1 KB each
def _plan(cell: int) -> _Plan | None:
    """What a search from this cell needs for its first call. None near a pentagon
    (ring_bounds explains); the coarse search then does it all."""
    area = _geometry(cell)
    rb = area.bounds
    if rb is None:
        return None
    centre = h3i.cell_to_latlng(cell)
    if area.layout is not None:
        disk = h3n.grid_disk(cell, FIRST_RINGS)
        if len(disk) == len(area.layout.reach):
            return _Plan(rb, centre, area.layout, disk.astype(">u8"), None)
    return _Plan(rb, centre, None, None, _rings(cell, FIRST_RINGS))


def _first_groups(plan: _Plan, x: float, y: float) -> tuple[list[str], list[float]]:
    """The first call's cells in groups, nearest first, each with the least distance of
    anything not read by then: the next cell's lower bound, or what lies beyond the disk."""
    beyond = _beyond(plan.bounds, x, y, FIRST_RINGS)
    if plan.layout is None:
        return list(plan.rings), [_beyond(plan.bounds, x, y, n) for n in range(FIRST_RINGS)] + [beyond]
    lb = cell_lower_bounds(plan.layout, x, y)
    order = lb.argsort()
    text = plan.disk[order].tobytes().hex()
    nxt = lb[order[_GROUP_NEXT]].tolist()
    return [text[a:b] for a, b in _GROUP_SPANS], [v if v < beyond else beyond for v in nxt] + [beyond]


_GROUP_SPANS = tuple((16 * a, 16 * b) for a, b in zip((0,) + GROUP_ENDS, GROUP_ENDS))  # in the hex text
_GROUP_NEXT = np.array(GROUP_ENDS[:-1])  # the first cell after each group but the last


def nearest(r: redis.Redis, lat: float, lon: float, k: int = 5, *, statuses: Iterable[str] | None = ("on_duty",),
            max_age_s: float | None = None, roles: Iterable[str] | None = None, exclude: Iterable[str] = (),
            now: float | None = None, res: int = 9) -> list[Candidate]:
    """The k live devices nearest to (lat, lon) in exact great-circle order (h3's haversine),
    nearest first, among those whose duty status is in `statuses` (None: any), whose role is
    in `roles` (None: any), whose latest fix is at most `max_age_s` old, and not in `exclude`.
    Devices that sent their will (offline) are not in the live index. Fewer than k come back
    when fewer are eligible. `res` must be the store's fine resolution (Settings.h3_res); the coarse
    cells are whatever the store wrote (their indexes name their resolution).

    Dense areas, usually one round trip: the fine cells of FIRST_RINGS rings around the query's
    cell go to Redis nearest first, in groups, each group with the least distance of anything
    not read by then (per cell: its centre's distance minus its radius, DiskLayout; beyond the
    disk: ring_bounds explains it); the script reads group after group and stops at the first
    where k eligible devices are known and the k-th is no farther than the bound, i.e. no
    unseen cell can hold anything closer. Then, if need be, rings up to FINE_MAX_RING.
    Sparse areas, or filters that exclude most: when FINE_MAX_RING rings do not settle it, the
    occupied coarse cells are visited best-first by an exact per-cell bound (distance to the
    centre minus the reach of its fine descendants, _coarse_cell), so the search ends at the populated extent even
    when fewer than k are eligible. Filtering happens in Redis, in the same call."""
    if k <= 0:
        return []
    lat, lon = float(lat), float(lon)  # a numpy float would reach the script as "np.float64(...)"
    statuses = None if statuses is None else tuple(statuses)
    roles = None if roles is None else tuple(roles)
    exclude = tuple(exclude)
    s = _Search(lat, lon, k, _filter_args(statuses, roles, exclude), exclude)
    min_tst = "" if max_age_s is None else repr((time.time() if now is None else now) - max_age_s)
    cell = h3i.latlng_to_cell(lat, lon, res)
    plan = _plan(cell)
    if plan is not None:
        x, y = _local_xy(plan.centre, (lat, lon), plan.bounds.cos_lat)
        done, blob = _fetch(r, s, min_tst, *_first_groups(plan, x, y))
        s.take(blob)
        if done:
            return s.result()
        done, blob = _fetch(r, s, min_tst, _rings(cell, FINE_MAX_RING)[FIRST_RINGS + 1:],
                            [_beyond(plan.bounds, x, y, n) for n in range(FIRST_RINGS + 1, FINE_MAX_RING + 1)])
        s.take(blob)
        if done:
            return s.result()
    return _coarse_search(r, s, min_tst, lat, lon, res, None if statuses is None else frozenset(statuses),
                          None if roles is None else frozenset(roles))


@lru_cache(maxsize=100_000)
def _coarse_cell(cell: str, fine_res: int) -> tuple[float, float, float]:
    """A coarse cell's centre and the radius around it holding every point of its fine
    descendants: a device is in the coarse cell of its fine cell, and fine cells stick out
    of their ancestor's outline (res-9 corners up to ~5 % beyond a res-7 circumradius)."""
    lat, lon = h3.cell_to_latlng(cell)
    kids = h3.cell_to_children(cell, fine_res) if fine_res > h3.get_resolution(cell) else [cell]
    corners = np.radians(np.array([v for c in kids for v in h3.cell_to_boundary(c)]))
    reach = float(haversine_m(lat, lon, corners[:, 0], corners[:, 1]).max())
    return lat, lon, reach * RADIUS_MARGIN + SLACK_M


_occupied_cache: list = [None, None]


def _occupied(r: redis.Redis, fine_res: int) -> tuple[list[str], np.ndarray]:
    """The occupied coarse cells and their (lat rad, lon rad, bound radius m); the geometry is
    reused while the set is unchanged (it changes far less often than positions do)."""
    blob = _script(r, OCCUPIED, [OCC])
    if _occupied_cache[0] != (blob, fine_res):
        cells = blob.decode().split(",") if blob else []
        geo = np.array([_coarse_cell(c, fine_res) for c in cells], dtype=float).reshape(-1, 3)
        geo[:, :2] = np.radians(geo[:, :2])
        _occupied_cache[:] = [(blob, fine_res), (cells, geo)]
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
    occ_blob, st_blob = _script(r, OCCUPANCY, [OCC, OCCST])
    return _occupancy.update(occ_blob, st_blob).eligible(statuses, roles)


def _coarse_search(r: redis.Redis, s: _Search, min_tst: str, lat: float, lon: float, fine_res: int,
                   statuses: frozenset | None = None, roles: frozenset | None = None) -> list[Candidate]:
    cells, geo = _occupied(r, fine_res)
    if not cells:
        return s.result()
    # 0.5 m below the haversine: floating-point slack for the vectorised bound
    lb = haversine_m(lat, lon, geo[:, 0], geo[:, 1]) - geo[:, 2] - 0.5
    idx = np.argsort(lb)
    order = list(zip(lb[idx].tolist(), [cells[i] for i in idx]))
    i, size, skipping, kth = 0, 1, statuses is None and roles is None, s.kth
    while i < len(order) and order[i][0] < kth:
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
        while i < len(order) and order[i][0] < kth and len(batch) < size:
            batch.append(order[i][1])
            i += 1
        s.take(_fetch(r, s, min_tst, [_cell_list(batch)], [-math.inf])[1])
        kth = s.kth
        size = min(size * 2, COARSE_BATCH)  # start small: the first cell often settles it
    return s.result()


def brute_force(points, lat: float, lon: float, k: int) -> list[tuple[float, str]]:
    """Reference answer for tests and benchmarks: (distance_m, device) of every point, sorted."""
    q = (lat, lon)
    return sorted((h3.great_circle_distance(q, (a, b), "m"), d) for d, a, b in points)[:k]
