"""The ingest pipeline (decode -> filter -> index -> store -> live delta). The `gridwatch
ingest` worker that feeds it from an MQTT v5 shared subscription is in telemetry/worker.py.

The same `Pipeline` serves the HTTP ingest routes of the web app (OwnTracks HTTP mode, OsmAnd).
A message is acknowledged to the broker only after Redis has it.
"""
from __future__ import annotations

import logging
import time
import weakref
from typing import Any, Iterable, NamedTuple

import numpy as np
import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from gridwatch.settings import Settings
from telemetry import filters, protocols
from telemetry.filters import FixFilter, Limits
from telemetry.protocols import Ack, Drop, Fix, Heartbeat, Status
from geodata.store import VersionWatch
from telemetry.store import BACK, EVENT, MOVED, LiveStore
from telemetry.tally import LAG_BUCKETS, Tally

log = logging.getLogger("gridwatch.ingest")

SYNTHETIC_PREFIX = "sim-"
SYNTHETIC_ROLE = "assistant"


# ---- metrics ---------------------------------------------------------------------------------

class Metrics(NamedTuple):
    """This process's own counters (a pipeline's, for tests and debugging). What operators
    scrape is `SharedMetrics`: the tally of every worker, kept in Redis."""
    messages: Counter
    dropped: Counter
    accepted: Counter
    lag: Histogram


# by registry, weakly: keyed by id() a registry of an earlier (collected) test could hand its
# id and its old collectors to a new one, whose counters then never moved
_metrics: "weakref.WeakKeyDictionary[CollectorRegistry, Metrics]" = weakref.WeakKeyDictionary()


def metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """The ingest collectors, created once per registry (default: prometheus' global one)."""
    registry = REGISTRY if registry is None else registry
    m = _metrics.get(registry)
    if m is None:
        m = Metrics(
            Counter("gridwatch_ingest_messages", "Messages received (MQTT publishes and HTTP requests)",
                    registry=registry),
            Counter("gridwatch_ingest_dropped", "Messages or fixes dropped, by reason", ["reason"],
                    registry=registry),
            Counter("gridwatch_ingest_accepted", "Fixes, statuses and acks stored", ["kind"], registry=registry),
            Histogram("gridwatch_ingest_lag_seconds", "Store time minus the fix's own time (tst)",
                      buckets=LAG_BUCKETS, registry=registry),
        )
        for reason in filters.ALL_REASONS:
            m.dropped.labels(reason)  # every label present from the start, at 0
        _metrics[registry] = m
    return m


class SharedMetrics:
    """A prometheus collector read from Redis at each scrape: the ingest tally of every worker
    and HTTP route (`LiveStore.stats`) and the live devices by presence. Any web process can
    serve it, so /metrics shows the whole system, not one process."""

    def __init__(self, store: LiveStore) -> None:
        self.store = store

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        st = self.store.stats()
        yield CounterMetricFamily("gridwatch_ingest_messages", "Messages received (MQTT publishes and HTTP requests)",
                                  value=st["messages"])
        dropped = CounterMetricFamily("gridwatch_ingest_dropped", "Messages or fixes dropped, by reason",
                                      labels=["reason"])
        for reason in sorted(set(filters.ALL_REASONS) | set(st["dropped"])):
            dropped.add_metric([reason], st["dropped"].get(reason, 0))
        yield dropped
        accepted = CounterMetricFamily("gridwatch_ingest_accepted", "Fixes, statuses and acks stored", labels=["kind"])
        for kind in sorted({"fix", "status", "ack", "heartbeat"} | set(st["accepted"])):
            accepted.add_metric([kind], st["accepted"].get(kind, 0))
        yield accepted
        lag = st["lag"]
        yield HistogramMetricFamily("gridwatch_ingest_lag_seconds", "Store time minus the fix's own time (tst)",
                                    buckets=[(floatToGoString(le), n) for le, n in lag["buckets"]],
                                    sum_value=lag["sum"])
        live = GaugeMetricFamily("gridwatch_live_devices", "Devices in the live store by presence", labels=["presence"])
        for k, v in self.store.presence_counts().items():
            live.add_metric([k], v)
        yield live

    def describe(self):
        return []  # read at collect time only (no Redis round trip on registration)


# ---- the pipeline ------------------------------------------------------------------------------

STATS_INTERVAL_S = 1.0  # how often a pipeline adds its counts to the shared tally in Redis
DATASET_CHECK_S = 5.0   # how often a pipeline looks for a newly loaded dataset version

HTTP_STATUS = {"oversize": 413, "not_json": 400, "schema": 400, "foreign_topic": 403,
               "person_mismatch": 403, "unknown_device": 403}


