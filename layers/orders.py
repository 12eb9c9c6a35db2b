"""Order layer and panel rows: each open order as a point, a line from each recipient's live
position to it coloured by the recipient's state, and the rows the wall and console list."""
from __future__ import annotations

import statistics
import time
from typing import Mapping

from alerts.states import ENGAGED


def orders_geojson(orders: list[Mapping], positions: Mapping[str, tuple[float, float]]) -> dict:
    feats = []
    for o in orders:
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [o["lon"], o["lat"]]},
                      "properties": {"order": o["id"], "kind": o["kind"], "title": o["title"], "state": o["state"]}})
        for r in o["recipients"]:
            pos = positions.get(r["device"])
            if pos is None or r["state"] in ("declined", "timed_out", "cancelled"):
                continue
            feats.append({"type": "Feature",
                          "geometry": {"type": "LineString", "coordinates": [[pos[1], pos[0]], [o["lon"], o["lat"]]]},
                          "properties": {"order": o["id"], "device": r["device"], "state": r["state"]}})
    return {"type": "FeatureCollection", "features": feats}


def escalates_in(order: Mapping, now: float) -> float | None:
    """Seconds to the next escalation step, or None when someone has taken the order."""
    if any(r["state"] in ENGAGED for r in order["recipients"]):
        return None
    ack_by = order.get("ack_by")
    return None if ack_by is None else max(0.0, float(ack_by) - now)


def order_row(order: Mapping, names: Mapping[str, str], grid_names: Mapping[str, str], now: float) -> dict:
    grid = grid_names.get(order.get("grid") or "", order.get("grid") or "")
    at = time.strftime("%H:%M:%S", time.localtime(float(order["issued_at"])))
    return {
        "id": order["id"], "kind": order["kind"], "title": f"[P{order['priority']}] {order['title']}",
        "subtitle": f"{order['id']} · {grid} · {at}",
        "escalates_in_s": escalates_in(order, now), "lat": order["lat"], "lon": order["lon"],
        "issued_at": float(order["issued_at"]), "grid_name": grid,
        "recipients": [{"device": r["device"], "state": r["state"], "engaged": r["state"] in ENGAGED,
                        "name": names.get(r.get("person") or "", r.get("person") or r["device"])}
                       for r in order["recipients"]],
    }


def median_time_to_ack(orders: list[Mapping]) -> float | None:
    took = [r["durations"]["to_acknowledge"] for o in orders for r in o["recipients"]
            if r.get("durations", {}).get("to_acknowledge") is not None]
    return statistics.median(took) if took else None
