import pandas as pd

from layers.entities import entities_geojson


def test_points_carry_the_tooltip_fields_and_truncation_is_said():
    df = pd.DataFrame({"uscc": ["A", "B"], "name": ["甲", "乙"], "kind": ["enterprise", "individual"],
                       "category": ["catering", "pharmacy"], "address": ["x", "y"], "lat": [28.2, 28.3],
                       "lon": [117.0, 117.1]})
    fc = entities_geojson(df)
    assert fc["features"][1]["geometry"]["coordinates"] == [117.1, 28.3]
    assert fc["features"][0]["properties"]["name"] == "甲" and not fc["truncated"]
    assert entities_geojson(df, limit=1)["truncated"]
