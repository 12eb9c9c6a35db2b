"""The dataset in Redis: round trip, idempotent reload, atomic replacement."""
import pandas.testing as pdt
import pytest

from geodata.dataset import load_dataset
from geodata.store import CURRENT, OLD_VERSION_TTL_S, fetch_dataset, save_dataset, version_key


def test_round_trip_gives_the_same_dataset(rdb, demo):
    assert save_dataset(rdb, demo) == demo.counts()
    got = fetch_dataset(rdb)
    pdt.assert_frame_equal(got.grids.drop(columns="geometry"), demo.grids.drop(columns="geometry"))
    assert (got.grids.geometry.values == demo.grids.geometry.values).all()
    pdt.assert_frame_equal(got.people, demo.people)
    pdt.assert_frame_equal(got.entities, demo.entities)


def test_reload_is_idempotent(rdb, demo):
    save_dataset(rdb, demo)
    keys, version = sorted(rdb.keys("gw:*")), rdb.get(CURRENT)
    save_dataset(rdb, demo)
    assert sorted(rdb.keys("gw:*")) == keys and rdb.get(CURRENT) == version
    assert all(rdb.ttl(k) == -1 for k in keys)


def test_a_new_dataset_replaces_the_old_one(rdb, small):
    from tests.geodata.conftest import PEOPLE, write_small

    first = load_dataset(small)
    save_dataset(rdb, first)
    old = rdb.get(CURRENT).decode()
    second = load_dataset(write_small(small.parent / "two", people=PEOPLE.replace("甲", "甲乙")))
    save_dataset(rdb, second)
    assert rdb.get(CURRENT).decode() != old
    assert fetch_dataset(rdb).people.set_index("id").loc["s1a", "name"] == "甲乙"
    assert 0 < rdb.ttl(version_key(old, "grids")) <= OLD_VERSION_TTL_S


def test_fetch_without_a_load_says_so(rdb):
    with pytest.raises(LookupError, match="gridwatch load"):
        fetch_dataset(rdb)
