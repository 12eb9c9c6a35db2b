"""Loads and validates a dataset directory (CONTRACT.md section 3): grids, people, entities.

A dataset is refused whole: every problem found is collected, each naming the file, the
feature or row, and the rule broken, and `DatasetError` carries them all.

Coordinates end in WGS-84 (EPSG:4326). Any declared CRS is reprojected. Chinese web-map data
in GCJ-02 (Amap, Tencent) or BD-09 (Baidu) carries no CRS of its own, so it is declared:
- a GeoJSON file may say so in a top-level member: `{"type": "FeatureCollection",
  "datum": "GCJ-02", ...}`;
- any file (GeoJSON, GeoPackage, shapefile, people/entities CSV) may have a sidecar text file
  named after it plus `.datum` (`grids.gpkg.datum`, `entities.csv.datum`) holding `GCJ-02`.
Such coordinates are converted to WGS-84 with the `prcoords` library.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata import uscc
from geodata.roles import ROLES

GRID_FILES = ("grids.geojson", "grids.gpkg", "grids.shp")
# A terminal's id is an MQTT topic level and a field of the live store's records: letters,
# digits and _ . : - only (no / + # of MQTT, no | , of the store's lists), at most 64.
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
# Roles responsible for grids, and the level of the grids they hold.
ROLE_LEVEL = {"l1_supervisor": 1, "l2_supervisor": 2, "assistant": 2, "informant": 2}
DATUMS = ("WGS-84", "GCJ-02", "BD-09")
# Overlaps, gaps and level-2 area outside the parent smaller than this are digitising noise.
TOLERANCE_M2 = 10.0
# Where the platform works: China's extent (prcoords' own sanity box). Data elsewhere after
# reprojection means a wrong CRS (degrees labelled as metres, or the reverse).
CHINA = (72.004, 0.8293, 137.8347, 55.8271)
_TO_EQUAL_AREA = None


@dataclass(frozen=True)
class Problem:
    file: str
    where: str
    rule: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.rule}" + (f" ({self.detail})" if self.detail else "")


class DatasetError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"dataset refused, {len(self.problems)} problem(s):\n{shown}{more}")


@dataclass
class Dataset:
    grids: gpd.GeoDataFrame  # id, name, level, parent, branch, synthetic, geometry (EPSG:4326)
    people: pd.DataFrame  # id, name, role, grids (tuple of ids), device (or None), phone
    entities: pd.DataFrame  # uscc, name, kind, category, address, lat, lon, grid (level-2 id)
    source: str = ""
    warnings: list[Problem] = field(default_factory=list)
    # conflicts.csv: person, uscc, reason (declared conflicts of interest, for the draws)
    conflicts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["person", "uscc", "reason"]))

    def counts(self) -> dict[str, int]:
        levels = self.grids["level"].value_counts()
        return {"level1": int(levels.get(1, 0)), "level2": int(levels.get(2, 0)),
                "people": len(self.people), "devices": int(self.people["device"].notna().sum()),
                "entities": len(self.entities)}


# --- measuring ----------------------------------------------------------------------------

def area_m2(geom) -> float:
    """Area in m2 of a lon/lat geometry, in an equal-area projection (EPSG:6933) after
    densifying to ~100 m. Edges are straight in lon/lat, as shapely and sjoin treat them; a
    geodesic area (or projecting only the vertices) would bend long edges differently
    depending on how they are split, and report sliver areas that are not there."""
    global _TO_EQUAL_AREA
    if geom is None or geom.is_empty:
        return 0.0
    if _TO_EQUAL_AREA is None:
        from pyproj import Transformer

        _TO_EQUAL_AREA = Transformer.from_crs(4326, 6933, always_xy=True)
    dense = shapely.segmentize(geom, 1e-3)
    return float(shapely.area(shapely.transform(dense, lambda xy: np.column_stack(
        _TO_EQUAL_AREA.transform(xy[:, 0], xy[:, 1])))))


def approx_m2(deg2: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Square degrees to square metres at a latitude: a fast filter before `area_m2`."""
    return np.asarray(deg2) * 111_320.0 * 110_574.0 * np.cos(np.radians(lat))


def where_of(geom) -> str:
    p = geom.representative_point()
    return f"at {p.y:.6f}, {p.x:.6f}"


# --- datum --------------------------------------------------------------------------------

