"""The ingest pipeline (decode -> filter -> index -> store -> live delta) and the
`gridwatch ingest` worker that feeds it from an MQTT v5 shared subscription.

The same `Pipeline` serves the HTTP ingest routes of the web app (OwnTracks HTTP mode, OsmAnd).
A message is acknowledged to the broker only after Redis has it.
"""
from __future__ import annotations

import gc
import logging
import queue
import signal
import threading
import time
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np
import redis
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from telemetry import filters, protocols
from telemetry.filters import FixFilter, Limits
from telemetry.protocols import Ack, Drop, Fix, Status
from telemetry.store import LAG_BUCKETS, LiveStore, Tally

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


_metrics: dict[int, Metrics] = {}


def metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """The ingest collectors, created once per registry (default: prometheus' global one)."""
    registry = REGISTRY if registry is None else registry
    m = _metrics.get(id(registry))
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
        _metrics[id(registry)] = m
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
        for kind in sorted({"fix", "status", "ack"} | set(st["accepted"])):
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

    def __init__(self, settings, r: redis.Redis, registry, index, *, m: Metrics | None = None) -> None:
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

    @classmethod
    def from_redis(cls, r: redis.Redis, settings, **kw) -> "Pipeline":
        """Build from the dataset in Redis (geodata.store), as every process does: the grid
        index and device table `gridwatch load` stored (numpy and shapely only, no geopandas
        in the worker), or, for a dataset loaded before those were stored, the dataset itself."""
        from geodata.store import fetch_locator

        try:
            loc = fetch_locator(r)
            return cls(settings, r, DeviceTable(loc.devices), loc.index, **kw)
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
        if isinstance(person, Identity):
            ident = person
        elif person is not None:
            pid = getattr(person, "id", person)
            p = self.registry.person(pid) if not hasattr(person, "role") else person
            ident = Identity(str(pid), getattr(p, "role", None))
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
        return self._run([protocols.decode_http_owntracks(body, device, max_bytes=self.settings.max_payload_bytes)],
                         now)[0]

    def handle_osmand(self, params: dict[str, Any], device: str | None = None, now: float | None = None) -> Outcome:
        """The OsmAnd protocol (Traccar Client): query or form parameters as a dict."""
        now = time.time() if now is None else now
        return self._run([protocols.decode_osmand(params, device, now)], now)[0]

    def process(self, items: Iterable[tuple[str, bytes]], now: float | None = None) -> list[Outcome]:
        """A batch of (topic, payload): one Redis pipeline; returns one Outcome per item."""
        now = time.time() if now is None else now
        s = self.settings
        decoded = [protocols.decode(topic, payload, root=s.topic_root, max_bytes=s.max_payload_bytes,
                                    person_of_device=self._person_of) for topic, payload in items]
        return self._run(decoded, now)

    # -- the chain -------------------------------------------------------------------------------
    def _run(self, decoded: list[list], now: float) -> list[Outcome]:
        """`decoded`: per message received, what it decoded to (messages or drops)."""
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
                else:
                    self.store.queue_ack(pipe, m, now, ident.person, ident.role)
                writes.append((m, ident, at))
        # 4. counts: per message, and into the shared tally in the same pipeline, so
        # /metrics of any web process shows every worker's (at least once, like the writes)
        outcomes, tally = self._count(results, now)
        self.store.queue_stats(pipe, tally)
        replies = self.store.execute(pipe)
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
            if not flags & 1:
                return  # a late fix: nothing changed on the map
            d = {"device": m.device, "person": ident.person, "role": ident.role, "lat": m.lat, "lon": m.lon,
                 "tst": m.tst, "acc": m.acc, "batt": m.batt, "l1": grid[0], "l2": grid[1], "fresh": "live"}
            if m.st:
                d["st"] = m.st
        elif isinstance(m, Status):
            if not flags & 2 and not m.batt:
                return
            d = {"device": m.device, "person": ident.person, "role": ident.role}
            if m.will:
                d["fresh"] = "offline"
            else:
                d["st"] = m.st
                if m.batt is not None:
                    d["batt"] = m.batt
        else:
            return
        if flags & 4:
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


# ---- the MQTT worker ------------------------------------------------------------------------------

def subscriptions(settings) -> list[str]:
    g, root = settings.ingest_group, settings.topic_root
    return [f"$share/{g}/{root}/+/loc", f"$share/{g}/{root}/+/status", f"$share/{g}/{root}/+/ack",
            f"$share/{g}/owntracks/#"]


