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


def test_locator_gives_the_index_and_devices_without_geopandas(rdb, redis_server, demo, demo_index):
    import subprocess
    import sys

    import numpy as np

    from geodata.registry import Registry
    from geodata.store import fetch_locator

    save_dataset(rdb, demo)
    loc = fetch_locator(rdb)
    reg = Registry(demo)
    assert loc.devices == {d: (reg.person_of_device(d).id, reg.person_of_device(d).role) for d in reg.devices()}
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = demo.grids.total_bounds
    lats, lons = rng.uniform(y0, y1, 20_000), rng.uniform(x0, x1, 20_000)
    for a, b in zip(loc.index.locate(lats, lons), demo_index.locate(lats, lons)):
        assert (a == b).all()
    # the point of it: a worker reading it never imports the heavy geodata stack
    code = ("import sys, redis; from geodata.store import fetch_locator; "
            f"fetch_locator(redis.Redis.from_url({redis_server.url!r})); "
            "print(sorted(m for m in ('geopandas', 'pandas', 'scipy', 'pyproj') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_dataset_stored_without_locator_gets_one_on_reload(rdb, small):
    from geodata.store import fetch_locator

    ds = load_dataset(small)
    save_dataset(rdb, ds)
    version = rdb.get(CURRENT).decode()
    rdb.delete(version_key(version, "locator"))  # as stored by a loader before the locator existed
    with pytest.raises(LookupError, match="gridwatch load"):
        fetch_locator(rdb)
    save_dataset(rdb, ds)
    assert fetch_locator(rdb).index.locate_one(28.21, 117.005) == ("A", "A1")