def declared_datum(path: Path) -> tuple[str, Problem | None]:
    """The datum a file declares: sidecar `<file>.datum`, or a GeoJSON top-level `datum`."""
    side = path.with_name(path.name + ".datum")
    raw = None
    if side.exists():
        raw = side.read_text(encoding="utf-8").strip()
    elif path.suffix.lower() in (".geojson", ".json"):
        try:
            with open(path, "rb") as f:
                raw = json.load(f).get("datum")
        except (ValueError, AttributeError):
            raw = None  # unreadable JSON is reported by the reader
    if raw is None:
        return "WGS-84", None
    norm = raw.upper().replace("_", "-").replace(" ", "")
    norm = {"GCJ02": "GCJ-02", "BD09": "BD-09", "WGS84": "WGS-84", "CGCS2000": "WGS-84"}.get(norm, norm)
    if norm not in DATUMS:
        return "WGS-84", Problem(path.name, "file", "unknown datum", f"{raw!r}; known: {', '.join(DATUMS)}")
    return norm, None


def to_wgs84(lat: np.ndarray, lon: np.ndarray, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Converts GCJ-02 or BD-09 coordinates with prcoords (one call per point, ~3 us)."""
    import prcoords

    if datum == "WGS-84" or len(lat) == 0:
        return lat, lon
    fn = {"GCJ-02": prcoords.gcj_wgs_bored, "BD-09": prcoords.bd_wgs}[datum]
    out = np.array([fn((a, b), False) for a, b in zip(np.asarray(lat).tolist(), np.asarray(lon).tolist())])
    return out[:, 0], out[:, 1]


def _geoms_to_wgs84(geoms: np.ndarray, datum: str) -> np.ndarray:
    if datum == "WGS-84":
        return geoms

    def convert(xy: np.ndarray) -> np.ndarray:
        lat, lon = to_wgs84(xy[:, 1], xy[:, 0], datum)
        return np.column_stack([lon, lat])

    # One pass over every vertex of every geometry.
    return shapely.transform(geoms, convert)


# --- grids --------------------------------------------------------------------------------

def find_grids_file(directory: Path) -> Path | None:
    return next((directory / n for n in GRID_FILES if (directory / n).exists()), None)


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    s = str(v).strip()
    if s.endswith(".0") and s[:-2].isdigit():  # numeric ids read back from shapefiles
        s = s[:-2]
    return s or None


def read_grids(path: Path, repair: bool = False) -> tuple[gpd.GeoDataFrame | None, list[Problem]]:
    """One boundary file, reprojected to EPSG:4326, with per-feature checks; `source` and
    `feature` columns name where each grid came from."""
    import pyogrio

    name = path.name
    try:
        df = pyogrio.read_dataframe(path)
    except Exception as e:  # pyogrio raises several types for unreadable files
        return None, [Problem(name, "file", "unreadable", str(e).splitlines()[0])]
    problems: list[Problem] = []
    datum, p = declared_datum(path)
    if p:
        problems.append(p)
    if df.crs is None:
        return None, problems + [Problem(name, "file", "missing CRS",
                                         "the file declares no coordinate system (a shapefile needs its .prj)")]
    missing = [c for c in ("id", "name", "level") if c not in df.columns]
    if missing:
        return None, problems + [Problem(name, "file", "missing column", ", ".join(missing))]
    if datum != "WGS-84" and not df.crs.is_geographic:
        problems.append(Problem(name, "file", "bad CRS", f"{datum} is declared but the CRS {df.crs.to_string()} is projected"))
    try:
        geoms = df.to_crs(4326).geometry.values if not df.crs.equals("EPSG:4326") else df.geometry.values
    except Exception as e:
        return None, problems + [Problem(name, "file", "bad CRS", f"cannot reproject {df.crs.to_string()}: {e}")]
    geoms = np.asarray(geoms, dtype=object)
    nonempty = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if nonempty.any():
        x0, y0, x1, y1 = shapely.total_bounds(geoms[nonempty])
        if not (np.isfinite([x0, y0, x1, y1]).all() and CHINA[0] <= x0 and x1 <= CHINA[2]
                and CHINA[1] <= y0 and y1 <= CHINA[3]):
            return None, problems + [Problem(
                name, "file", "bad CRS",
                f"declared {df.crs.to_string()}, but the coordinates land at {x0:.4g}..{x1:.4g} E, "
                f"{y0:.4g}..{y1:.4g} N, outside China: is the CRS right?")]
    geoms = _geoms_to_wgs84(geoms, datum)

    rows = []
    for i in range(len(df)):
        gid = _text(df["id"].iat[i])
        where = f"feature {i}" + (f" (id {gid})" if gid else "")
        g = geoms[i]
        level = pd.to_numeric(df["level"].iat[i], errors="coerce")
        if gid is None:
            problems.append(Problem(name, where, "missing id"))
        if level not in (1, 2):
            problems.append(Problem(name, where, "bad level", f"{df['level'].iat[i]!r}; must be 1 or 2"))
        if g is None or g.is_empty:
            problems.append(Problem(name, where, "empty geometry"))
            g = None
        elif g.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem(name, where, "not a polygon", g.geom_type))
            g = None
        elif not g.is_valid:
            reason = shapely.is_valid_reason(g)
            if repair:
                fixed = shapely.make_valid(g)
                polys = [p for p in getattr(fixed, "geoms", [fixed]) if p.geom_type in ("Polygon", "MultiPolygon")]
                g = shapely.union_all(polys) if polys else None
                if g is None or g.is_empty:
                    problems.append(Problem(name, where, "invalid geometry", f"{reason}; make_valid left no area"))
                    g = None
            else:
                problems.append(Problem(name, where, "invalid geometry", f"{reason} (load with --repair to apply make_valid)"))
                g = None
        rows.append({
            "id": gid, "name": _text(df["name"].iat[i]), "level": int(level) if level in (1, 2) else None,
            "parent": _text(df["parent"].iat[i]) if "parent" in df.columns else None,
            "branch": _text(df["branch"].iat[i]) if "branch" in df.columns else None,
            "synthetic": bool(df["synthetic"].iat[i]) if "synthetic" in df.columns and pd.notna(df["synthetic"].iat[i]) else False,
            "geometry": g, "source": name, "feature": i,
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326"), problems


def check_grids(grids: gpd.GeoDataFrame, tolerance_m2: float = TOLERANCE_M2) -> list[Problem]:
    """The rules between features: unique ids, level-2 parents, containment, sibling overlaps."""
    problems: list[Problem] = []

    def where(r) -> str:
        return f"feature {r.feature}" + (f" (id {r.id})" if r.id else "")

    first: dict[str, object] = {}
    for r in grids.itertuples():
        if r.id is None:
            continue
        if r.id in first:
            f = first[r.id]
            problems.append(Problem(r.source, where(r), "duplicate id", f"also {f.source} feature {f.feature}"))
        else:
            first[r.id] = r
    l1 = {r.id: r for r in grids.itertuples() if r.level == 1 and r.id is not None}
    for r in grids.itertuples():
        if r.level != 2:
            continue
        if r.parent is None:
            problems.append(Problem(r.source, where(r), "orphan level-2", "no parent"))
            continue
        parent = l1.get(r.parent)
        if parent is None:
            problems.append(Problem(r.source, where(r), "orphan level-2", f"parent {r.parent} is not a level-1 grid"))
            continue
        if r.geometry is None or parent.geometry is None:
            continue
        out = shapely.difference(r.geometry, parent.geometry)
        if not out.is_empty:
            a = area_m2(out)
            if a > tolerance_m2:
                problems.append(Problem(r.source, where(r), "outside its parent",
                                        f"{a:,.0f} m2 outside {r.parent}, {where_of(out)}"))
    for level in (1, 2):
        for a_row, b_row, piece, a in overlaps(grids[grids["level"] == level], tolerance_m2):
            problems.append(Problem(a_row.source, where(a_row), "overlap",
                                    f"level {level}: {a:,.0f} m2 shared with {b_row.source} {where(b_row)}, {where_of(piece)}"))
    return problems


def overlaps(grids: gpd.GeoDataFrame, tolerance_m2: float):
    """(row, other row, overlap geometry, m2) for every pair overlapping beyond the tolerance."""
    g = grids[grids.geometry.notna()]
    geoms = np.asarray(g.geometry.values, dtype=object)
    if len(geoms) < 2:
        return []
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    pieces = shapely.intersection(geoms[a], geoms[b])
    deg2 = shapely.area(pieces)
    lat = shapely.get_y(shapely.centroid(geoms[a]))
    rows = list(g.itertuples())
    out = []
    # The fast estimate only filters; the reported area is geodesic.
    for k in np.flatnonzero(approx_m2(deg2, lat) > tolerance_m2 * 0.5):
        m2 = area_m2(pieces[k])
        if m2 > tolerance_m2:
            out.append((rows[a[k]], rows[b[k]], pieces[k], m2))
    return out


def normalise_grids(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The one shape of `Dataset.grids`, however it was read: sorted by level and id, text
    columns as Python objects with None for missing, level int, synthetic bool."""
    out = grids[["id", "name", "level", "parent", "branch", "synthetic", "geometry"]].copy()
    for col in ("id", "name", "parent", "branch"):
        out[col] = pd.Series([_text(v) for v in out[col]], index=out.index, dtype=object)
    out["level"] = out["level"].astype(int)
    out["synthetic"] = out["synthetic"].fillna(False).astype(bool)
    return gpd.GeoDataFrame(out.sort_values(["level", "id"]).reset_index(drop=True),
                            geometry="geometry", crs="EPSG:4326")


# --- people and entities -------------------------------------------------------------------

def _read_csv(path: Path, columns: tuple[str, ...]) -> tuple[pd.DataFrame | None, list[Problem]]:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as e:
        return None, [Problem(path.name, "file", "unreadable", str(e).splitlines()[0])]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        return None, [Problem(path.name, "file", "missing column", ", ".join(missing))]
    return df.apply(lambda s: s.str.strip()), []


def read_people(path: Path, grids: gpd.GeoDataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    cols = ("id", "name", "role", "grid", "device", "phone")
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ("id", "name", "role", "grids", "device", "phone")})
    if not path.exists():
        return empty, []
    df, problems = _read_csv(path, cols)
    if df is None:
        return empty, problems
    level = dict(zip(grids["id"], grids["level"]))
    seen_id: dict[str, int] = {}
    seen_dev: dict[str, int] = {}
    out = []
    for i, r in enumerate(df.itertuples(index=False)):
        row = i + 2  # the header is line 1
        where = f"row {row}" + (f" (id {r.id})" if r.id else "")
        if not r.id:
            problems.append(Problem(path.name, where, "missing id"))
        elif r.id in seen_id:
            problems.append(Problem(path.name, where, "duplicate id", f"first on row {seen_id[r.id]}"))
        else:
            seen_id[r.id] = row
        if r.role not in ROLES:
            problems.append(Problem(path.name, where, "bad role", f"{r.role!r}; one of {', '.join(ROLES)}"))
        grids_of = tuple(g.strip() for g in r.grid.split(";") if g.strip())
        for g in grids_of:
            if g not in level:
                problems.append(Problem(path.name, where, "unknown grid", g))
            elif r.role in ROLE_LEVEL and level[g] != ROLE_LEVEL[r.role]:
                problems.append(Problem(path.name, where, "wrong grid level",
                                        f"{r.role} holds level-{ROLE_LEVEL[r.role]} grids, {g} is level {level[g]}"))
        if r.role in ROLE_LEVEL and not grids_of:
            problems.append(Problem(path.name, where, "missing grid", f"a {r.role} is responsible for a grid"))
        if r.role in ("l1_supervisor", "assistant", "informant") and len(grids_of) > 1:
            problems.append(Problem(path.name, where, "several grids", f"only a level-2 supervisor holds several; {r.role}"))
        if r.device:
            if not DEVICE_ID.fullmatch(r.device):
                problems.append(Problem(path.name, where, "bad device id",
                                        f"{r.device!r}: letters, digits and _ . : - only, at most 64"))
            if r.device in seen_dev:
                problems.append(Problem(path.name, where, "duplicate device", f"{r.device} also on row {seen_dev[r.device]}"))
            else:
                seen_dev[r.device] = row
        out.append((r.id, r.name, r.role, grids_of, r.device or None, r.phone or None))
    return pd.DataFrame(out, columns=list(empty.columns), dtype=object), problems


