"""Which level-1 and level-2 grid holds a point: many points per call, exact on borders.

Cells wholly inside one grid answer by table lookup; cells that a border crosses fall back to
an exact shapely point-in-polygon test, so the answer always equals geopandas' `sjoin`.

Why the cells are a two-level lon/lat raster and not H3: finding the cell of a point has to cost
a few numpy operations for `locate` to beat `sjoin` tenfold (~0.85M points/s on this kind of
machine). Hashing points to H3 cells cannot: measured here, h3-py's scalar `latlng_to_cell` in
a loop does ~0.5M points/s and h3ronpy 0.22 (vectorised, works with numpy 2) ~1.3-1.6M points/s,
before any lookup. A raster cell of a point is two multiplications and a floor, ~50M points/s.
H3 stays where it fits, in the live position store (telemetry/).

Resolution: fine pixels of 1e-4 degree (~11 m north-south, ~10 m east-west at 28 N), grouped in
tiles of 16 x 16 (~0.0016 degree, ~180 m). A tile no border touches holds one grid id. A tile
that a border crosses holds a block of fine pixels; only the fine pixels a border touches (a band
~30 m wide along each border, about 3 % of Yingtan's area) need the exact test. Finer pixels
would shrink that band but cost memory (each split tile is 512 bytes); coarser tiles would send
more points to the exact test. The whole index of the demo takes a few MB.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import shapely

FINE_DEG = 1e-4
SUB = 16  # fine pixels per tile side; a power of two so that tile and offset are shifts
_SHIFT = 4
_OUTSIDE = -1
_BORDER = -2  # fine pixel that a border touches: exact test


def _first_pixels(flat: np.ndarray, n: int) -> np.ndarray:
    """Position of the first pixel of labels 1..n. `ndimage.label` numbers regions in the order
    it meets them in a row-major scan, so a label starts where the running maximum grows; this is
    linear where np.unique would sort millions of pixels."""
    prev_max = np.maximum.accumulate(flat)
    starts = np.flatnonzero(flat > np.r_[0, prev_max[:-1]])
    if len(starts) != n:  # pragma: no cover - would mean scipy changed its numbering
        raise RuntimeError("unexpected label numbering from scipy.ndimage.label")
    return starts


def _unique(a: np.ndarray) -> np.ndarray:
    """np.unique(a) for integers, by one sort: numpy 2.3+'s np.unique hashes first, which
    took 5.2 s for 3 million int64 here against 0.06 s sorted (the index's build, every load)."""
    s = np.sort(a, kind="stable")
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


class _Raster:
    """Point -> index of the polygon holding it (-1 outside), for polygons that do not overlap
    beyond a tolerance (where they do, the lowest index wins, as on a shared border)."""

    def __init__(self, geoms: np.ndarray, fine: float = FINE_DEG):
        self.geoms = np.asarray(geoms, dtype=object)
        self.tree = shapely.STRtree(self.geoms)
        self.fine = fine
        self.inv = 1.0 / fine
        tile = fine * SUB
        minx, miny, maxx, maxy = shapely.total_bounds(self.geoms) if len(self.geoms) else (0.0, 0.0, 0.0, 0.0)
        # Tiles are aligned to a global lattice so the same polygons give the same raster.
        self.tx0 = int(np.floor(minx / tile)) - 1
        self.ty0 = int(np.floor(miny / tile)) - 1
        self.x0 = self.tx0 * tile
        self.y0 = self.ty0 * tile
        self.ntx = int(np.floor(maxx / tile)) + 2 - self.tx0
        self.nty = int(np.floor(maxy / tile)) + 2 - self.ty0
        self.nx = self.ntx * SUB
        self.ny = self.nty * SUB
        self._build()

    def _pixels(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.floor((lon - self.x0) * self.inv).astype(np.int64),
                np.floor((lat - self.y0) * self.inv).astype(np.int64))

    def _owners(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Exact: index of the first polygon that covers each point, -1 for none."""
        out = np.full(len(lon), _OUTSIDE, dtype=np.int32)
        if len(lon) == 0:
            return out
        pts, polys = self.tree.query(shapely.points(lon, lat), predicate="intersects")
        if len(pts):
            order = np.lexsort((polys, pts))
            pts, polys = pts[order], polys[order]
            first = np.r_[True, pts[1:] != pts[:-1]]
            out[pts[first]] = polys[first]
        return out

    def _build(self) -> None:
        from scipy import ndimage  # build only: a process that loads a serialised index never imports scipy

        # Every fine pixel a border passes through: sample the borders at half a pixel, then
        # dilate by one pixel, which catches the pixels a segment only grazes between samples.
        rings = shapely.segmentize(shapely.boundary(self.geoms), self.fine * 0.5)
        xy = shapely.get_coordinates(rings)
        px, py = self._pixels(xy[:, 0], xy[:, 1])
        base = _unique(py * self.nx + px)
        by, bx = np.divmod(base, self.nx)
        border = _unique(np.concatenate([
            (by + dy) * self.nx + (bx + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]))
        fy, fx = np.divmod(border, self.nx)
        tile_of = (fy >> _SHIFT) * self.ntx + (fx >> _SHIFT)
        split, block_of = np.unique(tile_of, return_inverse=True)

        # Fine blocks of split tiles: label the border-free pixel regions inside each block
        # (4-connected, never across blocks); each region lies in one polygon or outside.
        blocks = np.zeros((len(split), SUB, SUB), dtype=bool)
        blocks[block_of, fy & (SUB - 1), fx & (SUB - 1)] = True
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1] = ndimage.generate_binary_structure(2, 1)
        labels, n = ndimage.label(~blocks, structure=structure)
        reps = _first_pixels(labels.ravel(), n)
        rb, rem = np.divmod(reps, SUB * SUB)
        ry, rx = np.divmod(rem, SUB)
        sy, sx = np.divmod(split[rb], self.ntx)
        cx = self.x0 + ((sx * SUB + rx) + 0.5) * self.fine
        cy = self.y0 + ((sy * SUB + ry) + 0.5) * self.fine
        owner_of_label = np.r_[_BORDER, self._owners(cx, cy)]
        dtype = np.int16 if len(self.geoms) < np.iinfo(np.int16).max else np.int32
        self.blocks = owner_of_label[labels].astype(dtype)

        # Whole tiles: border-free tiles connected to each other lie in one polygon or outside.
        is_split = np.zeros(self.ntx * self.nty, dtype=bool)
        is_split[split] = True
        tlabels, tn = ndimage.label(~is_split.reshape(self.nty, self.ntx))
        tl = tlabels.ravel()
        reps = _first_pixels(tl, tn)
        ty, tx = np.divmod(reps, self.ntx)
        owner_of_tlabel = np.r_[0, self._owners(self.x0 + (tx + 0.5) * SUB * self.fine,
                                                self.y0 + (ty + 0.5) * SUB * self.fine)]
        tiles = owner_of_tlabel[tl].astype(np.int32)
        tiles[split] = -(np.arange(len(split), dtype=np.int32) + 2)
        self.tiles = tiles

        # Per split tile, every polygon that meets it, ascending: a point in that tile lies in
        # one of these or in none, so testing them in order finds the same first polygon that
        # a query of the whole tree would, at one point-in-polygon test per candidate.
        tile = SUB * self.fine
        sy, sx = np.divmod(split, self.ntx)
        boxes = shapely.box(self.x0 + sx * tile, self.y0 + sy * tile,
                            self.x0 + (sx + 1) * tile, self.y0 + (sy + 1) * tile)
        blk, poly = self.tree.query(boxes, predicate="intersects")
        order = np.lexsort((poly, blk))
        self.cand = poly[order].astype(np.int32)
        self.cand_ptr = np.searchsorted(blk[order], np.arange(len(split) + 1)).astype(np.int64)
        shapely.prepare(self.geoms)
        self.border_fraction = float(np.count_nonzero(self.blocks == _BORDER)) / (self.nx * self.ny)

    def lookup(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            fx, fy = self._pixels(lon, lat)
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        fx = np.where(inside, fx, 0)
        fy = np.where(inside, fy, 0)
        v = self.tiles[(fy >> _SHIFT) * self.ntx + (fx >> _SHIFT)]
        v[~inside] = _OUTSIDE
        split = np.flatnonzero(v <= -2)
        if len(split):
            block = -v[split] - 2
            v[split] = self.blocks[block, fy[split] & (SUB - 1), fx[split] & (SUB - 1)]
            border = v[split] == _BORDER
            exact = split[border]
            if len(exact):
                v[exact] = self._exact(lon[exact], lat[exact], block[border])
        return v

    def _exact(self, lon: np.ndarray, lat: np.ndarray, block: np.ndarray) -> np.ndarray:
        """First candidate polygon of the point's tile that covers it (boundary included)."""
        out = np.full(len(lon), _OUTSIDE, dtype=np.int32)
        start = self.cand_ptr[block]
        count = self.cand_ptr[block + 1] - start
        todo = np.arange(len(lon))
        k = 0
        while len(todo):
            todo = todo[count[todo] > k]
            if not len(todo):
                break
            poly = self.cand[start[todo] + k]
            order = np.argsort(poly, kind="stable")
            todo, poly = todo[order], poly[order]
            cuts = np.flatnonzero(np.diff(poly)) + 1
            hit = np.empty(len(todo), dtype=bool)
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(todo)]):
                hit[a:b] = shapely.intersects_xy(self.geoms[poly[a]], lon[todo[a:b]], lat[todo[a:b]])
            out[todo[hit]] = poly[hit]
            todo = todo[~hit]
            k += 1
        return out

    @property
    def nbytes(self) -> int:
        return self.tiles.nbytes + self.blocks.nbytes

    # -- serialised form (GridIndex.to_bytes): the lookup arrays as built, polygons as WKB ------
    def to_arrays(self) -> tuple[dict, dict[str, np.ndarray]]:
        wkb = shapely.to_wkb(self.geoms)
        ends = np.cumsum([len(b) for b in wkb], dtype=np.int64)
        meta = {"tx0": self.tx0, "ty0": self.ty0, "ntx": self.ntx, "nty": self.nty, "fine": self.fine,
                "border_fraction": self.border_fraction}
        return meta, {"tiles": self.tiles, "blocks": self.blocks, "cand": self.cand, "cand_ptr": self.cand_ptr,
                      "wkb": np.frombuffer(b"".join(wkb), dtype=np.uint8), "wkb_ends": ends}

    @classmethod
    def from_arrays(cls, meta: dict, a: dict[str, np.ndarray]) -> "_Raster":
        self = cls.__new__(cls)
        raw, ends = a["wkb"].tobytes(), a["wkb_ends"]
        starts = np.r_[0, ends[:-1]].astype(np.int64)
        self.geoms = np.asarray(shapely.from_wkb([raw[i:j] for i, j in zip(starts, ends)]), dtype=object)
        self.tree = shapely.STRtree(self.geoms)
        self.fine = meta["fine"]
        self.inv = 1.0 / self.fine
        tile = self.fine * SUB  # the same float operations as __init__, so the same origin
        self.tx0, self.ty0, self.ntx, self.nty = meta["tx0"], meta["ty0"], meta["ntx"], meta["nty"]
        self.x0 = self.tx0 * tile
        self.y0 = self.ty0 * tile
        self.nx = self.ntx * SUB
        self.ny = self.nty * SUB
        self.tiles, self.blocks, self.cand, self.cand_ptr = a["tiles"], a["blocks"], a["cand"], a["cand_ptr"]
        self.border_fraction = meta["border_fraction"]
        shapely.prepare(self.geoms)
        return self


