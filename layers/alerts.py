"""Alert rows for the wall's ticker and the console: each alert's kind, who and where, and the
figures its text needs (battery, escalation step); the pages say them in their language
(dashboard/i18n.py)."""
from __future__ import annotations

import time
from typing import Mapping


def alert_row(a: Mapping, names: Mapping[str, str], grid_names: Mapping[str, str], now: float | None = None) -> dict:
    now = time.time() if now is None else now
    who = names.get(a.get("person") or "", a.get("person") or a.get("device") or "")
    grid = grid_names.get(a.get("grid") or "", a.get("grid") or "")
    at = time.strftime("%H:%M:%S", time.localtime(float(a.get("raised_at") or now)))
    data = a.get("data") or {}
    return {"id": a["id"], "kind": a.get("kind", ""), "state": a.get("state"), "who": who, "grid": grid, "at": at,
            "order": a.get("order") or "", "battery": data.get("battery"), "round": data.get("round"),
            "device": a.get("device") or "", "text": a.get("title", ""),
            "task": data.get("task"), "cause": data.get("cause"),
            "lat": a.get("lat"), "lon": a.get("lon")}
