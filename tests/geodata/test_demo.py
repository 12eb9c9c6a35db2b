"""The embedded Yingtan demo: the counts, the tiling and the people the issue asks for."""
import filecmp

import numpy as np
import pandas as pd
import pytest
import shapely

from geodata import uscc
from geodata.check import check_files
from geodata.demo import build_demo_dataset, district_outlines


def test_counts_match_the_real_divisions(demo):
    assert demo.counts()["level1"] == 59
    assert demo.counts()["level2"] == 528
    roles = demo.people["role"].value_counts()
    assert roles["l1_supervisor"] == 59 and roles["l2_supervisor"] == 116
    assert roles["assistant"] == 528 and roles["informant"] == 528
    assert roles["coordinator"] >= 1 and roles["duty_officer"] >= 1
    assert len(demo.entities) == 70_000
    assert demo.grids["synthetic"].all()


def test_check_reports_full_coverage_without_gaps_or_overlaps(demo_data):
    report = check_files([demo_data / "grids.geojson"])
    assert report.ok, report.text()
    assert report.counts == {1: 59, 2: 528}
    assert report.of_rule("gap") == [] and report.of_rule("overlap") == []
    assert f"{report.coverage_pct:.4f}" == "100.0000"


def test_level1_grids_lie_in_their_own_district(demo):
    outlines = district_outlines()
    for r in demo.grids[demo.grids["level"] == 1].itertuples():
        spill = shapely.difference(r.geometry, outlines[r.id[:6]])
        assert spill.area < 1e-10, r.id


def test_every_village_has_exactly_one_supervisor_holding_neighbouring_villages(demo, demo_index):
    sups = demo.people[demo.people["role"] == "l2_supervisor"]
    held = [g for grids in sups["grids"] for g in grids]
    villages = set(demo.grids.loc[demo.grids["level"] == 2, "id"])
    assert sorted(held) == sorted(villages)
    for grids in sups["grids"]:
        assert len({demo_index.parent(g) for g in grids}) == 1  # one township
        # The villages of one supervisor form one connected group of neighbours.
        seen, todo = {grids[0]}, [grids[0]]
        while todo:
            for n in demo_index.neighbours(todo.pop()):
                if n in grids and n not in seen:
                    seen.add(n)
                    todo.append(n)
        assert seen == set(grids), grids
    assert (sups["grids"].map(len) > 1).mean() > 0.8  # most hold several villages


def test_each_village_has_one_assistant_and_one_informant(demo):
    for role in ("assistant", "informant"):
        grids = demo.people.loc[demo.people["role"] == role, "grids"]
        assert sorted(g for (g,) in grids) == sorted(demo.grids.loc[demo.grids["level"] == 2, "id"])


def test_supervisors_carry_devices_and_everyone_has_a_phone(demo):
    sups = demo.people[demo.people["role"].isin(["l1_supervisor", "l2_supervisor"])]
    assert sups["device"].notna().all()
    assert demo.people["device"].dropna().is_unique
    assert demo.people["phone"].str.fullmatch(r"1[3-9]\d{9}").all()


def test_entities_are_valid_inside_and_dense_in_town(demo, demo_index):
    e = demo.entities
    assert all(uscc.is_valid(c) for c in e["uscc"]) and e["uscc"].is_unique
    _, l2 = demo_index.locate(e["lat"].to_numpy(), e["lon"].to_numpy())
    assert (l2 == e["grid"].to_numpy()).all() and e["grid"].notna().all()
    assert set(e["kind"]) == {"enterprise", "individual"}
    assert {"catering", "food_retail", "pharmacy", "special_equipment", "industrial_products"} <= set(e["category"])
    # Denser in the city centre (117.07 E, 28.26 N) than in the countryside.
    near = np.hypot(e["lat"] - 28.26, (e["lon"] - 117.07) * 0.88) < 0.03
    centre_km2 = np.pi * (0.03 * 111) ** 2
    assert near.sum() / centre_km2 > 10 * (len(e) - near.sum()) / 3550


def test_urban_communities_are_smaller_than_rural_villages(demo):
    g = demo.grids[demo.grids["level"] == 2]
    area = pd.Series(shapely.area(g.geometry.values), index=g.index)
    urban = g["name"].str.contains("社区居民委员会")
    assert area[urban].median() * 3 < area[~urban].median()


@pytest.mark.slow
def test_build_is_deterministic(demo_data, tmp_path):
    build_demo_dataset(tmp_path)
    for name in ("grids.geojson", "people.csv", "entities.csv"):
        assert filecmp.cmp(demo_data / name, tmp_path / name, shallow=False), name
