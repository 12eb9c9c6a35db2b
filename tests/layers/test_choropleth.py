from layers.choropleth import counts_by_grid, measure_hideout


def test_counts_skip_points_outside_every_grid():
    assert counts_by_grid(["a", "b", None, "a", ""]) == {"a": 2, "b": 1}


def test_hideout_scales_by_the_maximum():
    h = measure_hideout({"a": 3, "b": 7})
    assert h["max"] == 7 and h["values"] == {"a": 3, "b": 7}
    assert measure_hideout({})["max"] == 0
