"""The datum of the map's tiles. Everything gridwatch stores and computes is WGS-84; tiles from
Amap, Tencent (and Tianditu served in GCJ-02) are drawn in GCJ-02, so with such tiles every
coordinate sent to the map is shifted WGS-84 -> GCJ-02 and every point read from it (a click,
the visible bounds) is shifted back. prcoords does the transform; outside China it is the
identity, as GCJ-02 itself is."""
from __future__ import annotations

import prcoords

DATUMS = ("wgs84", "gcj02")


def to_map_point(lat: float, lon: float, datum: str) -> tuple[float, float]:
    if datum != "gcj02" or not prcoords.sanity_in_china_p(prcoords.Coords(lat, lon)):
        return lat, lon
    c = prcoords.wgs_gcj((lat, lon), check_china=False)
    return c.lat, c.lon


def from_map_point(lat: float, lon: float, datum: str) -> tuple[float, float]:
    """The exact inverse (iterated to a fixed point), not the one-step approximation."""
    if datum != "gcj02" or not prcoords.sanity_in_china_p(prcoords.Coords(lat, lon)):
        return lat, lon
    c = prcoords.gcj_wgs_bored((lat, lon), check_china=False)
    return c.lat, c.lon


def _positions(coords, datum: str):
    if coords and isinstance(coords[0], (int, float)):
        lat, lon = to_map_point(coords[1], coords[0], datum)
        return [round(lon, 7), round(lat, 7), *coords[2:]]
    return [_positions(c, datum) for c in coords]


def _geometry(geom: dict | None, datum: str) -> dict | None:
    if geom is None:
        return None
    if geom.get("type") == "GeometryCollection":
        return {**geom, "geometries": [_geometry(g, datum) for g in geom["geometries"]]}
    return {**geom, "coordinates": _positions(geom["coordinates"], datum)}


def to_map(obj: dict, datum: str) -> dict:
    """A GeoJSON FeatureCollection, Feature or geometry as the map draws it (a new object;
    properties are shared, not copied). The identity for WGS-84 tiles."""
    if datum != "gcj02" or obj is None:
        return obj
    kind = obj.get("type")
    if kind == "FeatureCollection":
        return {**obj, "features": [to_map(f, datum) for f in obj["features"]]}
    if kind == "Feature":
        return {**obj, "geometry": _geometry(obj.get("geometry"), datum)}
    return _geometry(obj, datum)


def bounds_to_map(b: list[list[float]], datum: str) -> list[list[float]]:
    """[[south, west], [north, east]] of the map."""
    (s, w), (n, e) = to_map_point(b[0][0], b[0][1], datum), to_map_point(b[1][0], b[1][1], datum)
    return [[s, w], [n, e]]


def bounds_from_map(b: list[list[float]], datum: str) -> list[list[float]]:
    (s, w), (n, e) = from_map_point(b[0][0], b[0][1], datum), from_map_point(b[1][0], b[1][1], datum)
    return [[s, w], [n, e]]
