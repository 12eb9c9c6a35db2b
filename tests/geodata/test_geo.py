"""One Earth radius: the distances computed here are h3's, to the millimetre, so nearest's
bounds (h3 geometry), its script, the coverage layer and the tests' brute force agree."""
import h3
import numpy as np
import pytest

from geodata.geo import distance_m, haversine_m

PAIRS = [((28.2, 117.0), (28.3, 117.1)), ((28.25, 117.05), (28.25, 117.05)), ((0.0, 0.0), (0.0, 179.9)),
         ((-33.9, 18.4), (51.5, -0.1)), ((89.9, 10.0), (89.9, -170.0))]


@pytest.mark.parametrize("a, b", PAIRS)
def test_distance_is_h3s(a, b):
    want = h3.great_circle_distance(a, b, "m")
    assert distance_m(*a, *b) == pytest.approx(want, abs=1e-3)
    assert float(haversine_m(*a, np.radians([b[0]]), np.radians([b[1]]))[0]) == pytest.approx(want, abs=1e-3)