def read_entities(path: Path, index) -> tuple[pd.DataFrame, list[Problem]]:
    cols = ("uscc", "name", "kind", "category", "address", "lat", "lon")
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols + ("grid",)})
    if not path.exists():
        return empty, []
    df, problems = _read_csv(path, cols)
    if df is None:
        return empty, problems
    datum, p = declared_datum(path)
    if p:
        problems.append(p)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(dtype=float, copy=True)
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(dtype=float, copy=True)
    bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    lat[bad], lon[bad] = 0.0, 0.0
    lat, lon = to_wgs84(lat, lon, datum)
    l1, l2 = index.locate(lat, lon)
    seen: dict[str, int] = {}
    for i, code in enumerate(df["uscc"]):
        row = i + 2
        where = f"row {row}" + (f" (uscc {code})" if code else "")
        why = uscc.problem(code or None)
        if why:
            problems.append(Problem(path.name, where, "bad USCC", why))
        elif code in seen:
            problems.append(Problem(path.name, where, "duplicate USCC", f"first on row {seen[code]}"))
        else:
            seen[code] = row
        if bad[i]:
            problems.append(Problem(path.name, where, "bad coordinates", f"lat {df['lat'].iat[i]!r}, lon {df['lon'].iat[i]!r}"))
        elif l1[i] is None:
            problems.append(Problem(path.name, where, "outside the jurisdiction",
                                    f"{lat[i]:.6f}, {lon[i]:.6f} is in no level-1 grid"))
    out = df[list(cols)].copy()
    out["lat"], out["lon"] = lat, lon
    out["grid"] = pd.Series(l2, index=out.index, dtype=object)  # None where no level-2 grid
    return out, problems


