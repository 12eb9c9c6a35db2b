"""Simulated terminals: every registered device plus N synthetic ones walk or ride inside their
own grids, report over MQTT with jitter and GPS noise, drop out, raise SOS, send a bad fix now
and then, and answer orders with human delays. The demo's life and the benchmarks' load.

Use it as a library: `Simulator(...).start()` runs it in a thread (seeded, `fast_orders` for
tests), `.stop()` ends it; `gridwatch simulate` calls `.run()` until SIGTERM/SIGINT.
"""
from __future__ import annotations

import heapq
import logging
import math
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import shapely
from shapely.geometry import Point

from gridwatch.settings import Settings

log = logging.getLogger("gridwatch.simulate")

WALK_MPS = (0.9, 1.6)
RIDE_MPS = (3.0, 7.0)   # e-bike / scooter, how many supervisors get around
M_PER_DEG = 111_320.0


@dataclass
class Terminal:
    device: str
    person: str | None
    role: str | None
    area: Any                      # shapely geometry it walks in (its own grids)
    registered: bool = True
    lat: float = 0.0
    lon: float = 0.0
    target: tuple[float, float] | None = None
    speed: float = 1.2
    batt: float = 100.0
    st: str = "on_duty"
    online: bool = True
    client: Any = None
    orders: dict[str, list] = field(default_factory=dict)  # order id -> pending steps
    goal: tuple[float, float] | None = None                # an order's place, when en route
    goal_pending: tuple[float, float] | None = None        # ... once it sets off


def _random_point(area, rng: random.Random) -> tuple[float, float]:
    minx, miny, maxx, maxy = area.bounds
    for _ in range(200):
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if area.contains(Point(lon, lat)):
            return lat, lon
    p = area.representative_point()
    return p.y, p.x


def step_towards(lat, lon, tlat, tlon, metres):
    """Move up to `metres` from (lat, lon) towards the target; returns (lat, lon, arrived)."""
    dy = (tlat - lat) * M_PER_DEG
    dx = (tlon - lon) * M_PER_DEG * math.cos(math.radians(lat))
    d = math.hypot(dx, dy)
    if d <= metres or d == 0:
        return tlat, tlon, True
    f = metres / d
    return lat + (tlat - lat) * f, lon + (tlon - lon) * f, False


