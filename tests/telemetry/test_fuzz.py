"""Malformed and hostile MQTT payloads mixed into a stream of good fixes, through a real
Mosquitto and a real ingest worker: the worker never stops, every drop is counted by a
known reason, and every good fix is stored."""
from __future__ import annotations

import random
import threading
import time
import uuid

import orjson
import pytest
from prometheus_client import CollectorRegistry

from telemetry.filters import ALL_REASONS
from telemetry.ingest import Pipeline, metrics
from telemetry.store import LiveStore
from telemetry.worker import IngestWorker

from .conftest import TinyRegistry, counter

from .test_ingest import publish_all, wait_for

DEVICES = ["dev1", "dev2", "dev3", "dev4"]
NOW = float(int(time.time()))


def _garbage_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.randint(-2**63, 2**63)
    if kind == 1:
        return rng.random() * 10 ** rng.randint(-5, 30)
    if kind == 2:
        return "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 20)))
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return [_garbage_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    keys = ["_type", "lat", "lon", "tst", "acc", "st", "batt", "x", "order", "state", "tid"]
    return {rng.choice(keys): _garbage_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def bad_message(rng: random.Random, max_bytes: int) -> tuple[str, bytes]:
    """One message that must be dropped, whatever the drop reason."""
    dev = rng.choice(DEVICES)
    good = {"_type": "location", "lat": 28.22, "lon": 117.02, "tst": NOW - 100, "acc": 5}
    pick = rng.randrange(14)
    if pick == 0:
        return f"gw/{dev}/loc", rng.randbytes(rng.randint(0, 200))
    if pick == 1:
        g = _garbage_json(rng)
        if isinstance(g, dict):
            g.pop("lat", None)  # never a complete location by accident
        return f"gw/{dev}/{rng.choice(['loc', 'status', 'ack'])}", orjson.dumps(g)
    if pick == 2:
        return f"gw/{dev}/loc", orjson.dumps({**good, "lat": rng.choice([91, -91, 1e9, "north"])})
    if pick == 3:
        return f"gw/{dev}/loc", orjson.dumps({**good, "lon": rng.choice([181, -999, "east", None])})
    if pick == 4:
        return f"gw/{dev}/loc", orjson.dumps({**good, "lat": 0, "lon": 0})
    if pick == 5:
        return f"gw/{dev}/loc", orjson.dumps({**good, "tst": NOW + rng.randint(3600, 10**7)})
    if pick == 6:
        return f"gw/{dev}/loc", orjson.dumps({**good, "tst": NOW - rng.randint(30, 3000) * 86400})
    if pick == 7:
        return f"gw/{dev}/loc", orjson.dumps({**good, "acc": rng.randint(10_000, 10**6)})
    if pick == 8:
        return f"gw/ghost-{rng.randint(0, 999)}/loc", orjson.dumps(good)
    if pick == 9:
        return "owntracks/p2/dev1", orjson.dumps(good)  # dev1 belongs to p1
    if pick == 10:
        return f"gw/{dev}/loc", b'{"_type":"location","pad":"' + b"x" * (max_bytes + 10) + b'"}'
    if pick == 11:
        return "owntracks/p1/dev1", orjson.dumps({"_type": rng.choice(["waypoint", "card", "steps", "cmd"])})
    if pick == 12:
        return f"gw/{dev}/status", orjson.dumps({"st": rng.choice(["dancing", 7, None, ""]), "tst": NOW})
    return f"gw/{dev}/loc", orjson.dumps([{**good, "lat": "x"}, 5, "y"])


def good_fixes(n: int) -> list[tuple[str, bytes]]:
    """n walking fixes, one second apart per device, the last one now (none in the future)."""
    start = NOW - n // len(DEVICES) - 10
    out = []
    for i in range(n):
        d, j = DEVICES[i % len(DEVICES)], i // len(DEVICES)
        out.append((f"gw/{d}/loc", orjson.dumps({"_type": "location", "lat": round(28.21 + j * 2e-5, 6),
                                                  "lon": 117.01 + DEVICES.index(d) * 0.02,
                                                  "tst": start + j, "acc": 5})))
    return out


def stored(r, settings) -> int:
    store = LiveStore(r, settings)
    return sum(len(store.trail(d, NOW - 10**6, NOW + 60)) for d in DEVICES)


@pytest.mark.parametrize("total", [10_000, pytest.param(100_000, marks=pytest.mark.slow)])
def test_fuzzed_stream_loses_no_good_fix_and_counts_every_drop(settings, rdb, tiny_index, total):
    s = settings.model_copy(update={"ingest_group": f"f{uuid.uuid4().hex[:6]}", "max_payload_bytes": 4096})
    prom = CollectorRegistry()
    worker = IngestWorker(s, f"fuzz-{uuid.uuid4().hex[:6]}",
                          pipeline_factory=lambda r: Pipeline(s, r, TinyRegistry(), tiny_index, m=metrics(prom)))
    t = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    t.start()
    try:
        assert worker.ready.wait(10)  # the broker acknowledged the subscriptions
        rng = random.Random(total)
        n_good = total // 5
        good = good_fixes(n_good)
        bad = [bad_message(rng, s.max_payload_bytes) for _ in range(total - n_good)]
        # Good fixes keep their order per device; the bad ones are scattered between them.
        stream, gi = [], iter(good)
        for b in bad:
            stream.append(b)
            if rng.random() < n_good / len(bad):
                stream.append(next(gi, None) or b)
        stream += list(gi)
        stream = [m for m in stream if m is not None]
        for i in range(0, len(stream), 5000):  # the publisher's outgoing queue is bounded
            publish_all(s, stream[i:i + 5000])
        assert wait_for(lambda: counter(prom, "gridwatch_ingest_messages_total") >= len(stream), timeout=300)
        assert t.is_alive(), "the worker stopped"
        assert wait_for(lambda: stored(rdb, s) >= n_good, timeout=60)
        assert stored(rdb, s) == n_good
        drops = {r: counter(prom, "gridwatch_ingest_dropped_total", reason=r) for r in ALL_REASONS}
        unknown = {x.name for x in prom.collect() for smp in x.samples
                   if smp.name == "gridwatch_ingest_dropped_total" and smp.labels.get("reason") not in ALL_REASONS}
        assert not unknown
        assert sum(drops.values()) >= len(stream) - n_good  # a batch array may drop more than one item
        for reason in ("not_json", "schema", "bad_coordinates", "future", "too_old", "poor_accuracy",
                       "unknown_device", "person_mismatch", "oversize", "ignored_type"):
            assert drops[reason] > 0, reason
    finally:
        worker.stop.set()
        t.join(15)
