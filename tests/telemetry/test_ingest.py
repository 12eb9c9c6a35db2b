"""Ingest workers on real Mosquitto and Redis: two workers on one shared subscription split
the messages and lose none; a worker killed mid-stream (kill -9 of `gridwatch ingest`) or
stopped with SIGTERM and started again loses no QoS 1 message; HTTP ingest uses the pipeline."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
import pytest
import redis

from gridwatch.settings import Settings
from telemetry.ingest import Pipeline, metrics
from telemetry.mqtt import connect, parse_url
from telemetry.store import LiveStore
from telemetry.worker import IngestWorker

from .conftest import TinyRegistry
from testkit.waiting import wait_for
from tests.conftest import loaded

NOW = float(int(time.time()))


def fixes(devices, n, base_lat=28.22, base_lon=117.02):
    """n distinct fixes, round-robin over devices, one second apart per device, walking."""
    out = []
    for i in range(n):
        d = devices[i % len(devices)]
        j = i // len(devices)
        out.append((f"gw/{d}/loc", orjson.dumps({"_type": "location", "lat": round(base_lat + j * 2e-5, 6),
                                                  "lon": base_lon, "tst": NOW - 3000 + j, "acc": 5})))
    return out


def publish_all(settings, items, client_id=None, per_s=None):
    """QoS 1, all of them; `per_s` paces the stream (a worker to be stopped mid-stream stores
    thousands of messages a second: unpaced, the stream may be over before the stop)."""
    pub = connect(settings, client_id or f"pub-{uuid.uuid4().hex[:8]}", clean_start=True, session_expiry_s=0)
    infos = []
    for i, (t, p) in enumerate(items):
        infos.append(pub.publish(t, p, qos=1))
        if per_s and i % 50 == 49:
            time.sleep(50 / per_s)
    for info in infos:
        info.wait_for_publish(30)
    pub.disconnect()
    pub.loop_stop()


def stored(r, settings, devices) -> int:
    store = LiveStore(r, settings)
    return sum(len(store.trail(d, NOW - 4000, NOW)) for d in devices)


def test_url_parsing():
    assert parse_url("mqtt://u%40x:p%3Aw@broker.example:1884") == ("broker.example", 1884, False, "u@x", "p:w")
    assert parse_url("mqtts://broker.example") == ("broker.example", 8883, True, None, None)
    with pytest.raises(ValueError):
        parse_url("http://x")


def test_connect_refused_is_an_error(settings):
    bad = settings.model_copy(update={"mqtt_url": "mqtt://127.0.0.1:1"})
    with pytest.raises((ConnectionError, OSError)):
        connect(bad, "nobody", timeout=2)


def test_two_workers_share_the_subscription_and_lose_nothing(settings, rdb, tiny_index):
    s = settings.model_copy(update={"ingest_group": f"g{uuid.uuid4().hex[:6]}", "ingest_batch": 50})
    workers = [IngestWorker(s, f"w{i}-{uuid.uuid4().hex[:6]}",
                            pipeline_factory=lambda r: Pipeline(s, r, TinyRegistry(), tiny_index,
                                                                m=metrics(__import__("prometheus_client").CollectorRegistry())))
               for i in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"install_signals": False}) for w in workers]
    for t in threads:
        t.start()
    for w in workers:
        assert w.ready.wait(10)  # the broker acknowledged the subscriptions
    devices = ["dev1", "dev2", "dev3", "dev4"]
    n = 2000
    publish_all(s, fixes(devices, n))
    assert wait_for(lambda: stored(rdb, s, devices) >= n)
    for w in workers:
        w.stop.set()
    for t in threads:
        t.join(10)
    assert stored(rdb, s, devices) == n
    assert all(w.stored > 0 for w in workers), [w.stored for w in workers]
    assert sum(w.stored for w in workers) == n


@pytest.fixture
def demo_in_redis(rdb, settings):
    from geodata.dataset import load_dataset
    from geodata.registry import Registry
    from geodata.store import save_dataset

    if settings.data is None:
        pytest.skip("demo dataset not built (make data)")
    ds = load_dataset(settings.data)
    save_dataset(rdb, ds)
    return Registry(ds)


def _worker(settings, client_id):
    env = dict(os.environ, GRIDWATCH_REDIS_URL=settings.redis_url, GRIDWATCH_MQTT_URL=settings.mqtt_url,
               GRIDWATCH_INGEST_GROUP=settings.ingest_group, GRIDWATCH_INGEST_BATCH="20")
    return subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "ingest", "--client-id", client_id],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_subscribed(proc):
    for line in proc.stdout:
        if "subscribed" in line:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return
    raise AssertionError("worker exited before subscribing")


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_worker_stopped_mid_stream_loses_no_qos1_message(settings, rdb, demo_in_redis, how):
    s = settings.model_copy(update={"ingest_group": f"g{uuid.uuid4().hex[:6]}"})
    devices = list(demo_in_redis.devices()[:5])
    client_id = f"ingest-{how}-{uuid.uuid4().hex[:6]}"
    proc = _worker(s, client_id)
    _wait_subscribed(proc)  # logged on the SUBACK
    n = 3000
    items = fixes(devices, n, 28.25, 117.03)
    publisher = threading.Thread(target=publish_all, args=(s, items), kwargs={"per_s": 1000})
    publisher.start()
    assert wait_for(lambda: stored(rdb, s, devices) >= 300, timeout=60, every=0.01)
    if how == "kill9":
        proc.kill()
    else:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) in (0, -signal.SIGKILL)
    at_stop = stored(rdb, s, devices)
    publisher.join(60)
    assert at_stop < n, "the worker was stopped too late to test anything"
    proc = _worker(s, client_id)  # the same session: the broker resends what was not acknowledged
    _wait_subscribed(proc)
    try:
        assert wait_for(lambda: stored(rdb, s, devices) >= n, timeout=90)
        assert stored(rdb, s, devices) == n
        latest = LiveStore(rdb, s).device(devices[0])
        assert latest.tst == NOW - 3000 + (n // len(devices)) - 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_http_owntracks_and_osmand_through_the_pipeline(pipeline):
    body = orjson.dumps({"_type": "location", "lat": 28.21, "lon": 117.01, "tst": NOW - 5, "topic": "owntracks/p1/dev1"})
    out = pipeline.handle_http_owntracks(body, "dev1", now=NOW)
    assert (out.accepted, out.http_status) == (1, 200)
    assert pipeline.handle_http_owntracks(body, "dev2", now=NOW).http_status == 403
    assert pipeline.handle_http_owntracks(b"{", "dev1", now=NOW).http_status == 400
    out = pipeline.handle_osmand({"id": "dev3", "lat": "28.21", "lon": "117.07", "timestamp": str(int(NOW - 2)),
                                  "speed": "2", "batt": "55"}, "dev3", now=NOW)
    assert out.accepted == 1
    st = pipeline.store.device("dev3", now=NOW)
    assert (st.l2, st.batt, round(st.vel, 3)) == ("E-S", 55, 3.704)
    assert pipeline.handle_osmand({"id": "ghost", "lat": 28.2, "lon": 117.0}, None, now=NOW).http_status == 403


def test_pipeline_from_redis_reads_the_stored_locator_or_falls_back(settings, rdb, demo_in_redis):
    from prometheus_client import CollectorRegistry

    from geodata.store import CURRENT, version_key

    device = demo_in_redis.devices()[0]
    person = demo_in_redis.person_of_device(device)
    fast = Pipeline.from_redis(rdb, settings, m=metrics(CollectorRegistry()))
    assert fast.identity(device) == (person.id, person.role)
    rdb.delete(version_key(rdb.get(CURRENT).decode(), "locator"))  # a dataset stored by an older loader
    slow = Pipeline.from_redis(rdb, settings, m=metrics(CollectorRegistry()))
    assert slow.identity(device) == (person.id, person.role)
    for lat, lon in ((28.25, 117.03), (28.0, 116.9), (40.0, 116.4)):
        assert fast.index.locate_one(lat, lon) == slow.index.locate_one(lat, lon)


def store_processes(pid: int) -> list:
    import psutil

    # multiprocessing's resource tracker is a child too
    return [c for c in psutil.Process(pid).children() if "resource_tracker" not in " ".join(c.cmdline())]


def test_store_process_killed_is_restarted_and_loses_nothing(settings, rdb, demo_in_redis):
    """`gridwatch ingest` stores in a child process: kill -9 that one mid-stream and the
    receiver starts another and sends it the batches that were never acknowledged."""
    s = settings.model_copy(update={"ingest_group": f"g{uuid.uuid4().hex[:6]}"})
    devices = list(demo_in_redis.devices()[:5])
    proc = _worker(s, f"ingest-child-{uuid.uuid4().hex[:6]}")
    _wait_subscribed(proc)
    try:
        (child,) = store_processes(proc.pid)
        n = 3000
        publisher = threading.Thread(target=publish_all, args=(s, fixes(devices, n, 28.25, 117.03)),
                                     kwargs={"per_s": 1000})
        publisher.start()
        assert wait_for(lambda: stored(rdb, s, devices) >= 300, timeout=60, every=0.01)
        child.kill()
        publisher.join(60)
        assert wait_for(lambda: stored(rdb, s, devices) >= n, timeout=90)
        assert stored(rdb, s, devices) == n
        assert proc.poll() is None, "the worker itself kept running"
        (second,) = store_processes(proc.pid)
        assert second.pid != child.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_counts_of_every_worker_are_shared_in_redis(settings, rdb, demo_in_redis):
    """What /metrics serves is the tally in Redis, written in the same pipeline as the data:
    a `gridwatch ingest` process counts received, stored and dropped messages by reason."""
    from prometheus_client import CollectorRegistry, generate_latest

    from telemetry.ingest import SharedMetrics

    s = settings.model_copy(update={"ingest_group": f"g{uuid.uuid4().hex[:6]}"})
    devices = list(demo_in_redis.devices()[:4])
    good = fixes(devices, 200, 28.25, 117.03)
    bad = [(f"gw/{devices[0]}/loc", b"{not json")] * 7 + [("gw/nobody-knows/loc", good[0][1])] * 5
    proc = _worker(s, f"ingest-tally-{uuid.uuid4().hex[:6]}")
    _wait_subscribed(proc)
    try:
        publish_all(s, good + bad)
        store = LiveStore(rdb, s)
        assert wait_for(lambda: store.stats()["messages"] >= len(good) + len(bad), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    st = store.stats()
    assert st["messages"] == len(good) + len(bad)
    assert st["accepted"] == {"fix": len(good)}
    assert st["dropped"] == {"not_json": 7, "unknown_device": 5}
    assert st["lag"]["count"] == len(good) and st["lag"]["buckets"][-1][1] == len(good)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SharedMetrics(store))
    text = generate_latest(registry).decode()
    assert "gridwatch_ingest_messages_total 212.0" in text
    assert 'gridwatch_ingest_dropped_total{reason="not_json"} 7.0' in text
    assert 'gridwatch_ingest_dropped_total{reason="jump"} 0.0' in text
    assert 'gridwatch_ingest_lag_seconds_count 200.0' in text


def test_a_newly_loaded_dataset_is_followed_without_restarting_the_worker(settings, rdb, demo_in_redis):
    """`gridwatch load` of a dataset giving a person a new terminal: a running `gridwatch
    ingest` drops that terminal's fixes as unknown until then, and stores them within seconds
    after, without a restart (the store process follows the current dataset version)."""
    import dataclasses

    from geodata.dataset import load_dataset
    from geodata.store import save_dataset

    s = settings.model_copy(update={"ingest_group": f"g{uuid.uuid4().hex[:6]}"})
    new = "dev-new-0001"
    store = LiveStore(rdb, s)

    def fix(j):
        return (f"gw/{new}/loc", orjson.dumps({"_type": "location", "lat": 28.25 + j * 1e-5, "lon": 117.03,
                                               "tst": int(time.time()) - 1, "acc": 5}))

    proc = _worker(s, f"ingest-follow-{uuid.uuid4().hex[:6]}")
    _wait_subscribed(proc)
    try:
        publish_all(s, [fix(0)])
        assert wait_for(lambda: store.stats()["dropped"].get("unknown_device", 0) == 1, timeout=30)
        assert store.device(new) is None
        ds = load_dataset(settings.data)
        people = ds.people.copy()
        who = people.index[people["device"].isna() & (people["role"] == "assistant")][0]
        people.loc[who, "device"] = new
        save_dataset(rdb, dataclasses.replace(ds, people=people))
        j = 0
        while store.device(new) is None and j < 60:  # the worker looks every few seconds
            j += 1
            publish_all(s, [fix(j)])
            time.sleep(0.5)
        got = store.device(new)
        assert got is not None and got.person == people.loc[who, "id"] and got.role == "assistant"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_an_idle_store_process_waits_out_a_redis_outage(settings, own_redis, demo_data):
    """Redis goes away while no messages come: the idle store process's housekeeping (deltas,
    counts, the dataset check) waits for it instead of dying, and the worker stores again
    once Redis is back, with the same store process."""
    from geodata.registry import Registry
    from geodata.store import save_dataset

    r = redis.Redis.from_url(own_redis.url)
    ds = loaded(demo_data)
    save_dataset(r, ds)
    devices = list(Registry(ds).devices()[:4])
    s = settings.model_copy(update={"redis_url": own_redis.url, "ingest_group": f"g{uuid.uuid4().hex[:6]}"})
    proc = _worker(s, f"ingest-outage-{uuid.uuid4().hex[:6]}")
    _wait_subscribed(proc)
    try:
        (child,) = store_processes(proc.pid)
        items = fixes(devices, 40, 28.25, 117.03)
        publish_all(s, items[:20])
        assert wait_for(lambda: stored(r, s, devices) == 20, timeout=30)
        own_redis.stop()
        time.sleep(7)  # longer than the dataset check (5 s) and the counts' flush (1 s)
        own_redis.start()
        publish_all(s, items[20:])
        assert wait_for(lambda: stored(r, s, devices) == 40, timeout=60)
        assert proc.poll() is None and store_processes(proc.pid) == [child]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        r.close()


def test_scaling_down_3_to_2_under_load_with_retire_stores_every_message(settings, rdb, demo_in_redis):
    """`--scale ingest=3` then `=2`: Mosquitto keeps handing the retired worker's persistent
    session a third of the group's messages. `gridwatch ingest --retire ID` stores that
    backlog and ends the session, so every message published is stored, and later ones all go
    to the two workers left."""
    s = settings.model_copy(update={"ingest_group": f"g{uuid.uuid4().hex[:6]}"})
    devices = list(demo_in_redis.devices()[:6])
    ids = [f"ingest-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    procs = [_worker(s, cid) for cid in ids]
    for p in procs:
        _wait_subscribed(p)
    time.sleep(0.3)
    n = 6000
    items = fixes(devices, n, 28.25, 117.03)
    publisher = threading.Thread(target=publish_all, args=(s, items[:n]), kwargs={"per_s": 1000})
    publisher.start()
    try:
        assert wait_for(lambda: stored(rdb, s, devices) >= 600, timeout=60, every=0.01)
        procs[2].send_signal(signal.SIGTERM)  # scaled down: the third worker is gone
        assert procs[2].wait(20) == 0
        publisher.join(90)
        assert wait_for(lambda: stored(rdb, s, devices) >= n * 0.55, timeout=60)
        time.sleep(3)  # the two left store what reaches them; the rest waits in the retired session
        assert stored(rdb, s, devices) < n - 500, "nothing was held for the retired worker: nothing to test"
        env = dict(os.environ, GRIDWATCH_REDIS_URL=s.redis_url, GRIDWATCH_MQTT_URL=s.mqtt_url,
                   GRIDWATCH_INGEST_GROUP=s.ingest_group, GRIDWATCH_INGEST_BATCH="20")
        res = subprocess.run([sys.executable, "-m", "gridwatch.cli", "ingest", "--retire", ids[2]], env=env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "retired" in res.stdout + res.stderr
        assert wait_for(lambda: stored(rdb, s, devices) >= n, timeout=30)
        assert stored(rdb, s, devices) == n
        # the session is gone: the next messages all reach the two workers left
        more = fixes(devices, n + 600, 28.25, 117.03)[n:]
        publish_all(s, more)
        assert wait_for(lambda: stored(rdb, s, devices) >= n + 600, timeout=30)
        assert stored(rdb, s, devices) == n + 600
    finally:
        for p in procs[:2]:
            p.send_signal(signal.SIGTERM)
        for p in procs[:2]:
            assert p.wait(20) == 0