class Simulator:
    ACK_STEPS = ("delivered", "acknowledged", "en_route", "on_scene", "completed")

    def __init__(self, settings: Settings, terminals: list[Terminal], *, interval_s: float = 10.0, seed: int = 1,
                 fast_orders: bool = False, sos_rate: float = 1 / 20000, dropout_rate: float = 1 / 3000,
                 bad_fix_rate: float = 1 / 300, status_rate: float = 1 / 1500, synthetic_per_client: int = 500,
                 connect_registered: bool = True):
        self.settings = settings
        self.terminals = terminals
        self.interval_s = interval_s
        self.rng = random.Random(seed)
        self.fast = fast_orders
        self.sos_rate, self.dropout_rate, self.bad_fix_rate, self.status_rate = sos_rate, dropout_rate, bad_fix_rate, status_rate
        self.synthetic_per_client = synthetic_per_client
        self.connect_registered = connect_registered
        self.stop_event = threading.Event()
        self._heap: list = []
        self._lock = threading.Lock()
        self._seq = 0
        self._shared: list = []
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.acks_sent = 0
        for t in terminals:
            t.lat, t.lon = _random_point(t.area, self.rng)
            t.speed = self.rng.uniform(*(RIDE_MPS if self.rng.random() < 0.3 else WALK_MPS))
            t.batt = self.rng.uniform(40, 100)

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, settings: Settings, ds, extra: int = 0, **kw) -> "Simulator":
        from geodata.registry import Registry

        reg = Registry(ds)
        geoms = dict(zip(ds.grids["id"], ds.grids.geometry))
        shapely.prepare(list(geoms.values()))  # every walk step asks `contains`
        l2 = [g for g, lvl in zip(ds.grids["id"], ds.grids["level"]) if lvl == 2]
        everywhere = shapely.union_all(list(geoms.values()))
        rng = random.Random(kw.get("seed", 1))
        terminals = []
        for device in reg.devices():
            p = reg.person_of_device(device)
            own = [geoms[g] for g in (p.grids if p else ()) if g in geoms]
            area = shapely.union_all(own) if own else geoms[rng.choice(l2)] if l2 else everywhere
            shapely.prepare(area)
            terminals.append(Terminal(device, p.id if p else None, p.role if p else None, area))
        for i in range(extra):
            area = geoms[rng.choice(l2)] if l2 else everywhere
            d = f"sim-{i:05d}"
            terminals.append(Terminal(d, d, "assistant", area, registered=False))
        return cls(settings, terminals, **kw)

    @classmethod
    def from_redis(cls, settings: Settings, extra: int = 0, **kw) -> "Simulator":
        from geodata.store import fetch_dataset
        from gridwatch.redisconn import connect

        r = connect(settings.redis_url)
        try:
            ds = fetch_dataset(r)
        finally:
            r.close()
        return cls.from_dataset(settings, ds, extra, **kw)

    # -- scheduling -------------------------------------------------------------------------------
    def _at(self, when: float, fn, *args) -> None:
        with self._lock:
            self._seq += 1
            heapq.heappush(self._heap, (when, self._seq, fn, args))

    def _delay(self, lo: float, hi: float) -> float:
        d = self.rng.uniform(lo, hi)
        return d * 0.01 if self.fast else d

    # -- MQTT -----------------------------------------------------------------------------------
    def _connect(self, t: Terminal) -> None:
        from telemetry.mqtt import connect

        root = self.settings.topic_root

        def on_message(client, userdata, msg, t=t):
            try:
                order = orjson.loads(msg.payload)
            except orjson.JSONDecodeError:
                return
            self._at(time.time(), self._on_order, t, order)

        t.client = connect(self.settings, f"sim-{t.device}", clean_start=False,
                           will=(f"{root}/{t.device}/status", b'{"st":"offline"}', 1, False),
                           on_message=on_message, keepalive=60)
        t.client.subscribe(f"{root}/{t.device}/orders", qos=1)
        t.online = True

    def _drop(self, t: Terminal) -> None:
        """Vanish as a phone does (no DISCONNECT): the broker publishes the will."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.reasoncodes import ReasonCode

        t.online = False
        if t.client is not None:
            t.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
            t.client.loop_stop()
            t.client = None

    def _publish(self, t: Terminal, kind: str, payload: dict) -> None:
        topic = f"{self.settings.topic_root}/{t.device}/{kind}"
        client = t.client if t.registered else self._shared[hash(t.device) % len(self._shared)]
        if client is not None:
            client.publish(topic, orjson.dumps(payload), qos=1)
            self.sent += 1

    # -- behaviour --------------------------------------------------------------------------------
    def _report(self, t: Terminal) -> None:
        now = time.time()
        rng = self.rng
        self._at(now + self.interval_s * rng.uniform(0.8, 1.2), self._report, t)
        if not t.online:
            return
        # walk or ride on, towards an order's place if en route, else a point of its own grids
        if t.goal is not None:
            t.lat, t.lon, _ = step_towards(t.lat, t.lon, *t.goal, t.speed * self.interval_s)
        else:
            if t.target is None:
                t.target = _random_point(t.area, rng)
            lat, lon, arrived = step_towards(t.lat, t.lon, *t.target, t.speed * self.interval_s)
            if arrived or not t.area.contains(Point(lon, lat)):
                t.target = None
            else:
                t.lat, t.lon = lat, lon
        t.batt = max(1.0, t.batt - rng.uniform(0, 0.02))
        acc = rng.uniform(4, 25)
        noise = rng.gauss(0, acc / 2) / M_PER_DEG
        lat, lon = t.lat + noise, t.lon + rng.gauss(0, acc / 2) / M_PER_DEG
        if rng.random() < self.bad_fix_rate:  # a multipath jump, a cold start at 0/0, a wild accuracy
            lat, lon, acc = rng.choice([(lat + 0.3, lon, acc), (0.0, 0.0, acc), (lat, lon, 3000.0)])
        fix = {"_type": "location", "lat": round(lat, 6), "lon": round(lon, 6), "tst": int(now),
               "acc": round(acc), "batt": round(t.batt), "vel": round(t.speed * 3.6), "t": "t", "tid": t.device[-2:]}
        self._publish(t, "loc", fix)
        if rng.random() < self.sos_rate:
            self._status(t, "sos", note="simulated SOS")
            self._at(now + self._delay(120, 600), self._status, t, "on_duty")
        elif rng.random() < self.status_rate and t.st != "sos":
            self._status(t, rng.choice(["on_duty", "busy", "off_duty", "on_duty"]))
        if rng.random() < self.dropout_rate:
            self._drop(t)
            self._at(now + rng.uniform(180, 900), self._return, t)

    def _status(self, t: Terminal, st: str, note: str | None = None) -> None:
        t.st = st
        msg = {"st": st, "tst": int(time.time()), "lat": round(t.lat, 6), "lon": round(t.lon, 6),
               "batt": round(t.batt)}
        if note:
            msg["note"] = note
        if t.online:
            self._publish(t, "status", msg)

    def _return(self, t: Terminal) -> None:
        if t.registered and self.connect_registered:
            try:
                self._connect(t)
            except (ConnectionError, OSError):
                self._at(time.time() + 30, self._return, t)
                return
        t.online = True

    def _on_order(self, t: Terminal, order: dict) -> None:
        oid = order.get("id")
        if not oid:
            return
        if order.get("_type") == "cancel":
            t.orders.pop(oid, None)
            t.goal = None
            return
        if oid in t.orders:
            return  # a redelivery
        declined = self.rng.random() < 0.05
        steps = ["delivered", "declined"] if declined else list(self.ACK_STEPS)
        t.orders[oid] = steps
        if order.get("lat") is not None and not declined:
            t.goal_pending = (float(order["lat"]), float(order["lon"]))
        self._at(time.time() + self._delay(0.5, 3), self._ack_next, t, oid)

    def _ack_next(self, t: Terminal, oid: str) -> None:
        steps = t.orders.get(oid)
        if not steps:
            return
        state = steps.pop(0)
        if t.online:
            self._publish(t, "ack", {"order": oid, "state": state, "tst": int(time.time())})
            self.acks_sent += 1
        if state == "en_route":
            t.goal = t.goal_pending
        if state in ("completed", "declined"):
            t.orders.pop(oid, None)
            t.goal = None
            return
        delays = {"delivered": (5, 40), "acknowledged": (10, 60), "en_route": (60, 600), "on_scene": (60, 300)}
        self._at(time.time() + self._delay(*delays[state]), self._ack_next, t, oid)

    # -- running -----------------------------------------------------------------------------------
    def _setup(self) -> None:
        from telemetry.mqtt import connect

        synthetic = [t for t in self.terminals if not t.registered]
        for i in range(max(1, math.ceil(len(synthetic) / self.synthetic_per_client)) if synthetic else 0):
            self._shared.append(connect(self.settings, f"sim-pool-{i}", clean_start=True, session_expiry_s=0))
        now = time.time()
        for t in self.terminals:
            if t.registered and self.connect_registered:
                try:
                    self._connect(t)
                except (ConnectionError, OSError) as e:  # a busy broker: that phone tries again later
                    log.warning("simulator: %s could not connect (%s); retrying in 30 s", t.device, e)
                    t.online = False
                    self._at(now + 30, self._return, t)
            self._at(now + self.rng.uniform(0, self.interval_s), self._report, t)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            with self._lock:
                due = self._heap[0][0] if self._heap else None
            now = time.time()
            if due is None or due > now:
                self.stop_event.wait(min(0.05, (due - now) if due else 0.05))
                continue
            with self._lock:
                _, _, fn, args = heapq.heappop(self._heap)
            try:
                fn(*args)
            except (ConnectionError, OSError) as e:
                log.warning("simulator: %s", e)

    def _teardown(self) -> None:
        for t in self.terminals:
            if t.client is not None:
                t.client.disconnect()
                t.client.loop_stop()
                t.client = None
        for c in self._shared:
            c.disconnect()
            c.loop_stop()
        self._shared = []

    def start(self) -> "Simulator":
        self._setup()
        self._thread = threading.Thread(target=self._loop, name="simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(10)
        self._teardown()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self._setup()
        log.info("simulating %d terminals (%d registered), one report per %.0f s",
                 len(self.terminals), sum(t.registered for t in self.terminals), self.interval_s)
        try:
            self._loop()
        finally:
            self._teardown()
        return 0