def read_conflicts(path: Path, people: pd.DataFrame, entities: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """conflicts.csv (optional): `person,uscc,reason`, a declared conflict of interest between
    an inspector and an entity (the draws never send him there). Every row names a person of
    people.csv and an entity of entities.csv, with a reason; a pair is declared once."""
    cols = ("person", "uscc", "reason")
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    if not path.exists():
        return empty, []
    df, problems = _read_csv(path, cols)
    if df is None:
        return empty, problems
    persons = set(people["id"])
    known = set(entities["uscc"])
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(df.itertuples(index=False)):
        row = i + 2
        where = f"row {row}"
        if r.person not in persons:
            problems.append(Problem(path.name, where, "unknown person", repr(r.person)))
        why = uscc.problem(r.uscc or None)
        if why:
            problems.append(Problem(path.name, where, "bad USCC", why))
        elif r.uscc not in known:
            problems.append(Problem(path.name, where, "unknown entity", f"{r.uscc} is not in entities.csv"))
        if not r.reason:
            problems.append(Problem(path.name, where, "missing reason", "a declared conflict says why"))
        if (r.person, r.uscc) in seen:
            problems.append(Problem(path.name, where, "duplicate conflict", f"first on row {seen[(r.person, r.uscc)]}"))
        else:
            seen[(r.person, r.uscc)] = row
    return df[list(cols)].reset_index(drop=True), problems


# --- the directory -----------------------------------------------------------------------

def read_boundaries(paths: list[Path], repair: bool = False) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Several boundary files read as one set of grids (ids unique across them)."""
    parts, problems = [], []
    for p in paths:
        g, probs = read_grids(Path(p), repair=repair)
        problems += probs
        if g is not None:
            parts.append(g)
    if not parts:
        return gpd.GeoDataFrame({"id": [], "level": [], "source": [], "feature": []},
                                geometry=[], crs="EPSG:4326"), problems
    grids = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs="EPSG:4326")
    return grids, problems + check_grids(grids)


def read_directory(directory: Path, repair: bool = False):
    """(grids, people, entities, problems) of a dataset directory, every rule checked
    (conflicts.csv too: `read_conflicts`, called by `load_dataset`)."""
    from geodata.index import GridIndex

    directory = Path(directory)
    if not directory.is_dir():
        return None, None, None, [Problem(str(directory), "directory", "not found")]
    grids_file = find_grids_file(directory)
    if grids_file is None:
        return None, None, None, [Problem(str(directory), "directory", "missing file", " or ".join(GRID_FILES))]
    grids, problems = read_boundaries([grids_file], repair=repair)
    usable = grids[grids["geometry"].notna() & grids["level"].isin([1, 2])] if len(grids) else grids
    people, p = read_people(directory / "people.csv", grids)
    problems += p
    entities = pd.DataFrame(columns=["uscc", "name", "kind", "category", "address", "lat", "lon", "grid"])
    if len(usable):
        index = GridIndex.from_grids(usable.drop_duplicates("id"))
        entities, p = read_entities(directory / "entities.csv", index)
        problems += p
    return grids, people, entities, problems


def load_dataset(path, repair: bool = False) -> Dataset:
    """Reads and validates a dataset directory; raises DatasetError listing every problem."""
    grids, people, entities, problems = read_directory(Path(path), repair=repair)
    conflicts = None
    if people is not None and entities is not None:
        conflicts, p = read_conflicts(Path(path) / "conflicts.csv", people, entities)
        problems += p
    if problems:
        raise DatasetError(problems)
    grids = normalise_grids(grids.drop(columns=["source", "feature"]))
    ds = Dataset(grids=grids, people=people, entities=entities.reset_index(drop=True), source=str(path))
    if conflicts is not None:
        ds.conflicts = conflicts
    return ds
