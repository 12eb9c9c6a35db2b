"""`gridwatch dispatcher`: turns the telemetry events stream into recipient transitions and
alerts, sends the outbox to the devices, fires due escalation steps and runs the periodic
presence, geofence and battery checks. Several may run at once: the events and the outbox are
consumer groups, timers are claimed in transactions, alert episodes are raised once.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Callable

import redis

from alerts import outbox
from alerts.alerts import Alerts
from alerts.errors import AlertsError
from alerts.orders import Orders
from gridwatch.redisconn import Backoff
from gridwatch.settings import Settings

log = logging.getLogger("gridwatch.dispatcher")

EVENTS_GROUP = "alerts"


class Dispatcher:
    """One dispatcher process's loops. `world_factory(r)` builds the World (the registry and
    live store); `mqtt_factory(client_id)` a connected paho client. Both default to the real
    ones, built in `run`, never at import."""

    def __init__(self, settings: Settings, *, name: str | None = None,
                 world_factory: Callable | None = None, mqtt_factory: Callable | None = None,
                 timer_poll_s: float = 0.2, periodic: tuple[Callable, ...] = ()):
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.world_factory = world_factory
        self.mqtt_factory = mqtt_factory
        self.timer_poll_s = timer_poll_s
        # Jobs of the layers above (the tasks' escalation), run with the periodic checks as
        # fn(r, world); handed in by the shell, so alerts/ imports nothing of theirs.
        self.periodic = tuple(periodic)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.counts = {"events": 0, "acks": 0, "refused": 0, "escalations": 0, "sent": 0}

    # -- wiring ----------------------------------------------------------------------------
    def _redis(self) -> redis.Redis:
        from gridwatch.redisconn import connect

        return connect(self.settings.redis_url, socket_timeout=30, health_check_interval=30)

    def _world(self, r):
        if self.world_factory is not None:
            return self.world_factory(r)
        from alerts.live import RedisWorld

        return RedisWorld(r, self.settings)

    def _mqtt(self):
        if self.mqtt_factory is not None:
            return self.mqtt_factory(f"gridwatch-dispatcher-{self.name}")
        from telemetry.mqtt import connect

        # A publisher only: a clean session; whatever it had not sent stays in the outbox.
        return connect(self.settings, f"gridwatch-dispatcher-{self.name}", clean_start=True,
                       session_expiry_s=0)

    def run(self, *, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or `self.stop` is set); returns an exit code."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop.set())
        r = self._redis()
        world = self._world(r)
        client = self._mqtt()
        self.ensure_groups(r)
        loops = [("events", lambda: self.events_loop(self._redis(), world)),
                 ("outbox", lambda: self.outbox_loop(self._redis(), client)),
                 ("timers", lambda: self.timers_loop(self._redis(), world))]
        threads = [threading.Thread(target=self._guard, args=(n, f), name=f"dispatcher-{n}") for n, f in loops]
        for t in threads:
            t.start()
        log.info("dispatcher %s running", self.name)
        try:
            while not self.stop.wait(0.5):
                pass
        finally:
            self.stop.set()
            for t in threads:
                t.join()
            client.disconnect()
            client.loop_stop()
        return 1 if self.errors else 0

    def _guard(self, name: str, fn: Callable) -> None:
        """Keep a loop alive through a lost Redis connection; stop the process on a bug."""
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                fn()
                return
            except (redis.ConnectionError, redis.TimeoutError) as e:
                log.warning("%s loop: Redis unavailable (%s); retrying", name, e)
                self.stop.wait(backoff.delay())
            except Exception as e:  # a bug: say so and stop cleanly rather than limp on
                log.exception("%s loop failed", name)
                self.errors.append(e)
                self.stop.set()

    @staticmethod
    def ensure_groups(r: redis.Redis) -> None:
        from telemetry.store import EVENTS

        outbox.ensure_group(r)
        try:
            # From the start of the stream: an SOS sent while no dispatcher ran is still handled.
            r.xgroup_create(EVENTS, EVENTS_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    # -- events: acks and status changes ---------------------------------------------------
    def events_loop(self, r: redis.Redis, world) -> None:
        from telemetry.store import EVENTS

        self.ensure_groups(r)
        orders = Orders(r, self.settings, world)
        alerts = Alerts(r, self.settings, world, orders)
        # First what this consumer read before a crash, then what dead consumers left behind.
        backlog = r.xreadgroup(EVENTS_GROUP, self.name, {EVENTS: "0"}, count=500)
        self._handle_batch(r, orders, alerts, backlog)
        last_claim = 0.0
        while not self.stop.is_set():
            if time.monotonic() - last_claim > 10:
                last_claim = time.monotonic()
                claimed = r.xautoclaim(EVENTS, EVENTS_GROUP, self.name, min_idle_time=30_000,
                                       start_id="0-0", count=500)
                self._handle_batch(r, orders, alerts, [(EVENTS, claimed[1])])
            res = r.xreadgroup(EVENTS_GROUP, self.name, {EVENTS: ">"}, count=200, block=500)
            self._handle_batch(r, orders, alerts, res)

    def _handle_batch(self, r, orders, alerts, res) -> None:
        from telemetry.store import EVENTS, parse_event

        for _stream, entries in res or []:
            done = []
            for entry_id, fields in entries:
                if not fields:
                    done.append(entry_id)  # trimmed away while pending
                    continue
                self.handle_event(orders, alerts, parse_event(fields))
                done.append(entry_id)
            if done:
                r.xack(EVENTS, EVENTS_GROUP, *done)

    def handle_event(self, orders: Orders, alerts: Alerts, ev: dict) -> None:
        self.counts["events"] += 1
        device = ev.get("device", "")
        at = float(ev["at"]) if ev.get("at") else None
        try:
            if ev.get("kind") == "ack":
                self.counts["acks"] += 1
                orders.report(ev.get("order", ""), device, ev.get("state", ""), f"device:{device}",
                              note=ev.get("note", ""), now=at,
                              device_tst=float(ev["tst"]) if ev.get("tst") else None)
            elif ev.get("kind") == "status":
                lat = float(ev["lat"]) if ev.get("lat") else None
                lon = float(ev["lon"]) if ev.get("lon") else None
                alerts.on_status(device, ev.get("st", ""), prev=ev.get("prev"), lat=lat, lon=lon,
                                 note=ev.get("note", ""), now=at)
        except AlertsError as e:
            # A report the table refuses, for an unknown order: counted, logged, consumed.
            self.counts["refused"] += 1
            log.info("event from %s refused: %s", device, e.message)

    # -- outbox ----------------------------------------------------------------------------
    def outbox_loop(self, r: redis.Redis, client) -> None:
        outbox.ensure_group(r)
        sender = outbox.Sender(r, client, self.name,
                        claim_idle_ms=int(self.settings.outbox_claim_idle_s * 1000))
        # What this consumer had read but not confirmed before a restart goes first.
        sender.pending_own()
        last_claim = time.monotonic()
        while not self.stop.is_set():
            sender.step(block_ms=500)
            if time.monotonic() - last_claim > self.settings.outbox_claim_idle_s / 2:
                last_claim = time.monotonic()
                sender.reclaim()
            self.counts["sent"] = sender.sent

    # -- timers and periodic checks -------------------------------------------------------------
    def timers_loop(self, r: redis.Redis, world) -> None:
        orders = Orders(r, self.settings, world)
        alerts = Alerts(r, self.settings, world, orders)
        next_check = 0.0
        while not self.stop.is_set():
            steps = orders.fire_due()
            self.counts["escalations"] += len(steps)
            for s in steps:
                log.info("order %s escalated (step %s): timed out %s, added %s", s["order"], s["round"],
                         s["timed_out"], s["added"])
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.settings.check_interval_s
                if world.follow_dataset():
                    log.info("following dataset version %s", world.watch.version)
                alerts.check()
                for job in self.periodic:
                    try:
                        job(r, world)
                    except Exception:  # noqa: BLE001 - a job's outage (its database) must not stop the timers
                        log.exception("periodic job %s failed; tried again next check", getattr(job, "__name__", job))
            self.stop.wait(self.timer_poll_s)

