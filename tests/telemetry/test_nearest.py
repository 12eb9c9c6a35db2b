"""Exact nearest: the lattice bound is conservative, and the search equals brute force on 100k
random live positions for thousands of query points: dense, at grid borders, at and beyond the
edge of the populated area, with filters that exclude most, and with fewer than k eligible."""
from __future__ import annotations

import math
import random
import time

import h3
import numpy as np
import pytest

from geodata.geo import EARTH_RADIUS_M, haversine_m
from telemetry.nearest import (FINE_MAX_RING, FIRST_RINGS, MAX_ABS_LAT, Candidate, _coarse_cell, _local_xy, _rings,
                               cell_lower_bounds, circumradius_m, local_layout, local_ring_bounds, nearest,
                               ring_lower_bounds)
from telemetry.protocols import Fix
from telemetry.store import LiveStore

NOW = float(int(time.time()))
BOX = (28.10, 28.40, 116.90, 117.30)  # the populated area
ROLES = ("l2_supervisor", "assistant", "l1_supervisor")
STATUSES = ("on_duty", "on_duty", "on_duty", "busy", "off_duty")


def _least_distances(lat, lon, rings):
    """The exact least great-circle distance from the point to each ring of cells (outlines
    sampled every ~1/40 of an edge, so within centimetres)."""
    out = []
    t = np.linspace(0, 1, 41)[:, None]
    for cells in rings:
        pts = []
        for c in cells:
            b = np.array(h3.cell_to_boundary(c))
            b[:, 1] = lon + (b[:, 1] - lon + 180) % 360 - 180  # no edge the long way round
            a, z = b, np.roll(b, -1, axis=0)
            pts.append((a[None] * (1 - t[..., None]) + z[None] * t[..., None]).reshape(-1, 2))
        p = np.radians(np.concatenate(pts))
        la, lo = math.radians(lat), math.radians(lon)
        h = np.sin((p[:, 0] - la) / 2) ** 2 + math.cos(la) * np.cos(p[:, 0]) * np.sin((p[:, 1] - lo) / 2) ** 2
        out.append(float((2 * EARTH_RADIUS_M * np.arctan2(np.sqrt(h), np.sqrt(1 - h))).min()))
    return out


def _check_bounds(lat, lon, res=9):
    c0 = h3.latlng_to_cell(lat, lon, res)
    rb = local_ring_bounds(c0)  # what the search uses: measured once per res-6 parent
    if rb is None:  # the coarse search serves
        assert abs(lat) > MAX_ABS_LAT - 0.1 or any(h3.is_pentagon(c) for c in h3.grid_disk(c0, FINE_MAX_RING + 1))
        return []
    bounds = ring_lower_bounds(rb, h3.cell_to_latlng(c0), lat, lon)
    assert len(bounds) == FINE_MAX_RING + 1
    # beyond ring n: ring n + 1, and for good measure ring n + 2
    exact = _least_distances(lat, lon, [h3.grid_ring(c0, n) for n in range(1, FINE_MAX_RING + 3)])
    for n, bound in enumerate(bounds):
        assert min(exact[n], exact[n + 1]) >= bound, (lat, lon, n, exact[n], bound)
    return [b / e for b, e in zip(bounds[1:], exact[1:])]  # ring 1 can touch the point


