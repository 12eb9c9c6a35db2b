"""Map tiles without the internet: `/tiles/{z}/{x}/{y}` serves a local `{z}/{x}/{y}.png` tree
or an MBTiles file (GRIDWATCH_TILE_DIR), behind the same login as the pages. MBTiles stores
rows in TMS order (y counted from the south), so y is flipped on the way in."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

ROUTE = "/tiles/{z}/{x}/{y}"
CACHE_CONTROL = "private, max-age=86400"  # behind login: browsers may keep them, shared caches not
EXTENSIONS = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
              ".pbf": "application/x-protobuf"}
MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"RIFF", "image/webp"))


def media_type(data: bytes, default: str = "application/octet-stream") -> str:
    return next((m for magic, m in MAGIC if data.startswith(magic)), default)


class DirectoryTiles:
    """A `{z}/{x}/{y}.<ext>` tree (what most tile downloaders write)."""

    def __init__(self, root: Path):
        self.root = root

    def get(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        for ext, mt in EXTENSIONS.items():
            p = self.root / str(z) / str(x) / f"{y}{ext}"
            if p.is_file():
                return p.read_bytes(), mt
        return None


class MBTiles:
    """An MBTiles file, read-only; one sqlite connection per serving thread."""

    def __init__(self, path: Path):
        self.path = path
        self.local = threading.local()
        fmt = self._query("SELECT value FROM metadata WHERE name = 'format'", ())
        self.default_type = EXTENSIONS.get(f".{fmt[0]}" if fmt else "", "application/octet-stream")

    def _query(self, sql: str, args: tuple):
        con = getattr(self.local, "con", None)
        if con is None:
            con = self.local.con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            return con.execute(sql, args).fetchone()
        except sqlite3.OperationalError:  # no metadata table in a bare file
            return None

    def get(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        row = self._query("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                          (z, x, (1 << z) - 1 - y))
        if row is None or row[0] is None:
            return None
        data = bytes(row[0])
        return data, media_type(data, self.default_type)


def open_tiles(path: str | Path):
    """The tile source at a path: an `.mbtiles` file or a directory tree; ValueError otherwise."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".mbtiles":
        return MBTiles(p)
    if p.is_dir():
        return DirectoryTiles(p)
    raise ValueError(f"GRIDWATCH_TILE_DIR={path}: neither a directory nor an .mbtiles file")


def install_tile_route(server: FastAPI, tile_dir: str) -> None:
    """The route, when tiles are configured (the page's TileLayer then points at it)."""
    if not tile_dir:
        return
    source = open_tiles(tile_dir)

    @server.get(ROUTE, include_in_schema=False)
    def tile(z: int, x: int, y: str) -> Response:
        # `y` may carry an extension (`.png`), as tile URL templates often do.
        stem = y.split(".", 1)[0]
        if not stem.isdigit() or not (0 <= z <= 24 and 0 <= x < (1 << z) and int(stem) < (1 << z)):
            return JSONResponse({"error": f"no tile {z}/{x}/{y}"}, status_code=404)
        hit = source.get(z, x, int(stem))
        if hit is None:
            return JSONResponse({"error": f"no tile {z}/{x}/{y}"}, status_code=404,
                                headers={"Cache-Control": "private, max-age=300"})
        data, mt = hit
        return Response(data, media_type=mt, headers={"Cache-Control": CACHE_CONTROL})
