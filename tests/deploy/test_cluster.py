"""gridwatch on a real three-node Redis Cluster (tests/deploy/conftest.py starts it): the client
is chosen from the URL, and ingest, nearest, orders with their transactions, audit and
notices, the outbox, the dataset store and the accounts work through their public code; the
keys really are spread over the nodes."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid

import h3
import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry
from redis.cluster import RedisCluster

from alerts import audit, keys
from alerts.alerts import Alerts
from alerts.orders import Orders
from alerts.outbox import Sender, ensure_group
from alerts.world import StaticWorld
from dashboard.auth import Accounts, device_secret_ok, login_throttled, record_login_failure, set_device_secret
from geodata.index import GridIndex
from gridwatch import redisconn
from gridwatch.settings import Settings
from telemetry.ingest import Pipeline, metrics
from telemetry.mqtt import connect as mqtt_connect, subscribe
from telemetry.nearest import nearest
from telemetry.store import DELTAS, LiveStore, trail_key
from telemetry.worker import IngestWorker
from tests.alerts.conftest import POINT, _view, issue
from tests.telemetry.conftest import TinyRegistry, tiny_grids
from testkit.waiting import wait_for

N_DEVICES = 120


@pytest.fixture(scope="module")
def cluster_url(redis_cluster) -> str:
    return redis_cluster[0].url  # a plain redis:// URL of one node: the client finds the rest


@pytest.fixture
def rc(cluster_url) -> RedisCluster:
    client = redisconn.connect(cluster_url)
    client.flushall()  # every primary
    yield client
    client.close()


@pytest.fixture
def csettings(rc, cluster_url, mosquitto_server, tmp_path, demo_data) -> Settings:
    return Settings(redis_url=cluster_url, mqtt_url=mosquitto_server.url, var_dir=tmp_path / "var",
                    data=demo_data, ingest_group=f"g{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex.from_grids(tiny_grids())


def registry(n: int = N_DEVICES) -> TinyRegistry:
    roles = ("l2_supervisor", "assistant", "informant")
    return TinyRegistry([(f"p{i}", roles[i % 3], ("W-S",), f"dev{i}") for i in range(n)])


def position(i: int) -> tuple[float, float]:
    """Scattered over the tiny world (lon 117.00-117.10, lat 28.20-28.30), no two alike."""
    return round(28.201 + (i * 37 % 97) / 97 * 0.098, 6), round(117.001 + (i * 61 % 89) / 89 * 0.098, 6)


def loc(device: str, lat: float, lon: float, tst: float, **more) -> tuple[str, bytes]:
    return f"gw/{device}/loc", orjson.dumps({"_type": "location", "lat": lat, "lon": lon, "tst": tst, "acc": 5, **more})


def local_keys(server) -> set[str]:
    """The keys one node holds itself: SCAN on a cluster node sees only its own slots."""
    node = redis.Redis(port=server.port)
    try:
        return {k.decode() for k in node.scan_iter(count=1000)}
    finally:
        node.close()


def node_of_key(held: list[set[str]], key: str) -> int:
    holders = [i for i, keys_ in enumerate(held) if key in keys_]
    assert len(holders) == 1, (key, holders)
    return holders[0]


# ---- the URL ------------------------------------------------------------------------------------

def test_the_url_decides_the_client(cluster_url, redis_server):
    assert isinstance(redisconn.connect(cluster_url, socket_timeout=5, health_check_interval=30), RedisCluster)
    plain = redisconn.connect(redis_server.url, socket_timeout=5)
    assert type(plain) is redis.Redis and plain.ping()
    # the flag decides without asking; it never reaches redis-py
    assert type(redisconn.connect(cluster_url + "?cluster=0")) is redis.Redis
    assert isinstance(redisconn.connect(cluster_url + "?cluster=1"), RedisCluster)
    assert redisconn.split_url("rediss://u:p@h:7000/0?cluster=1&ssl_cert_reqs=none") == (
        "rediss://u:p@h:7000/0?ssl_cert_reqs=none", True)
    with pytest.raises(ValueError):
        redisconn.split_url("redis://h:1/0?cluster=maybe")

    async def both():
        a = await redisconn.aconnect(cluster_url)
        b = await redisconn.aconnect(redis_server.url)
        try:
            return type(a), type(b), await a.ping()
        finally:
            await a.aclose()
            await b.aclose()

    assert asyncio.run(both()) == (redis.asyncio.cluster.RedisCluster, redis.asyncio.Redis, True)


def test_the_dashboards_async_subscription_hears_every_node(csettings, rc, world):
    """dashboard/live.py's way: an asyncio cluster client, one pub/sub on the live deltas and
    the order and alert channels, while the publishers write to other nodes."""
    async def follow() -> set[str]:
        client = await redisconn.aconnect(csettings.redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(DELTAS, keys.CHANNEL_ALERTS, keys.CHANNEL_ORDERS)
        try:
            await asyncio.to_thread(LiveStore(rc, csettings).publish_deltas, [{"device": "d1"}])
            await asyncio.to_thread(issue, Orders(rc, csettings, world), POINT, now=T0)
            await asyncio.to_thread(Alerts(rc, csettings, world).raise_, "offline", "d4", "system:dispatcher",
                                    device="d4", title="gone")
            heard: set[str] = set()
            deadline = time.monotonic() + 10
            while len(heard) < 3 and time.monotonic() < deadline:
                m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if m is not None:
                    heard.add(m["channel"].decode())
            return heard
        finally:
            await pubsub.aclose()
            await client.aclose()

    assert asyncio.run(follow()) == {DELTAS, keys.CHANNEL_ALERTS, keys.CHANNEL_ORDERS}


# ---- telemetry ----------------------------------------------------------------------------------

def test_ingest_over_mqtt_stores_many_devices_presence_and_events(csettings, rc, index):
    s = csettings.model_copy(update={"ingest_batch": 50})
    worker = IngestWorker(s, f"w-{uuid.uuid4().hex[:6]}", pipeline_factory=lambda r: Pipeline(
        s, r, registry(), index, m=metrics(CollectorRegistry())))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    try:
        assert worker.ready.wait(10)  # the broker acknowledged the subscriptions
        now = float(int(time.time()))
        items = []
        for j in range(3):  # three fixes per device, a few metres apart
            for i in range(N_DEVICES):
                lat, lon = position(i)
                items.append(loc(f"dev{i}", round(lat + j * 1e-5, 6), lon, now - 20 + j))
        items.append(("gw/dev0/status", orjson.dumps({"st": "sos", "tst": now})))
        items.append(("gw/dev1/status", orjson.dumps({"st": "off_duty", "tst": now})))
        items.append(("gw/dev2/status", orjson.dumps({"st": "offline"})))  # the will
        pub = mqtt_connect(s, f"pub-{uuid.uuid4().hex[:8]}", clean_start=True, session_expiry_s=0)
        for info in [pub.publish(t, p, qos=1) for t, p in items]:
            info.wait_for_publish(30)
        pub.disconnect()
        pub.loop_stop()
        store = LiveStore(rc, s)
        assert wait_for(lambda: worker.stored >= len(items))
    finally:
        worker.stop.set()
        thread.join(10)

    states = {d.device: d for d in store.devices()}
    assert len(states) == N_DEVICES
    for i in range(N_DEVICES):
        d = states[f"dev{i}"]
        assert (d.lat, d.lon, d.tst) == (round(position(i)[0] + 2e-5, 6), position(i)[1], now - 18)
        assert d.person == f"p{i}" and d.l1 in ("W", "E")
        assert len(store.trail(f"dev{i}", now - 60, now)) == 3
    assert states["dev0"].status == "sos" and states["dev1"].status == "off_duty"
    assert states["dev2"].fresh == "offline" and states["dev3"].fresh == "live"
    assert store.presence_counts(now=now) == {"live": N_DEVICES - 1, "stale": 0, "offline": 1}
    events = [(e["device"], e["st"]) for _, e in store.events(1000) if e["kind"] == "status"]
    assert ("dev0", "sos") in events and ("dev1", "off_duty") in events and ("dev2", "offline") in events


def store_positions(s: Settings, rc, index, now: float, n: int = N_DEVICES) -> Pipeline:
    """n devices at their `position`, a few off duty, through the ingest pipeline."""
    pipe = Pipeline(s, rc, registry(n), index, m=metrics(CollectorRegistry()))
    items = [loc(f"dev{i}", *position(i), now - 5, **({"st": "off_duty"} if i % 7 == 0 else {}))
             for i in range(n)]
    outcomes = pipe.process(items, now=now)
    assert all(o.accepted == 1 for o in outcomes), [o for o in outcomes if not o.accepted][:3]
    return pipe


def test_nearest_equals_brute_force_over_the_stored_positions(csettings, rc, index):
    now = time.time()
    store_positions(csettings, rc, index, now)
    devices = LiveStore(rc, csettings).devices(now=now)
    assert len(devices) == N_DEVICES
    for q in [(28.25, 117.05), (28.201, 117.001), (28.29, 117.09), (28.35, 117.2)]:
        for statuses in (None, ("on_duty",)):
            got = nearest(rc, *q, k=5, statuses=statuses, now=now)
            eligible = [d for d in devices if statuses is None or d.status in statuses]
            brute = sorted(eligible, key=lambda d: (h3.great_circle_distance(q, (d.lat, d.lon), "m"), d.device))[:5]
            assert [c.device for c in got] == [d.device for d in brute], (q, statuses)
            assert got[0].distance_m == pytest.approx(h3.great_circle_distance(q, (brute[0].lat, brute[0].lon), "m"))


# ---- alerts -------------------------------------------------------------------------------------

T0 = 1_750_000_000.0


@pytest.fixture
def world() -> StaticWorld:
    views = {f"d{i}": _view(f"d{i}", f"p{i}", 0.001 * i) for i in range(1, 8)}
    views["l1d"] = _view("l1d", "l1p", 0.5, status="off_duty")
    return StaticWorld(views, responsible={"g2": "p1", "g1": "l1p"}, grids={POINT: ("g1", "g2")})


def test_orders_issue_ack_escalate_with_audit_notices_and_outbox(csettings, rc, world):
    s = csettings.model_copy(update={"ack_timeout_s": 1.0, "escalation_depth": 2})
    notices = rc.pubsub()  # a cluster pub/sub on one node hears every node's PUBLISH
    notices.subscribe(keys.CHANNEL_ORDERS, keys.CHANNEL_ALERTS)
    desk = Orders(rc, s, world)
    a = issue(desk, POINT, now=T0)
    assert {r["device"]: r["state"] for r in a["recipients"]} == {"d1": "sent", "d2": "sent", "d3": "sent"}
    desk.report(a["id"], "d3", "declined", "device:d3", now=T0 + 0.5)
    steps = desk.fire_due(now=T0 + 1.5)  # nobody acknowledged: the next nearest, an alert to level 1
    assert len(steps) == 1 and steps[0]["added"] == ["d4", "d5"]
    for state, t in (("acknowledged", 2), ("en_route", 3), ("on_scene", 4), ("completed", 5)):
        assert desk.report(a["id"], "d4", state, "device:d4", now=T0 + t)["changed"]
    assert desk.fire_due(now=T0 + 100) == []
    desk.close(a["id"], "user:coord", now=T0 + 6)
    b = issue(desk, POINT, now=T0)
    desk.cancel(b["id"], "user:coord", reason="false alarm", now=T0 + 7)
    # an SOS: its alert and its order to the nearest colleagues in one transaction
    alert_desk = Alerts(rc, s.model_copy(update={"sos_k": 2}), world, desk)
    v = world.views["d6"]
    sos = alert_desk.sos("d6", "device:d6", lat=v.lat, lon=v.lon, now=T0 + 8)
    assert sos["new"] and sos["alert"]["kind"] == "sos" and sos["order"]
    assert alert_desk.ack(sos["alert"]["id"], "user:duty", now=T0 + 9)["acked_by"] == "user:duty"
    assert not alert_desk.sos("d6", "device:d6", lat=v.lat, lon=v.lon, now=T0 + 10)["new"]

    # escalators racing on the same orders (WATCH/MULTI on the cluster): each step once
    races = [issue(desk, POINT, now=T0)["id"] for _ in range(3)]
    barrier = threading.Barrier(3)
    fired: list = []

    def escalator():
        d = Orders(redisconn.connect(s.redis_url), s, world)
        barrier.wait()
        fired.extend(d.fire_due(now=T0 + 1.5))

    threads = [threading.Thread(target=escalator) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(x["order"] for x in fired) == sorted(races)

    got = desk.get(a["id"])
    assert got["state"] == "closed"
    assert {r["device"]: r["state"] for r in got["recipients"]} == {
        "d1": "timed_out", "d2": "timed_out", "d3": "declined", "d4": "completed", "d5": "cancelled"}
    assert desk.get(b["id"])["state"] == "cancelled"
    for oid in races:
        assert [e.event for e in audit.read_order(rc, oid)].count("escalated") == 1

    # the audit log alone rebuilds every order, recipient and alert
    log = audit.read(rc)
    replayed = audit.replay(log)
    assert replayed.problems == []
    for oid in (a["id"], b["id"], sos["order"], *races):
        o = desk.get(oid)
        assert replayed.orders[oid] == o["state"]
        for r in o["recipients"]:
            assert replayed.recipients[(oid, r["device"])] == r["state"]
    assert replayed.alerts[steps[0]["alert"]] == "cleared"
    assert replayed.alerts[sos["alert"]["id"]] == "acknowledged"

    # every audit entry was announced, from inside its transaction
    heard = []
    deadline = time.monotonic() + 10
    while len(heard) < len(log) and time.monotonic() < deadline:
        # None also stands for a subscribe confirmation: read on until all came or time is up
        if (m := notices.get_message(ignore_subscribe_messages=True, timeout=0.5)) is not None:
            heard.append(orjson.loads(m["data"]))
    notices.close()
    assert len(heard) == len(log)
    assert [(n["kind"], n["event"]) for n in heard] == [(e.kind, e.event) for e in log]

    # the outbox reaches the devices over MQTT and is emptied (XACK + XDEL in one MULTI)
    received: list = []
    sub = mqtt_connect(s, f"sub-{uuid.uuid4().hex[:6]}", clean_start=True, session_expiry_s=0,
                       on_message=lambda c, u, m: received.append(m.topic))
    subscribe(sub, [(f"{s.topic_root}/#", 1)])  # orders to the recipients, alerts to level 1
    client = mqtt_connect(s, f"sender-{uuid.uuid4().hex[:6]}", clean_start=True, session_expiry_s=0)
    try:
        ensure_group(rc)
        queued = rc.xlen(keys.OUTBOX)
        topics = sorted(f[b"topic"].decode() for _, f in rc.xrange(keys.OUTBOX))
        sender = Sender(rc, client, "c1")
        while sender.step(block_ms=200):
            pass
        assert sender.sent == queued > 0 and rc.xlen(keys.OUTBOX) == 0
        assert wait_for(lambda: len(received) == queued, 10)
        assert sorted(received) == topics
    finally:
        client.disconnect()
        client.loop_stop()
        sub.disconnect()
        sub.loop_stop()


# ---- geodata ------------------------------------------------------------------------------------

def test_gridwatch_load_then_a_new_version_swaps_in(csettings, rc):
    from geodata.dataset import Dataset
    from geodata.store import CURRENT, fetch_dataset, fetch_locator, save_dataset, version_key

    if csettings.data is None:
        pytest.skip("demo dataset not built")
    env = dict(os.environ, GRIDWATCH_REDIS_URL=csettings.redis_url)  # a node's plain URL
    done = subprocess.run([sys.executable, "-m", "gridwatch.cli", "load", str(csettings.data)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    first = rc.get(CURRENT).decode()
    ds = fetch_dataset(rc)
    assert len(ds.grids) > 500 and len(ds.entities) > 1000
    assert fetch_locator(rc).version == first
    # loading it again changes nothing; a changed dataset is a new version, the old one expires
    assert save_dataset(rc, ds)["entities"] == len(ds.entities) and rc.get(CURRENT).decode() == first
    smaller = Dataset(grids=ds.grids, people=ds.people, entities=ds.entities.iloc[:100].copy(), source="trimmed")
    save_dataset(rc, smaller)
    second = rc.get(CURRENT).decode()
    assert second != first and rc.hget(version_key(second, "meta"), "entities") == b"100"
    assert fetch_locator(rc).version == second
    assert 0 < rc.ttl(version_key(first, "meta")) and rc.ttl(version_key(second, "meta")) == -1


# ---- dashboard accounts -------------------------------------------------------------------------

def test_accounts_tokens_and_login_throttle(rc):
    accounts = Accounts(rc)
    pw = accounts.add("coord", "coordinator")
    assert accounts.verify("coord", pw).role == "coordinator" and accounts.verify("coord", "wrong") is None
    token = accounts.new_token("coord")
    assert accounts.user_of_token(token).name == "coord"
    user = accounts.get("coord")
    assert accounts.user_of_session(accounts.session_cookie(user)) == user
    secret = set_device_secret(rc, "dev1")
    assert device_secret_ok(rc, "dev1", secret) and not device_secret_ok(rc, "dev1", "nope")
    for _ in range(10):
        assert not login_throttled(rc, "10.0.0.9", "coord")
        record_login_failure(rc, "10.0.0.9", "coord")
    assert login_throttled(rc, "10.0.0.9", "someone-else")  # the address is blocked
    assert login_throttled(rc, "10.0.0.10", "coord")  # and the account
    assert 0 < rc.ttl("gw:auth:fail:user:coord") <= 300


# ---- the spread ---------------------------------------------------------------------------------

def test_keys_of_different_tags_land_on_different_nodes(csettings, rc, index, redis_cluster, world):
    now = time.time()
    store_positions(csettings, rc, index, now, n=40)
    issue(Orders(rc, csettings, world), POINT, now=T0)
    Accounts(rc).add("admin", "admin")
    held = [local_keys(s) for s in redis_cluster]
    # each key on exactly one node, and together they are all the cluster's keys
    everything = rc.keys("*", target_nodes=RedisCluster.PRIMARIES)  # KEYS alone asks one node
    assert sum(len(h) for h in held) == len(set().union(*held)) == len(everything) > 40
    tags = {"live": "gw:{live}:dev:dev0", "orders": keys.AUDIT, "auth": "gw:auth:users"}
    nodes = {tag: node_of_key(held, key) for tag, key in tags.items()}
    assert len(set(nodes.values())) >= 2, nodes  # with three nodes, {live}/{orders} and auth differ
    bucket = int(now - 5) // 600 * 600
    trail_nodes = {node_of_key(held, trail_key(f"dev{i}", bucket)) for i in range(40)}
    assert trail_nodes == {0, 1, 2}  # forty devices' trails, spread by their own tags
    # every key of a tag sits on that tag's node, and nowhere else
    for tag, prefix in (("live", "gw:{live}:"), ("orders", "gw:{orders}:"), ("auth", "gw:auth:users")):
        on = [i for i, h in enumerate(held) if any(k.startswith(prefix) for k in h)]
        assert on == [nodes[tag]], (tag, on)
        assert {rc.keyslot(k) for k in set().union(*held) if k.startswith(prefix)} == {rc.keyslot(tags[tag])}