def test_ring_bounds_are_conservative_and_tight():
    """Every point of every cell beyond ring n lies at least the bound away: in Yingtan, on a
    cell's vertex (the largest offset from its centre), anywhere on Earth, beside icosahedron
    face edges (where the lattice bends) and near pentagons."""
    rng = random.Random(3)
    ratios = []
    for _ in range(150):
        ratios += _check_bounds(rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]))
    for _ in range(50):
        v = h3.cell_to_boundary(h3.latlng_to_cell(rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]), 9))[rng.randrange(6)]
        _check_bounds(*v)
    # tight: on average the bound is within a few per cent of the exact distance (the search
    # reads a ring more whenever it is loose; the centre-distance-minus-radius bound this
    # replaced averaged 0.84)
    assert np.mean(ratios) > 0.93, np.mean(ratios)
    world, edges = 0, 0
    while world < 150 or edges < 25:
        lat, lon = math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)
        parent = h3.cell_to_parent(h3.latlng_to_cell(lat, lon, 9), 6)
        one_face = len({f for c in h3.grid_disk(parent, 1) for f in h3.get_icosahedron_faces(c)}) == 1
        if one_face and world < 150:
            world += 1
        elif not one_face:
            edges += 1
        else:
            continue
        _check_bounds(lat, lon)
    for p in h3.get_pentagons(9)[:4]:
        plat, plon = h3.cell_to_latlng(p)
        for _ in range(5):
            _check_bounds(plat + rng.uniform(-0.05, 0.05), plon + rng.uniform(-0.05, 0.05))
    # across the 180th meridian, towards the poles, and at other resolutions than 9
    for _ in range(60):
        _check_bounds(rng.uniform(-80, 80), rng.choice((-1, 1)) * rng.uniform(179.97, 180))
    for _ in range(100):
        lat = rng.choice((-1, 1)) * rng.uniform(84, 89.9)
        assert _check_bounds(lat, rng.uniform(-180, 180)) == [] or abs(lat) <= MAX_ABS_LAT + 0.1
    for res, n in ((4, 40), (5, 60), (6, 20), (7, 15), (8, 15), (10, 15)):
        for _ in range(n):
            _check_bounds(rng.uniform(-60, 60), rng.uniform(-180, 180), res)


def _check_cells(lat, lon, res=9):
    """Each cell of the first call's disk is at least its lower bound away; False when no
    shared layout serves here (the per-ring path is taken)."""
    c0 = h3.latlng_to_cell(lat, lon, res)
    layout = local_layout(c0)
    if layout is None:
        return False
    disk = h3.grid_disk(c0, FIRST_RINGS)  # h3's order, which the layout's must match
    assert len(disk) == len(layout.reach)
    rb = local_ring_bounds(c0)
    centre = h3.cell_to_latlng(c0)
    lb = cell_lower_bounds(layout, *_local_xy(centre, (lat, lon), rb.cos_lat))
    exact = _least_distances(lat, lon, [[c] for c in disk])
    for cell, bound, d in zip(disk, lb, exact):
        assert d >= bound, (lat, lon, cell, d, bound)
    # and tight: the bound of the farthest cells is within a few per cent (a layout taken
    # from a wrongly ordered disk would put cells hundreds of metres off)
    if res == 9:
        far = [b / d for b, d in zip(lb, exact) if d > 400]
        assert min(far) > 0.85, (lat, lon, min(far))
    return True


def test_cell_lower_bounds_are_conservative():
    """The disk layout shared by a parent's cells (measured once, at its centre child) gives
    each cell of any of its cells' disks a true lower bound, in Yingtan and anywhere on Earth;
    near face edges, other base cells and pentagons no layout is used."""
    rng = random.Random(5)
    for _ in range(150):
        assert _check_cells(rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]))
    for _ in range(50):  # on a cell's vertex: the largest offset from its centre
        c = h3.latlng_to_cell(rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]), 9)
        assert _check_cells(*h3.cell_to_boundary(c)[rng.randrange(6)])
    used = 0
    for _ in range(400):
        used += _check_cells(math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180))
    assert used > 300  # most of the Earth is far from where a layout cannot serve
    for _ in range(40):  # across the 180th meridian
        _check_cells(rng.uniform(-80, 80), rng.choice((-1, 1)) * rng.uniform(179.97, 180))
    for _ in range(100):  # towards the poles: none beyond MAX_ABS_LAT
        lat = rng.choice((-1, 1)) * rng.uniform(84, 89.9)
        assert not _check_cells(lat, rng.uniform(-180, 180)) or abs(lat) <= MAX_ABS_LAT + 0.1
    for res in (6, 7, 8, 10):
        for _ in range(15):
            _check_cells(rng.uniform(-60, 60), rng.uniform(-180, 180), res)
    for p in h3.get_pentagons(9):
        assert local_layout(p) is None