class Outcome(NamedTuple):
    accepted: int
    dropped: dict[str, int]

    @property
    def http_status(self) -> int:
        """What an HTTP ingest route should answer: 200 unless the request itself was bad
        (a fix dropped by a filter is still a 200, so the app does not resend it forever)."""
        if self.accepted:
            return 200
        for reason in self.dropped:
            if reason in HTTP_STATUS:
                return HTTP_STATUS[reason]
        return 200


class DeviceTable:
    """The registry as the pipeline needs it (device -> person and role), without holding
    the whole dataset in every worker."""

    def __init__(self, people: dict[str, tuple[str, str | None]]) -> None:
        self._of = people

    @classmethod
    def of(cls, registry) -> "DeviceTable":
        out = {}
        for d in registry.devices():
            p = registry.person_of_device(d)
            if p is not None:
                out[d] = (str(p.id), getattr(p, "role", None))
        return cls(out)

    def person_of_device(self, device: str):
        v = self._of.get(device)
        return None if v is None else Identity(*v)


def release_memory() -> None:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Identity(NamedTuple):
    person: str | None
    role: str | None


class Pipeline:
    """decode -> filter -> index -> store -> delta, for batches of raw messages."""

    def __init__(self, settings: Settings, r: redis.Redis, registry, index, *, m: Metrics | None = None) -> None:
        self.settings = settings
        self.r = r
        self.registry = registry
        self.index = index
        self.store = LiveStore(r, settings)
        self.store.ensure_scripts()
        self.filter = FixFilter(Limits.of(settings))
        self.limits = self.filter.lim
        self.m = m or metrics()
        self._ids: dict[str, Identity | None] = {}
        self._pending: dict[str, dict] = {}
        self._last_flush = 0.0
        self._tally = Tally(0, {}, {}, [])  # counts not yet added to the shared tally in Redis
        self._tally_at = time.monotonic()
        self.watch: VersionWatch | None = None  # the dataset version in use, when built from the store

    @classmethod
    def from_redis(cls, r: redis.Redis, settings: Settings, **kw) -> "Pipeline":
        """Build from the dataset in Redis (geodata.store), as every process does: the grid
        index and device table `gridwatch load` stored (numpy and shapely only, no geopandas
        in the worker), or, for a dataset loaded before those were stored, the dataset itself."""
        from geodata.store import fetch_locator

        try:
            loc = fetch_locator(r)
            pipeline = cls(settings, r, DeviceTable(loc.devices), loc.index, **kw)
            pipeline.watch = VersionWatch(r, DATASET_CHECK_S, loc.version)  # follow `gridwatch load`
            return pipeline
        except LookupError as e:
            log.warning("%s; building the grid index from the dataset instead", e)
        from geodata.index import GridIndex
        from geodata.registry import Registry
        from geodata.store import fetch_dataset

        ds = fetch_dataset(r)
        devices = DeviceTable.of(Registry(ds))
        index = GridIndex.from_grids(ds.grids)
        del ds
        release_memory()  # the dataset's GeoJSON and frames are gone; give the pages back
        return cls(settings, r, devices, index, **kw)

    # -- identity ----------------------------------------------------------------------------
    def identity(self, device: str) -> Identity | None:
        if device in self._ids:
            return self._ids[device]
        ident = None
        person = self.registry.person_of_device(device)
        if isinstance(person, Identity):  # a DeviceTable's answer
            ident = person
        elif person is not None:  # a Registry's Person
            ident = Identity(str(person.id), person.role)
        elif self.settings.synthetic_devices and device.startswith(SYNTHETIC_PREFIX):
            ident = Identity(device, SYNTHETIC_ROLE)
        self._ids[device] = ident
        return ident

    def _person_of(self, device: str) -> str | None:
        ident = self.identity(device)
        return ident.person if ident else None

    # -- entry points --------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, now: float | None = None) -> Outcome:
        return self.process([(topic, payload)], now)[0]

    def handle_http_owntracks(self, body: bytes, device: str, now: float | None = None) -> Outcome:
        """OwnTracks HTTP mode; `device` is the one the route authenticated."""
        now = time.time() if now is None else now
        return self._run([protocols.decode_http_owntracks(body, device, max_bytes=self.settings.max_payload_bytes,
                                                          now=now)], now, count_now=True)[0]

    def handle_osmand(self, params: dict[str, Any], device: str | None = None, now: float | None = None) -> Outcome:
        """The OsmAnd protocol (Traccar Client): query or form parameters as a dict."""
        now = time.time() if now is None else now
        return self._run([protocols.decode_osmand(params, device, now)], now, count_now=True)[0]

    def handle_decoded(self, msgs: list, device: str, now: float | None = None) -> Outcome:
        """One HTTP request already decoded (`protocols.decode_osmand_http`), from `device`,
        the one the route authenticated: whatever the request says of another device is
        dropped as foreign."""
        now = time.time() if now is None else now
        msgs = [m if m.device in (device, None) or isinstance(m, Drop)
                else Drop(protocols.FOREIGN_TOPIC, device, f"id {m.device!r}") for m in msgs]
        return self._run([msgs], now, count_now=True)[0]

    def process(self, items: Iterable[tuple[str, bytes]], now: float | None = None) -> list[Outcome]:
        """A batch of (topic, payload): one Redis pipeline; returns one Outcome per item."""
        now = time.time() if now is None else now
        s = self.settings
        decoded = [protocols.decode(topic, payload, root=s.topic_root, max_bytes=s.max_payload_bytes,
                                    person_of_device=self._person_of) for topic, payload in items]
        return self._run(decoded, now)

    # -- the chain -------------------------------------------------------------------------------
    def _run(self, decoded: list[list], now: float, count_now: bool = False) -> list[Outcome]:
        """`decoded`: per message received, what it decoded to (messages or drops). With
        `count_now` (HTTP requests: no idle loop flushes them) the counts go out with this batch."""
        self.follow_dataset()  # a busy worker never idles: look here too (a clock check, mostly)
        lim = self.limits
        # 1. identity and filters, in arrival order (the jump filter is stateful)
        self._seed([m for msgs in decoded for m in msgs if isinstance(m, Fix)])
        results: list[list] = []  # per item: list of accepted message or drop reason
        fixes: list[tuple[int, Fix, Identity]] = []
        for msgs in decoded:
            out = []
            for m in msgs:
                if isinstance(m, Drop):
                    out.append(m.reason)
                    continue
                ident = self.identity(m.device)
                if ident is None:
                    out.append(filters.UNKNOWN_DEVICE)
                    continue
                if isinstance(m, Fix):
                    reason = self.filter.check(m, now)
                    if reason:
                        out.append(reason)
                    else:
                        out.append(m)
                        fixes.append((len(results), m, ident))
                elif isinstance(m, Status):
                    reason = filters.check_status(m, now, lim)
                    if reason:
                        out.append(reason)
                        continue
                    if m.lat is not None and m.lon is not None and m.tst is not None:
                        # a status with a position moves the device too (an SOS says where)
                        fix = Fix(m.device, m.tst, m.lat, m.lon, batt=m.batt)
                        if self.filter.check(fix, now) is None:
                            fixes.append((len(results), fix, ident))
                            out.append(fix)
                    out.append(m)
                elif isinstance(m, Heartbeat):
                    out.append(filters.check_heartbeat(m) or m)
                else:
                    reason = filters.check_ack(m, now, lim)
                    out.append(reason or m)
            results.append(out)
        # 2. index: every accepted fix's grids in one vectorised call
        grids: dict[int, tuple[str | None, str | None]] = {}
        if fixes:
            l1, l2 = self.index.locate(np.fromiter((f.lat for _, f, _ in fixes), float, len(fixes)),
                                       np.fromiter((f.lon for _, f, _ in fixes), float, len(fixes)))
            for j, (_, f, _) in enumerate(fixes):
                grids[id(f)] = (l1[j], l2[j])
        # 3. store: one pipeline, one script per message
        pipe = self.store.batch()
        writes: list[tuple[Any, Identity, int]] = []
        for out in results:
            for m in out:
                if isinstance(m, str):
                    continue
                ident = self._ids[m.device]
                at = len(pipe)  # where this write's script reply will be
                if isinstance(m, Fix):
                    l1_, l2_ = grids[id(m)]
                    self.store.queue_fix(pipe, m, now, ident.person, ident.role, l1_, l2_)
                elif isinstance(m, Status):
                    self.store.queue_status(pipe, m, now, ident.person, ident.role)
                elif isinstance(m, Heartbeat):
                    self.store.queue_seen(pipe, m, now, ident.person, ident.role)
                else:
                    self.store.queue_ack(pipe, m, now, ident.person, ident.role)
                writes.append((m, ident, at))
        # 4. counts: per message, and into the shared tally that /metrics of any web process
        # reads, in the same pipeline as the writes once a second (a batch of a few messages
        # would otherwise pay more for its counters than for its data)
        outcomes, tally = self._count(results, now)
        self._add_tally(tally)
        send_tally = count_now or time.monotonic() - self._tally_at >= STATS_INTERVAL_S
        if send_tally:
            self.store.queue_stats(pipe, self._tally)
        replies = self.store.execute(pipe)
        if send_tally:
            self._tally_sent()
        # 5. live deltas and this process's metrics, once Redis has it all
        for m, ident, at in writes:
            self._delta(m, ident, replies[at], grids.get(id(m)))
        self.m.messages.inc(tally.messages)
        for reason, n in tally.dropped.items():
            self.m.dropped.labels(reason).inc(n)
        for kind, n in tally.accepted.items():
            self.m.accepted.labels(kind).inc(n)
        for lag in tally.lags:
            self.m.lag.observe(lag)
        self.flush_deltas(now)
        return outcomes

    def _add_tally(self, t: Tally) -> None:
        acc = self._tally
        for mine, theirs in ((acc.dropped, t.dropped), (acc.accepted, t.accepted)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        acc.lags.extend(t.lags)
        self._tally = acc._replace(messages=acc.messages + t.messages)

    def _tally_sent(self) -> None:
        """The tally went out with a pipeline Redis has run: start the next one."""
        self._tally, self._tally_at = Tally(0, {}, {}, []), time.monotonic()

    def follow_dataset(self, force: bool = False) -> bool:
        """Every DATASET_CHECK_S: if `gridwatch load` made another dataset version current,
        take its grid index and device table, so a new grid or a new person's device counts
        within seconds without restarting the workers. True when it changed."""
        if self.watch is None or self.watch.newer(force) is None:
            return False
        from geodata.store import fetch_locator

        try:
            loc = fetch_locator(self.r)
        except LookupError as e:
            log.warning("dataset changed but cannot be followed (%s); keeping version %s", e, self.watch.version)
            return False
        self.registry, self.index, self._ids = DeviceTable(loc.devices), loc.index, {}
        self.watch.version = loc.version
        log.info("following dataset version %s: %d devices", loc.version, len(loc.devices))
        return True

    def flush(self, force: bool = False) -> None:
        """What an idle worker does now and then: publish pending deltas, add the counts of the
        last second (all of them, with `force`, when stopping) to the shared tally, and follow
        a newly loaded dataset. A Redis outage only postpones it (the batches report outages)."""
        try:
            self.follow_dataset()
            self.flush_deltas(force=force)
            if self._tally.messages and (force or time.monotonic() - self._tally_at >= STATS_INTERVAL_S):
                pipe = self.store.batch()
                self.store.queue_stats(pipe, self._tally)
                self.store.execute(pipe)
                self._tally_sent()
        except (redis.ConnectionError, redis.TimeoutError) as e:
            if force:
                raise
            log.debug("idle flush postponed: Redis unavailable (%s)", e)

    @staticmethod
    def _count(results: list[list], now: float) -> tuple[list[Outcome], "Tally"]:
        outcomes = []
        tally = Tally(len(results), {}, {}, [])
        for out in results:
            dropped: dict[str, int] = {}
            accepted = 0
            for m in out:
                if isinstance(m, str):
                    dropped[m] = dropped.get(m, 0) + 1
                    tally.dropped[m] = tally.dropped.get(m, 0) + 1
                else:
                    accepted += 1
                    kind = type(m).__name__.lower()
                    tally.accepted[kind] = tally.accepted.get(kind, 0) + 1
                    if kind == "fix":
                        tally.lags.append(max(0.0, now - m.tst))
            outcomes.append(Outcome(accepted, dropped))
        return outcomes, tally

    def _seed(self, fixes: list[Fix]) -> None:
        """After a restart the jump filter knows no device: seed it from the store."""
        unknown = {f.device for f in fixes if f.device not in self.filter.last}
        if unknown:
            for f in self.store.latest_fixes(unknown):
                self.filter.seed(f)

    # -- live deltas, coalesced per device -------------------------------------------------------
    def _delta(self, m, ident: Identity, flags: int, grid) -> None:
        if isinstance(m, Fix):
            if not flags & MOVED:
                return  # a late fix: nothing changed on the map
            d = {"device": m.device, "person": ident.person, "role": ident.role, "lat": m.lat, "lon": m.lon,
                 "tst": m.tst, "acc": m.acc, "batt": m.batt, "l1": grid[0], "l2": grid[1], "fresh": "live"}
            if m.st:
                d["st"] = m.st
        elif isinstance(m, Status):
            if not flags & EVENT and not m.batt:
                return
            d = {"device": m.device, "person": ident.person, "role": ident.role}
            if m.will:
                d["fresh"] = "offline"
            else:
                d["st"] = m.st
                if m.batt is not None:
                    d["batt"] = m.batt
        elif isinstance(m, Heartbeat):
            if not flags & BACK and m.batt is None:
                return
            d = {"device": m.device, "person": ident.person, "role": ident.role}
            if m.batt is not None:
                d["batt"] = m.batt
        else:
            return
        if flags & BACK:
            d["fresh"] = "live"
        self._pending.setdefault(m.device, {}).update(d)

    def flush_deltas(self, now: float | None = None, force: bool = False) -> int:
        """Publish what changed since the last flush, at most once per delta_interval_s."""
        now = time.time() if now is None else now
        if not self._pending or (not force and now - self._last_flush < self.settings.delta_interval_s):
            return 0
        pending, self._pending = list(self._pending.values()), {}
        self._last_flush = now
        self.store.publish_deltas(pending)
        return len(pending)
