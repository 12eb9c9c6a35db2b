"""Market entities as map points for one area (a level-2 grid): name, kind, category, credit
code and address for the tooltip. The 70k of the city are never sent at once."""
from __future__ import annotations

import pandas as pd

MAX_POINTS = 5000


def entities_geojson(entities: pd.DataFrame, limit: int = MAX_POINTS) -> dict:
    rows = entities.head(limit)
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
              "properties": {"uscc": u, "name": n, "kind": k, "category": c, "address": a}}
             for u, n, k, c, a, lat, lon in zip(rows["uscc"], rows["name"], rows["kind"], rows["category"],
                                                 rows["address"], rows["lat"], rows["lon"])]
    return {"type": "FeatureCollection", "features": feats, "truncated": len(entities) > limit}
