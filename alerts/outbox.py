"""The downlink outbox: messages for devices are written to a Redis stream in the same
transaction as the change that causes them, then published to MQTT (QoS 1) by whichever
dispatcher reads them; an entry is deleted only after the broker's PUBACK, so a dispatcher
killed between commit and publish leaves it pending for another (or itself) to resend.

Each entry is handed to paho at most once per broker connection: not while the client is
offline (paho would queue a copy per try and send them all on reconnect), not again while paho
holds it (in flight or queued). On reconnect, paho's own copies are dropped before it can
resend them, and the sender resends what is still pending under its own name, once.
"""
from __future__ import annotations

import logging
import threading
import time

import orjson
import paho.mqtt.client as mqtt
import redis

from alerts import keys
from alerts.audit import text

log = logging.getLogger(__name__)


def queue(pipe, root: str, device: str, suffix: str, payload: dict, *, order: str = "") -> None:
    """Queue one downlink (`<root>/<device>/<suffix>`) into `pipe`, which is in MULTI."""
    pipe.xadd(keys.OUTBOX, {"topic": f"{root}/{device}/{suffix}", "payload": orjson.dumps(payload),
                            "order": order, "queued": repr(time.time())})


def ensure_group(r: redis.Redis) -> None:
    try:
        # From the start of the stream: messages queued before any dispatcher ran are sent too.
        r.xgroup_create(keys.OUTBOX, keys.OUTBOX_GROUP, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def _acked(info) -> bool:
    """Whether the broker PUBACKed it; a message paho refused or could not send is not."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False


class Sender:
    """Moves outbox entries to MQTT. Several may run at once (one consumer group).

    The sender owns its client's QoS 1 queue: it chains the client's on_connect and
    on_disconnect, and on every reconnect drops what paho still holds (`drop_out_messages`),
    because paho 2.2 resends its unacknowledged messages on any reconnect, clean start or not,
    and the outbox resends the same entries itself (`resend` reads this consumer's pending
    entries: those another dispatcher took over meanwhile are no longer among them)."""

    def __init__(self, r: redis.Redis, client, consumer: str, *, claim_idle_ms: int = 10_000,
                 puback_timeout_s: float = 5.0):
        self.r = r
        self.client = client
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.puback_timeout_s = puback_timeout_s
        self.sent = 0
        # entry id -> paho's MQTTMessageInfo, for entries handed to paho on this connection
        self.held: dict = {}
        self._lock = threading.Lock()  # held, online and the hand-over to paho, against the callbacks
        self._online = client.is_connected()
        self._reconnected = threading.Event()
        self._chained = (client.on_connect, client.on_disconnect)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect

    # -- paho's network thread -------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            with self._lock:
                # Called before paho resends its queue: drop it, we resend from the outbox.
                dropped = client.drop_out_messages()
                self.held.clear()
                self._online = True
                self._reconnected.set()
            if dropped:
                log.info("reconnected: %d unconfirmed downlinks to resend from the outbox", len(dropped))
        if self._chained[0] is not None:
            self._chained[0](client, userdata, flags, reason_code, properties)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._lock:
            self._online = False
        if self._chained[1] is not None:
            self._chained[1](client, userdata, flags, reason_code, properties)

    # -- the outbox loop's thread ----------------------------------------------------------
    def step(self, block_ms: int = 1000, count: int = 200) -> int:
        """Read new entries (waiting up to block_ms), publish them; returns how many were acked.
        After a reconnect, first resend this consumer's pending entries."""
        n = self.resend() if self._reconnected.is_set() else 0
        res = self.r.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {keys.OUTBOX: ">"},
                                count=count, block=block_ms)
        entries = [e for _stream, batch in (res or []) for e in batch]
        return n + self._publish(entries)

    def pending_own(self) -> int:
        """Send what this consumer read but has not confirmed (before a restart, or while the
        broker was away), except what paho holds on this connection."""
        n, start = 0, "0"
        while True:
            res = self.r.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {keys.OUTBOX: start}, count=1000)
            batch = [e for _s, b in (res or []) for e in b]
            if not batch:
                return n
            start = text(batch[-1][0])
            n += self._publish([e for e in batch if e[1]])

    def resend(self) -> int:
        """After a reconnect: this consumer's pending entries, once."""
        self._reconnected.clear()
        return self.pending_own()

    def reclaim(self, count: int = 200) -> int:
        """Take over entries another (dead) sender read but never confirmed, and send them.
        Not while offline: they could not be sent, and a live dispatcher may be able to."""
        if not self._online:
            return 0
        res = self.r.xautoclaim(keys.OUTBOX, keys.OUTBOX_GROUP, self.consumer,
                                min_idle_time=self.claim_idle_ms, start_id="0-0", count=count)
        entries = [e for e in res[1] if e and e[1]]
        return self._publish(entries)

    def _publish(self, entries) -> int:
        infos = []
        for entry_id, fields in entries:
            f = {text(k): v for k, v in fields.items()}
            with self._lock:
                # Offline: left pending, resent on reconnect. Held: paho sends it, or drops it
                # on reconnect and it is resent then.
                if not self._online or entry_id in self.held:
                    continue
                info = self.client.publish(text(f["topic"]), f["payload"], qos=1)
                # Any other outcome (sent, or NO_CONN: the link just dropped) leaves it in
                # paho's queue; a refused one stays pending here and is taken up by `reclaim`.
                if info.rc != mqtt.MQTT_ERR_QUEUE_SIZE:
                    self.held[entry_id] = info
                infos.append((entry_id, info))
        deadline = time.monotonic() + self.puback_timeout_s
        for entry_id, info in infos:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as e:  # not connected, queue full
                log.warning("downlink %s not published yet: %s", text(entry_id), e)
        return self.confirm()

    def confirm(self) -> int:
        """Delete the entries the broker has acknowledged since the last call."""
        with self._lock:
            done = [entry_id for entry_id, info in self.held.items() if _acked(info)]
            for entry_id in done:
                del self.held[entry_id]
        if done:
            with self.r.pipeline(transaction=True) as p:  # cluster pipelines default to none
                p.xack(keys.OUTBOX, keys.OUTBOX_GROUP, *done)
                p.xdel(keys.OUTBOX, *done)
                p.execute()
        self.sent += len(done)
        return len(done)
