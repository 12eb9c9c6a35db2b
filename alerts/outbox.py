"""The downlink outbox: messages for devices are written to a Redis stream in the same
transaction as the change that causes them, then published to MQTT (QoS 1) by whichever
dispatcher reads them; an entry is deleted only after the broker's PUBACK, so a dispatcher
killed between commit and publish leaves it pending for another (or itself) to resend.
"""
from __future__ import annotations

import logging
import time

import orjson
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


class Sender:
    """Moves outbox entries to MQTT. Several may run at once (one consumer group)."""

    def __init__(self, r: redis.Redis, client, consumer: str, *, claim_idle_ms: int = 10_000,
                 puback_timeout_s: float = 5.0):
        self.r = r
        self.client = client
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.puback_timeout_s = puback_timeout_s
        self.sent = 0

    def step(self, block_ms: int = 1000, count: int = 200) -> int:
        """Read new entries (waiting up to block_ms), publish them; returns how many were acked."""
        res = self.r.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {keys.OUTBOX: ">"},
                                count=count, block=block_ms)
        entries = [e for _stream, batch in (res or []) for e in batch]
        return self._publish(entries)

    def pending_own(self) -> int:
        """Resend what this consumer had read but not confirmed before it was restarted."""
        res = self.r.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {keys.OUTBOX: "0"}, count=1000)
        return self._publish([e for _s, batch in (res or []) for e in batch if e[1]])

    def reclaim(self, count: int = 200) -> int:
        """Take over entries another (dead) sender read but never confirmed, and send them."""
        res = self.r.xautoclaim(keys.OUTBOX, keys.OUTBOX_GROUP, self.consumer,
                                min_idle_time=self.claim_idle_ms, start_id="0-0", count=count)
        entries = [e for e in res[1] if e and e[1]]
        return self._publish(entries)

    def _publish(self, entries) -> int:
        if not entries:
            return 0
        infos = []
        for entry_id, fields in entries:
            f = {text(k): v for k, v in fields.items()}
            info = self.client.publish(text(f["topic"]), f["payload"], qos=1)
            infos.append((entry_id, info))
        done = []
        deadline = time.monotonic() + self.puback_timeout_s
        for entry_id, info in infos:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as e:  # not connected, queue full
                log.warning("downlink %s not published: %s", text(entry_id), e)
                continue
            if info.is_published():
                done.append(entry_id)
        if done:
            with self.r.pipeline(transaction=True) as p:  # cluster pipelines default to none
                p.xack(keys.OUTBOX, keys.OUTBOX_GROUP, *done)
                p.xdel(keys.OUTBOX, *done)
                p.execute()
        self.sent += len(done)
        return len(done)
