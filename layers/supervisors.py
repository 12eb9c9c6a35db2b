"""Supervisor layer: live devices as GeoJSON points coloured by presence (live/stale/offline)
and duty status (on duty, busy, SOS), with heading and battery for the tooltip."""
from __future__ import annotations

from typing import Iterable, Mapping


def supervisor_feature(state: Mapping, name: str | None = None, order: str | None = None) -> dict | None:
    """One device's feature, or None when it has never sent a position."""
    lat, lon = state.get("lat"), state.get("lon")
    if lat is None or lon is None:
        return None
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": {
            "device": state["device"], "person": state.get("person"), "name": name or state.get("person") or state["device"],
            "role": state.get("role"), "status": state.get("status") or "on_duty", "fresh": state.get("fresh") or "live",
            "batt": state.get("batt"), "cog": state.get("cog"), "tst": state.get("tst"), "grid": state.get("l2"),
            "order": order,
        },
    }


def supervisors_geojson(states: Iterable[Mapping], names: Mapping[str, str] | None = None) -> dict:
    names = names or {}
    feats = [f for s in states if (f := supervisor_feature(s, names.get(s.get("person") or ""))) is not None]
    return {"type": "FeatureCollection", "features": feats}


def presence_counts(states: Iterable[Mapping]) -> dict[str, int]:
    """KPI counts: devices by presence, and those live and on duty."""
    out = {"live": 0, "stale": 0, "offline": 0, "on_duty": 0}
    for s in states:
        fresh = s.get("fresh") or "offline"
        out[fresh] = out.get(fresh, 0) + 1
        if fresh == "live" and (s.get("status") or "on_duty") == "on_duty":
            out["on_duty"] += 1
    return out