def test_coarse_cell_radius_holds_its_fine_descendants():
    """A device is in the coarse cell of its fine cell, and fine cells stick out of their
    ancestor's outline: every corner of every fine descendant lies within the radius the
    sparse search bounds a coarse cell by."""
    rng = random.Random(6)
    points = [(rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:])) for _ in range(40)]
    points += [(math.degrees(math.asin(rng.uniform(-0.99, 0.99))), rng.uniform(-180, 180)) for _ in range(40)]
    for lat, lon in points:
        coarse = h3.latlng_to_cell(lat, lon, 7)
        clat, clon, radius = _coarse_cell(coarse, 9)
        reach = max(h3.great_circle_distance((clat, clon), v, "m")
                    for c in h3.cell_to_children(coarse, 9) for v in h3.cell_to_boundary(c))
        assert reach <= radius < reach * 1.05 + 2, (coarse, reach, radius)
        assert reach > circumradius_m(coarse)  # the reason: its children stick out


def test_ring_strings_are_the_rings():
    """The disk sliced by ring equals h3's own rings, in the form the script reads, here and
    in pentagons' base cells (where the slow path is taken)."""
    rng = random.Random(4)
    points = [(rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:])) for _ in range(100)]
    points += [(math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)) for _ in range(300)]
    points += [h3.cell_to_latlng(p) for p in h3.get_pentagons(9)]
    for lat, lon in points:
        cell = h3.latlng_to_cell(lat, lon, 9)
        got = _rings(h3.str_to_int(cell), FINE_MAX_RING)
        for n, ring in enumerate(got):
            cells = [ring[i + 1:i + 16] for i in range(0, len(ring), 16)]
            assert all(ring[i] == "0" for i in range(0, len(ring), 16))
            assert sorted(cells) == sorted(h3.grid_ring(cell, n)), (lat, lon, n)


@pytest.fixture(scope="module")
def world(redis_server, tmp_path_factory):
    """100k random live devices in Redis, written through the store's own script."""
    import redis as redis_lib

    from gridwatch.settings import Settings

    r = redis_lib.Redis.from_url(redis_server.url)
    r.flushall()
    settings = Settings(redis_url=redis_server.url)
    store = LiveStore(r, settings)
    store.ensure_scripts()
    rng = np.random.default_rng(7)
    n = 100_000
    lats = np.round(rng.uniform(BOX[0], BOX[1], n), 6)
    lons = np.round(rng.uniform(BOX[2], BOX[3], n), 6)
    # a dense cluster too: 10k in 1 km around a market
    lats[:10_000] = np.round(28.25 + rng.normal(0, 0.004, 10_000), 6)
    lons[:10_000] = np.round(117.05 + rng.normal(0, 0.004, 10_000), 6)
    ages = rng.uniform(0, 900, n)
    statuses = [STATUSES[i] for i in rng.integers(0, len(STATUSES), n)]
    roles = [ROLES[i] for i in rng.integers(0, len(ROLES), n)]
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        d = f"d{i:06d}"
        store.queue_fix(pipe, Fix(d, NOW - ages[i], lats[i], lons[i], st=statuses[i]), NOW, f"p{i:06d}", roles[i],
                        None, None)
        if i % 2000 == 1999:
            store.execute(pipe)
            pipe = r.pipeline(transaction=False)
    store.execute(pipe)
    tst = np.array([float(f"{NOW - a:.6f}".rstrip("0").rstrip(".")) for a in ages])
    yield r, dict(lat=lats, lon=lons, tst=tst, st=np.array(statuses), role=np.array(roles),
                  device=np.array([f"d{i:06d}" for i in range(n)]))
    r.flushall()
    r.close()


