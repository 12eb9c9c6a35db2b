"""Alert rows for the wall's ticker and the console, and alert points for the map."""
from __future__ import annotations

import time
from typing import Mapping

KIND_ZH = {"sos": "紧急求助", "offline": "离线", "outside_grid": "离开网格", "left_grid": "离开网格",
           "low_battery": "电量低", "escalation": "指令升级"}


def alert_row(a: Mapping, names: Mapping[str, str], grid_names: Mapping[str, str], now: float | None = None) -> dict:
    now = time.time() if now is None else now
    who = names.get(a.get("person") or "", a.get("person") or a.get("device") or "")
    grid = grid_names.get(a.get("grid") or "", a.get("grid") or "")
    at = time.strftime("%H:%M:%S", time.localtime(float(a.get("raised_at") or now)))
    kind = a.get("kind", "")
    return {"id": a["id"], "kind": kind, "state": a.get("state"),
            "title": f"{KIND_ZH.get(kind, kind)} · {who}".strip(" ·"),
            "subtitle": " · ".join(x for x in (a.get("title", ""), grid, at) if x),
            "lat": a.get("lat"), "lon": a.get("lon")}
