import math

import pytest

from layers.datum import bounds_from_map, bounds_to_map, from_map_point, to_map, to_map_point

YINGTAN = (28.2386, 117.0339)  # the city centre, WGS-84


def metres(a, b):
    dy = math.radians(b[0] - a[0]) * 6_371_000
    dx = math.radians(b[1] - a[1]) * 6_371_000 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


def test_gcj02_shifts_a_point_in_china_by_a_few_hundred_metres_and_wgs84_not_at_all():
    shifted = to_map_point(*YINGTAN, "gcj02")
    # In Yingtan GCJ-02 sits ~500 m east and ~360 m south of WGS-84: ~620 m in all.
    assert 550 < metres(YINGTAN, shifted) < 700
    assert 450 < metres(YINGTAN, (YINGTAN[0], shifted[1])) < 550 and shifted[1] > YINGTAN[1]
    assert 300 < metres(YINGTAN, (shifted[0], YINGTAN[1])) < 400 and shifted[0] < YINGTAN[0]
    assert to_map_point(*YINGTAN, "wgs84") == YINGTAN
    assert to_map_point(48.85, 2.35, "gcj02") == (48.85, 2.35)  # outside China GCJ-02 is WGS-84


@pytest.mark.parametrize("point", [YINGTAN, (27.85, 116.69), (28.63, 117.47), (39.9, 116.4)])
def test_a_click_round_trips_to_within_a_decimetre(point):
    on_map = to_map_point(*point, "gcj02")
    assert metres(point, from_map_point(*on_map, "gcj02")) < 0.1


def test_every_coordinate_of_a_feature_collection_is_shifted_and_properties_kept():
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "p"}, "geometry": {"type": "Point", "coordinates": [117.03, 28.23]}},
        {"type": "Feature", "properties": {"id": "l"},
         "geometry": {"type": "LineString", "coordinates": [[117.0, 28.2], [117.1, 28.3]]}},
        {"type": "Feature", "properties": {"id": "m"}, "geometry": {"type": "MultiPolygon", "coordinates": [
            [[[117.0, 28.2], [117.1, 28.2], [117.1, 28.3], [117.0, 28.2]]]]}},
        {"type": "Feature", "properties": {"id": "none"}, "geometry": None}]}
    out = to_map(fc, "gcj02")
    assert [f["properties"]["id"] for f in out["features"]] == ["p", "l", "m", "none"]
    assert fc["features"][0]["geometry"]["coordinates"] == [117.03, 28.23]  # the input is left alone
    lon, lat = out["features"][0]["geometry"]["coordinates"]
    assert 550 < metres((28.23, 117.03), (lat, lon)) < 700
    ring = out["features"][2]["geometry"]["coordinates"][0][0]
    assert len(ring) == 4 and all(550 < metres((y0, x0), (y1, x1)) < 700
                                  for (x0, y0), (x1, y1) in zip(fc["features"][2]["geometry"]["coordinates"][0][0], ring))
    assert to_map(fc, "wgs84") is fc


def test_bounds_round_trip():
    b = [[27.85, 116.68], [28.63, 117.47]]
    back = bounds_from_map(bounds_to_map(b, "gcj02"), "gcj02")
    assert all(abs(a - c) < 1e-6 for p, q in zip(b, back) for a, c in zip(p, q))