def brute(w, lat, lon, k, statuses=("on_duty",), max_age_s=None, roles=None, exclude=()):
    d = haversine_m(lat, lon, np.radians(w["lat"]), np.radians(w["lon"]))
    ok = np.ones(len(d), bool)
    if statuses is not None:
        ok &= np.isin(w["st"], statuses)
    if roles is not None:
        ok &= np.isin(w["role"], roles)
    if max_age_s is not None:
        ok &= w["tst"] >= NOW - max_age_s
    if exclude:
        ok &= ~np.isin(w["device"], list(exclude))
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(d[idx], kind="stable")][:k]
    return list(w["device"][order]), d[order]


def check(r, w, lat, lon, k=5, **kw):
    got = nearest(r, lat, lon, k, now=NOW, **kw)
    want, dist = brute(w, lat, lon, k, **kw)
    assert len(got) == len(want)
    assert np.allclose([c.distance_m for c in got], dist, atol=1e-3), (lat, lon, kw)
    # the same devices, but for ties at the k-th distance (either may come)
    closer = dist[-1] - 1e-3
    assert ({c.device for c in got if c.distance_m < closer}
            == {d for d, x in zip(want, dist) if x < closer}), (lat, lon, kw)
    return got


def test_equals_brute_force_random_points(world):
    r, w = world
    rng = random.Random(11)
    for _ in range(1200):
        check(r, w, rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]))
    for _ in range(100):  # the k-th farther out: the bounds of the outer rings decide
        check(r, w, rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]), k=rng.choice((60, 150)))


def test_equals_brute_force_in_the_dense_cluster_and_at_cell_borders(world):
    r, w = world
    rng = random.Random(12)
    for _ in range(300):
        check(r, w, 28.25 + rng.gauss(0, 0.004), 117.05 + rng.gauss(0, 0.004), k=10)
    for _ in range(200):  # on a vertex of a res-9 cell: the query's offset is the largest
        v = h3.cell_to_boundary(h3.latlng_to_cell(rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]), 9))[0]
        check(r, w, *v)


def test_equals_brute_force_at_and_beyond_the_edge(world):
    r, w = world
    rng = random.Random(13)
    for _ in range(300):
        side = rng.randrange(4)
        t = rng.random()
        lat = [BOX[0] - rng.uniform(0, 0.3), BOX[1] + rng.uniform(0, 0.3), BOX[0] + t * 0.3, BOX[0] + t * 0.3][side]
        lon = [BOX[2] + t * 0.4, BOX[2] + t * 0.4, BOX[2] - rng.uniform(0, 0.3), BOX[3] + rng.uniform(0, 0.3)][side]
        check(r, w, lat, lon)


def test_equals_brute_force_with_filters_that_exclude_most(world):
    r, w = world
    rng = random.Random(14)
    for _ in range(150):
        lat, lon = rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:])
        check(r, w, lat, lon, statuses=("busy",), roles=("l1_supervisor",), max_age_s=30)  # ~0.2 % eligible
        check(r, w, lat, lon, k=3, statuses=None, max_age_s=5)
        near = nearest(r, lat, lon, 3, now=NOW)
        check(r, w, lat, lon, exclude=[c.device for c in near])


def test_fewer_eligible_than_k_terminates_with_all(world):
    r, w = world
    got = check(r, w, 28.2, 117.1, k=50, statuses=("busy",), roles=("l1_supervisor",), max_age_s=0.5)
    assert len(got) < 50
    assert nearest(r, 28.2, 117.1, 5, statuses=("nobody",), now=NOW) == []


def test_empty_store_and_result_shape(rdb):
    assert nearest(rdb, 28.2, 117.0, 5) == []
    assert Candidate._fields[:4] == ("device", "person", "distance_m", "state")


