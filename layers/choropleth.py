"""Choropleth measures per level-2 grid (supervisors live, open orders, open alerts, market
entities): pure counts the grid layer colours by through its hideout, without resending
geometry."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from layers.palette import ACCENT

MEASURES = ("none", "supervisors_live", "open_orders", "open_alerts", "entities")


def counts_by_grid(grid_ids: Iterable[str | None]) -> dict[str, int]:
    return dict(Counter(g for g in grid_ids if g))


def measure_hideout(values: Mapping[str, float], colour: str = ACCENT) -> dict:
    """The grid layer's hideout for a measure: grid id -> value, and the maximum for scaling."""
    return {"values": dict(values), "max": max(values.values(), default=0), "fillColor": colour}