class StoreProcess:
    """The store half of an ingest worker in its own process: decode, filter, index, Redis,
    deltas. The MQTT half (paho's receive loop, which costs as much CPU per message as the
    whole pipeline) keeps the other core, so receiving and storing overlap instead of
    sharing one interpreter lock. Batches go over a pipe as (seq, [(topic, payload)]); the
    reply (seq, stored) comes only once Redis has the batch (False: given up on stop while
    Redis was away). If the process dies, `restart` starts another; the receiver sends the
    unacknowledged batches again (every write is idempotent or guarded by `tst`)."""

    def __init__(self, settings) -> None:
        import multiprocessing

        self.settings = settings
        self._mp = multiprocessing.get_context("spawn")  # never fork a process with paho's threads
        self.stop = self._mp.Event()
        self.proc = None
        self.conn = None

    def start(self, timeout: float = 120.0) -> "StoreProcess":
        here, there = self._mp.Pipe()
        self.proc = self._mp.Process(target=_store_main, args=(self.settings, there, self.stop),
                                     name="gridwatch-ingest-store", daemon=True)
        self.proc.start()
        there.close()
        self.conn = here
        if not here.poll(timeout):
            raise RuntimeError("the ingest store process did not start")
        here.recv()  # "ready": the grid index is loaded, the Lua script is in Redis
        return self

    def restart(self) -> "StoreProcess":
        self.close(0)
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def send(self, seq: int, items: list[tuple[str, bytes]]) -> None:
        self.conn.send((seq, items))

    def replies(self, timeout: float) -> list[tuple[int, bool]]:
        """(seq, stored) of the batches done, waiting up to `timeout` for the first;
        raises EOFError if the process died."""
        out = []
        if self.conn.poll(timeout):
            out.append(self.conn.recv())
            while self.conn.poll():
                out.append(self.conn.recv())
        return out

    def close(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.proc = self.conn = None


def _store_main(settings, conn, stop) -> None:
    """The store process (StoreProcess): stops when the receiver says so or its pipe closes,
    so it never outlives a receiver killed with SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the receiver decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from gridwatch.redisconn import connect

    r = connect(settings.redis_url)
    pipeline = Pipeline.from_redis(r, settings)
    gc.freeze()  # see IngestWorker.run
    conn.send("ready")
    try:
        while True:
            if not conn.poll(0.1):
                pipeline.flush_deltas()
                continue
            job = conn.recv()
            if job is None:
                break
            seq, items = job
            conn.send((seq, store_batch(pipeline, items, stop)))
    except (EOFError, OSError):
        pass  # the receiver is gone: what it did not acknowledge comes again
    finally:
        pipeline.flush_deltas(force=True)
        r.close()


def store_batch(pipeline: Pipeline, items: list[tuple[str, bytes]], stop) -> bool:
    """Run one batch through the pipeline, waiting out a Redis outage; False only if asked to
    stop while Redis was away (nothing of the batch is then acknowledged)."""
    delay = 0.2
    while True:
        try:
            pipeline.process(items)
            return True
        except (redis.ConnectionError, redis.TimeoutError) as e:
            log.warning("Redis unavailable (%s); batch of %d held, not acknowledged", e, len(items))
            if stop.wait(delay):
                return False
            delay = min(delay * 2, 5.0)


class IngestWorker:
    """One `gridwatch ingest` process: a persistent MQTT v5 session (so the broker keeps its
    share of QoS 1 messages while it is away), messages batched into pipelines, each message
    acknowledged (PUBACK) only after its batch is in Redis. On stop it finishes the batches in
    hand and disconnects; messages received but not stored are not acknowledged, and the
    broker sends them again when this client id reconnects.

    By default the pipeline runs in a `StoreProcess` beside this one (two batches in flight:
    one being stored while the next is received). With `pipeline_factory` it runs in this
    process instead (tests that build a pipeline on a small registry)."""

    IN_FLIGHT = 2  # batches handed to the store process and not yet acknowledged

    def __init__(self, settings, client_id: str, *, pipeline_factory: Callable[[redis.Redis], Pipeline] | None = None):
        self.settings = settings
        self.client_id = client_id
        self.stop = threading.Event()
        self.pipeline_factory = pipeline_factory
        self.stored = 0
        self.ready = threading.Event()

    def run(self, install_signals: bool = True) -> int:
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop.set())
        from telemetry.mqtt import connect

        if self.pipeline_factory is None:
            stage, r, pipeline = StoreProcess(self.settings).start(), None, None
        else:
            from gridwatch.redisconn import connect as redis_connect

            stage, r = None, redis_connect(self.settings.redis_url)
            pipeline = self.pipeline_factory(r)
        # Everything built so far lives as long as the process: out of the collector's sight,
        # so that full collections stay cheap and frequent enough to free the per-message
        # garbage (paho's messages are reference cycles) before it piles up in RSS.
        gc.freeze()
        inbox: queue.SimpleQueue = queue.SimpleQueue()

        def on_connect(client, userdata, flags, reason_code, properties):
            if not reason_code.is_failure:
                client.subscribe([(t, SubscribeOptions(qos=1)) for t in subscriptions(self.settings)])

        # The broker's in-flight window (Receive Maximum) spans the batches in hand plus the
        # one being gathered, so it keeps sending while earlier batches are being stored.
        window = (self.IN_FLIGHT + 1 if stage else 2) * self.settings.ingest_batch
        try:
            client = connect(self.settings, self.client_id, manual_ack=True, receive_maximum=window,
                             on_message=lambda c, u, msg: inbox.put(msg), on_connect=on_connect)
        except BaseException:
            if stage:
                stage.close()
            raise
        self.ready.set()
        log.info("ingest %s subscribed: %s", self.client_id, ", ".join(subscriptions(self.settings)))
        try:
            if stage:
                self._loop_split(stage, inbox, client)
            else:
                self._loop(pipeline, inbox, client)
        finally:
            client.disconnect()
            client.loop_stop()
            if stage:
                stage.close()
            if r is not None:
                r.close()
        return 0

    def _gather(self, inbox: queue.SimpleQueue, timeout: float) -> list:
        """One batch: the first message within `timeout`, then whatever comes in a moment more.
        The broker sends at most its in-flight window before our PUBACKs, so one batch per
        window (not per trickle) is what keeps the rate up."""
        try:
            batch = [inbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        limit = self.settings.ingest_batch
        deadline = time.monotonic() + 0.003
        while len(batch) < limit:
            try:
                batch.append(inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _ack(self, client, batch: list) -> None:
        from telemetry.mqtt import ack_many

        ack_many(client, [m.mid for m in batch if m.qos == 1])
        for msg in batch:
            if msg.qos > 1:
                client.ack(msg.mid, msg.qos)
        self.stored += len(batch)

    def _loop(self, pipeline: Pipeline, inbox: queue.SimpleQueue, client) -> None:
        while not self.stop.is_set():
            batch = self._gather(inbox, 0.1)
            if not batch:
                pipeline.flush_deltas()
                continue
            if not store_batch(pipeline, [(m.topic, m.payload) for m in batch], self.stop):
                return  # stopped while Redis was away: nothing of this batch was acknowledged
            self._ack(client, batch)

    def _loop_split(self, stage: StoreProcess, inbox: queue.SimpleQueue, client) -> None:
        inflight: dict[int, list] = {}  # seq -> the messages of a batch the store has not confirmed
        seq = 0

        def settle(timeout: float) -> bool:
            try:
                done = stage.replies(timeout)
            except (EOFError, OSError):
                done = None
            if done is None or (not done and not stage.alive()):
                log.error("ingest store process died; restarting it and sending %d unacknowledged batches again",
                          len(inflight))
                stage.restart()
                for k in sorted(inflight):
                    stage.send(k, [(m.topic, m.payload) for m in inflight[k]])
                return True
            for k, ok in done:
                batch = inflight.pop(k)
                if not ok:
                    return False  # stopping while Redis was away: not acknowledged
                self._ack(client, batch)
            return True

        while not self.stop.is_set():
            if len(inflight) >= self.IN_FLIGHT:
                if not settle(0.1):
                    return
                continue
            batch = self._gather(inbox, 0.02 if inflight else 0.1)
            if batch:
                seq += 1
                inflight[seq] = batch
                stage.send(seq, [(m.topic, m.payload) for m in batch])
            if inflight and not settle(0.0):
                return
        # stopping: let the store finish what it has (it gives up only if Redis is away)
        stage.stop.set()
        deadline = time.monotonic() + 30.0
        while inflight and time.monotonic() < deadline:
            if not settle(0.2):
                return