def test_per_status_counts_follow_every_change_and_let_rare_filters_skip_cells(rdb):
    """OCCST (devices per coarse cell, status and role) stays equal to what the cells hold
    through moves across coarse cells, status changes, late fixes, wills and returns; nearest
    with a filter few pass equals brute force, reads only the cells holding someone eligible,
    and still equals it when the counts cannot be trusted (a store written before they were kept)."""
    from gridwatch.settings import Settings
    from telemetry import nearest as nearest_mod
    from telemetry.protocols import Status
    from telemetry.store import CELL, OCC, OCCST, REC_SEP

    settings = Settings()
    store = LiveStore(rdb, settings)
    store.ensure_scripts()
    rng = random.Random(21)
    n = 3000
    state = {}  # device -> (lat, lon, tst, status, role, online)
    for step in range(6):
        pipe = rdb.pipeline(transaction=False)
        for i in range(n):
            d = f"c{i:05d}"
            role = "coordinator" if i < 6 else ROLES[i % len(ROLES)]
            lat0, lon0, tst0, st0, _, _ = state.get(d, (None, None, NOW - 1000, "on_duty", role, True))
            roll = rng.random()
            if step and roll < 0.1:  # the will, or back after it with a status
                will = state[d][5]
                store.queue_status(pipe, Status(d, "offline" if will else "busy", None if will else tst0 + 1,
                                                will=will), NOW, d, role)
                state[d] = (lat0, lon0, tst0 if will else tst0 + 1, st0 if will else "busy", role, not will)
            elif step and roll < 0.2:  # a duty status change with no position
                st = rng.choice(STATUSES + ("sos",))
                store.queue_status(pipe, Status(d, st, tst0 + 1), NOW, d, role)
                state[d] = (lat0, lon0, tst0 + 1, st, role, True)
            elif step and roll < 0.25:  # a late fix: nothing may move
                store.queue_fix(pipe, Fix(d, tst0 - 500, 28.0, 117.0), NOW, d, role, None, None)
                state[d] = (lat0, lon0, tst0, st0, role, True)
            else:  # a new fix, anywhere in the box: usually another coarse cell
                lat, lon = round(rng.uniform(*BOX[:2]), 6), round(rng.uniform(*BOX[2:]), 6)
                st = rng.choice(STATUSES) if rng.random() < 0.3 else None
                store.queue_fix(pipe, Fix(d, tst0 + 1, lat, lon, st=st), NOW, d, role, None, None)
                state[d] = (lat, lon, tst0 + 1, st or st0, role, True)
        store.execute(pipe)
        # the counts equal a recount of the coarse cells' members
        recount: dict[str, int] = {}
        for cell in (c.decode() for c in rdb.hkeys(OCC)):
            for rec in rdb.hvals(CELL + cell):
                _, _, _, st, role, _ = rec.decode().split(REC_SEP, 5)
                recount[f"{cell}|{st}|{role}"] = recount.get(f"{cell}|{st}|{role}", 0) + 1
        assert {k.decode(): int(v) for k, v in rdb.hgetall(OCCST).items()} == recount, step

    online = {d: v for d, v in state.items() if v[5] and v[0] is not None}
    w = dict(lat=np.array([v[0] for v in online.values()]), lon=np.array([v[1] for v in online.values()]),
             tst=np.array([v[2] for v in online.values()], dtype=float), st=np.array([v[3] for v in online.values()]),
             role=np.array([v[4] for v in online.values()]), device=np.array(list(online)))
    rare = dict(statuses=None, roles=("coordinator",))
    eligible = nearest_mod._eligible_cells(rdb, None, frozenset(rare["roles"]))
    cells, _ = nearest_mod._occupied(rdb, settings.h3_res)
    assert eligible is not None and 0 < len(eligible) <= 6 and len(cells) > 100
    for _ in range(100):
        check(rdb, w, rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]), k=3, **rare)
    assert nearest(rdb, 28.2, 117.1, 3, roles=("nobody",), now=NOW) == []
    rdb.delete(OCCST)  # counts missing: nothing is skipped, the answer is the same
    assert nearest_mod._eligible_cells(rdb, None, frozenset(rare["roles"])) is None
    for _ in range(30):
        check(rdb, w, rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:]), k=3, **rare)
