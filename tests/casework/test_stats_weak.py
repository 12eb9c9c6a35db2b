"""The weak spots the demo's generator plants (casework/history.py) are the top results of
`weak`: the township with the most food retailers (they fail twice as often) by level-1 grid,
its level-2 grids by grid, and complaints about prepaid cards (rising ~40 % a year) by
category. On five years of the generator's history, loaded by its own bulk path (which fills
the rollups with one rebuild)."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from casework import history, stats
from gridwatch.db import connect
from tests.conftest import fresh_database

UNTIL = date(2022, 12, 31)


@pytest.fixture(scope="module")
def long_history(pg_server, demo_data, tmp_path_factory):
    from casework.records import load_dataset_records
    from geodata.dataset import load_dataset

    d = tmp_path_factory.mktemp("five-years") / "yingtan-5y"
    d.mkdir()
    for name in ("grids.geojson", "people.csv", "entities.csv"):
        (d / name).symlink_to(demo_data / name)
    ds = load_dataset(d)
    history.write(d, ds, until=UNTIL)
    url = fresh_database(pg_server)
    with connect(url) as conn:
        load_dataset_records(conn, ds, d)
    return url, ds


def test_the_bulk_load_filled_the_rollups(long_history):
    url, _ = long_history
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM inspections WHERE sealed_at IS NOT NULL")
        n = cur.fetchone()["n"]
        assert n > 80_000
        assert stats.summary(cur, stats.period(None, None))["inspections"] == n
        cur.execute("SELECT count(*) AS n FROM entities WHERE active")
        active = cur.fetchone()["n"]
        assert sum(stats.entity_counts(cur, "grid").values()) == active


@pytest.mark.parametrize("start,end", [(None, None), ("2022-01-01", "2022-12-31"), ("2020-01-02", "2022-12-31")])
def test_the_weak_township_tops_the_level1_grids(long_history, start, end):
    url, ds = long_history
    with connect(url) as conn, conn.cursor() as cur:
        rows = stats.weak(cur, "level1", stats.period(start, end), top=5)
    assert rows[0]["key"] == history.weak_township(ds)
    assert rows[0]["reasons"][0]["code"] == "failure_rate"
    assert rows[0]["score"] > rows[1]["score"]


def test_the_weak_townships_grids_top_the_level2_grids(long_history):
    url, ds = long_history
    parent = dict(zip(ds.grids["id"], ds.grids["parent"]))
    weak = history.weak_township(ds)
    with connect(url) as conn, conn.cursor() as cur:
        rows = stats.weak(cur, "grid", stats.period(None, None), top=10)
    assert parent[rows[0]["key"]] == weak
    # its ~9 of 528 grids would hold one of ten places by chance
    share = Counter(parent[r["key"]] == weak for r in rows)[True]
    assert share >= 2, [r["key"] for r in rows]


def test_prepaid_complaints_top_the_categories_and_food_retail_the_entity_categories(long_history):
    url, _ = long_history
    with connect(url) as conn, conn.cursor() as cur:
        rows = stats.weak(cur, "category", stats.period("2021-01-01", "2022-12-31"), top=20)
    assert rows[0]["key"] == history.RISING_CATEGORY
    assert rows[0]["reasons"][0]["code"] == "founded_rising" and rows[0]["founded_change"] > 0.25
    entity_rows = [r for r in rows if r["entities"]]
    assert entity_rows[0]["key"] == "food_retail"
