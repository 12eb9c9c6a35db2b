"""The `gridwatch ingest` worker: an MQTT v5 shared-subscription receiver in this process and
the ingest pipeline (telemetry/ingest.py) in a store process beside it.

This module imports neither the pipeline nor numpy at load time, so the receiver process stays
small; the store process (and the in-process mode of tests) import them when they start.
"""
from __future__ import annotations

import gc
import logging
import queue
import signal
import threading
import time
from typing import TYPE_CHECKING, Callable

import redis
from paho.mqtt.subscribeoptions import SubscribeOptions

from gridwatch.redisconn import Backoff
from gridwatch.settings import Settings

if TYPE_CHECKING:
    from telemetry.ingest import Pipeline

log = logging.getLogger("gridwatch.ingest")


def subscriptions(settings: Settings) -> list[str]:
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

    def __init__(self, settings: Settings) -> None:
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
        try:
            if not here.poll(timeout):
                raise EOFError
            here.recv()  # "ready": the grid index is loaded, the Lua script is in Redis
        except EOFError:
            self.close(0)
            raise RuntimeError("the ingest store process did not start (its error is logged above)") from None
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


def _store_main(settings: Settings, conn, stop) -> None:
    """The store process (StoreProcess): stops when the receiver says so or its pipe closes,
    so it never outlives a receiver killed with SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the receiver decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from gridwatch.redisconn import connect

    from telemetry.ingest import Pipeline

    r = connect(settings.redis_url)
    pipeline = Pipeline.from_redis(r, settings)
    gc.freeze()  # see IngestWorker.run
    conn.send("ready")
    try:
        while True:
            if not conn.poll(0.1):
                pipeline.flush()
                continue
            job = conn.recv()
            if job is None:
                break
            seq, items = job
            conn.send((seq, store_batch(pipeline, items, stop)))
    except (EOFError, OSError):
        pass  # the receiver is gone: what it did not acknowledge comes again
    finally:
        try:
            pipeline.flush(force=True)
        except redis.RedisError as e:
            log.warning("could not publish the last deltas and counts: %s", e)
        r.close()


def store_batch(pipeline: Pipeline, items: list[tuple[str, bytes]], stop) -> bool:
    """Run one batch through the pipeline, waiting out a Redis outage; False only if asked to
    stop while Redis was away (nothing of the batch is then acknowledged)."""
    backoff = Backoff()
    while True:
        try:
            pipeline.process(items)
            return True
        except (redis.ConnectionError, redis.TimeoutError) as e:
            log.warning("Redis unavailable (%s); batch of %d held, not acknowledged", e, len(items))
            if stop.wait(backoff.delay()):
                return False


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
    QUIET_S = 2.0  # retiring: the backlog is drained once nothing came for this long

    def __init__(self, settings: Settings, client_id: str, *, pipeline_factory: Callable[[redis.Redis], Pipeline] | None = None,
                 retire: bool = False):
        self.settings = settings
        self.client_id = client_id
        self.stop = threading.Event()
        self.pipeline_factory = pipeline_factory
        self.stored = 0
        self.ready = threading.Event()  # set when the broker has acknowledged the subscriptions (SUBACK)
        # Retiring (`gridwatch ingest --retire ID`, after scaling down): resume ID's session,
        # leave the group at once (UNSUBSCRIBE: Mosquitto hands the group's new messages to the
        # other members, but still delivers what it queued for this session), store that
        # backlog, and end the session for good (session expiry 0 on DISCONNECT). Otherwise
        # the broker keeps queueing a share of every message for a session nobody resumes.
        self.retire = retire
        self.retired = False
        self._last_msg = time.monotonic()

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

        topics = subscriptions(self.settings)

        def on_connect(client, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                return
            self._last_msg = time.monotonic()
            if self.retire:
                if not flags.session_present:
                    log.warning("the broker kept no session for %s: nothing to retire", self.client_id)
                client.unsubscribe(topics)
            else:  # after every reconnect too: the broker may have lost the session
                client.subscribe([(t, SubscribeOptions(qos=1)) for t in topics])

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            # ready once the broker has acknowledged the subscriptions: from then on it delivers
            refused = [t for t, code in zip(topics, reason_codes) if code.is_failure]
            if refused:
                log.error("ingest %s: the broker refused %s", self.client_id, ", ".join(refused))
                return
            if not self.ready.is_set():
                log.info("ingest %s subscribed: %s", self.client_id, ", ".join(topics))
            self.ready.set()

        def on_message(client, userdata, msg):
            self._last_msg = time.monotonic()
            inbox.put(msg)

        # The broker's in-flight window (Receive Maximum) spans the batches in hand plus the
        # one being gathered, so it keeps sending while earlier batches are being stored.
        window = (self.IN_FLIGHT + 1 if stage else 2) * self.settings.ingest_batch
        try:
            client = connect(self.settings, self.client_id, manual_ack=True, receive_maximum=window,
                             on_message=on_message, on_connect=on_connect, on_subscribe=on_subscribe)
        except BaseException:
            if stage:
                stage.close()
            raise
        if self.retire:
            self.ready.set()   # nothing to subscribe: the session's backlog comes as it is
            log.info("ingest %s retiring: storing the backlog of its session", self.client_id)
        try:
            if stage:
                self._loop_split(stage, inbox, client)
            else:
                self._loop(pipeline, inbox, client)
        finally:
            if self.retired:
                from paho.mqtt.packettypes import PacketTypes
                from paho.mqtt.properties import Properties

                end = Properties(PacketTypes.DISCONNECT)
                end.SessionExpiryInterval = 0  # the broker forgets the session: nothing queues for it
                client.disconnect(properties=end)
                log.info("ingest %s retired: %d messages of its backlog stored, session ended",
                         self.client_id, self.stored)
            else:
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

    def _drained(self, inbox: queue.SimpleQueue, inflight: dict | None = None) -> bool:
        """Retiring: nothing in hand and nothing came for QUIET_S (the backlog is stored)."""
        if not self.retire or inflight or not inbox.empty() or time.monotonic() - self._last_msg < self.QUIET_S:
            return False
        self.retired = True
        return True

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
                pipeline.flush()
                if self._drained(inbox):
                    pipeline.flush(force=True)
                    return
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
                try:
                    stage.send(seq, [(m.topic, m.payload) for m in batch])
                except OSError:
                    pass  # the store process is gone: settle() starts another and sends this again
            if inflight and not settle(0.0):
                return
            if not batch and self._drained(inbox, inflight):
                return
        # stopping: let the store finish what it has (it gives up only if Redis is away)
        stage.stop.set()
        deadline = time.monotonic() + 30.0
        while inflight and time.monotonic() < deadline:
            if not settle(0.2):
                return