@dataclass
class GridIndex:
    """Point -> (level-1 id, level-2 id); level-2 adjacency; parent of a level-2 grid."""

    l1_ids: np.ndarray
    l2_ids: np.ndarray
    l2_parent: np.ndarray  # level-1 id of each level-2 grid, aligned with l2_ids
    l1_raster: _Raster
    l2_raster: _Raster
    _parent: dict[str, str] = field(repr=False, default_factory=dict)

    @classmethod
    def from_grids(cls, grids) -> "GridIndex":
        """From the dataset's grids (GeoDataFrame in EPSG:4326 with id, level, parent)."""
        l1 = grids[grids["level"] == 1].sort_values("id")
        l2 = grids[grids["level"] == 2].sort_values("id")
        l2_parent = np.array(l2["parent"].tolist(), dtype=object)
        return cls(
            l1_ids=np.array(l1["id"].tolist() + [None], dtype=object),
            l2_ids=np.array(l2["id"].tolist() + [None], dtype=object),
            l2_parent=np.append(l2_parent, None),
            l1_raster=_Raster(l1.geometry.values),
            l2_raster=_Raster(l2.geometry.values),
            _parent=dict(zip(l2["id"], l2["parent"])),
        )

    # Serialised form, stored by `gridwatch load` (geodata.store) so that a process that only
    # locates points (the ingest worker) loads arrays and WKB instead of importing geopandas and
    # scipy and building the index again. The first line names the format and its version.
    FORMAT = b"gridwatch-gridindex/1\n"

    def to_bytes(self) -> bytes:
        m1, a1 = self.l1_raster.to_arrays()
        m2, a2 = self.l2_raster.to_arrays()
        meta = {"l1_ids": self.l1_ids[:-1].tolist(), "l2_ids": self.l2_ids[:-1].tolist(),
                "l2_parent": self.l2_parent[:-1].tolist(), "l1": m1, "l2": m2}
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                            **{f"l1_{k}": v for k, v in a1.items()}, **{f"l2_{k}": v for k, v in a2.items()})
        return self.FORMAT + buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "GridIndex":
        """The index `to_bytes` wrote; ValueError for another format or version."""
        if not data.startswith(cls.FORMAT):
            raise ValueError(f"not a serialised GridIndex of format {cls.FORMAT.strip().decode()!r}")
        with np.load(io.BytesIO(data[len(cls.FORMAT):]), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        part = {lv: {k[3:]: v for k, v in arrays.items() if k.startswith(lv + "_")} for lv in ("l1", "l2")}
        return cls(
            l1_ids=np.array(meta["l1_ids"] + [None], dtype=object),
            l2_ids=np.array(meta["l2_ids"] + [None], dtype=object),
            l2_parent=np.array(meta["l2_parent"] + [None], dtype=object),
            l1_raster=_Raster.from_arrays(meta["l1"], part["l1"]),
            l2_raster=_Raster.from_arrays(meta["l2"], part["l2"]),
            _parent=dict(zip(meta["l2_ids"], meta["l2_parent"])),
        )

    def locate_indices(self, lats, lons) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers into the sorted level-1 and level-2 ids (-1 outside), for callers that
        join on arrays. A point in a level-2 grid takes that grid's parent as its level-1."""
        lats = np.asarray(lats, dtype=np.float64)
        lons = np.asarray(lons, dtype=np.float64)
        i2 = self.l2_raster.lookup(lons, lats)
        i1 = np.full(len(i2), -1, dtype=np.int32)
        hit = i2 >= 0
        if hit.any():
            i1[hit] = self._l1_row_of_l2[i2[hit]]
        miss = np.flatnonzero(~hit)
        if len(miss):
            # Outside every level-2 grid: outside the jurisdiction, or in a gap of the coverage.
            i1[miss] = self.l1_raster.lookup(lons[miss], lats[miss])
        return i1, i2

    def locate(self, lats, lons) -> tuple[np.ndarray, np.ndarray]:
        """(level-1 ids, level-2 ids) as object arrays, None outside."""
        i1, i2 = self.locate_indices(lats, lons)
        return self.l1_ids[i1], self.l2_ids[i2]  # index -1 is the trailing None

    def locate_one(self, lat: float, lon: float) -> tuple[str | None, str | None]:
        l1, l2 = self.locate(np.array([lat]), np.array([lon]))
        return l1[0], l2[0]

    def parent(self, l2_id: str) -> str | None:
        return self._parent.get(l2_id)

    def neighbours(self, l2_id: str) -> tuple[str, ...]:
        """Level-2 grids sharing a stretch of border with this one (a corner is not enough)."""
        return self._adjacency.get(l2_id, ())

    @cached_property
    def _l1_row_of_l2(self) -> np.ndarray:
        row = {gid: i for i, gid in enumerate(self.l1_ids[:-1])}
        return np.array([row.get(p, -1) for p in self.l2_parent[:-1]] + [-1], dtype=np.int32)

    @cached_property
    def _adjacency(self) -> dict[str, tuple[str, ...]]:
        geoms = self.l2_raster.geoms
        a, b = self.l2_raster.tree.query(geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        # ~1 m of shared border: polygons meeting at a point or a sliver do not count.
        shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[b])))
        keep = shared > 1e-5
        out: dict[str, list[str]] = {}
        for i, j in zip(a[keep], b[keep]):
            out.setdefault(self.l2_ids[i], []).append(self.l2_ids[j])
            out.setdefault(self.l2_ids[j], []).append(self.l2_ids[i])
        return {k: tuple(sorted(v)) for k, v in out.items()}
