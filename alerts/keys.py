"""Every Redis key and channel of the alerts package, in one place (documented in docs/redis.md).

All keys share the `{orders}` hash tag: an escalation changes an order, its recipients, a
timer, an alert and the audit log in one transaction, so they must live in one Cluster slot.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TAG = "gw:{orders}"

SEQ = f"{TAG}:seq"                      # string counter: order and alert numbers
ORDERS = f"{TAG}:orders"                # zset order id -> issued_at
OPEN_ORDERS = f"{TAG}:open"             # set of open order ids
TIMERS = f"{TAG}:timers"                # zset order id -> due time of its next escalation step
OUTBOX = f"{TAG}:outbox"                # stream of downlink messages waiting for MQTT delivery
AUDIT = f"{TAG}:audit"                  # stream, the append-only audit log
ALERTS = f"{TAG}:alerts"                # zset alert id -> raised_at
ACTIVE_ALERTS = f"{TAG}:alerts:active"  # hash episode key ("sos:dev-1") -> alert id
WATCH = f"{TAG}:watch"                  # hash device -> JSON of geofence/offline episode clocks

CHANNEL_ALERTS = "gw:alerts"            # pub/sub: every alert raised, acknowledged, cleared
CHANNEL_ORDERS = "gw:orders"            # pub/sub: every order and recipient change

OUTBOX_GROUP = "senders"


def order(order_id: str) -> str:
    return f"{TAG}:order:{order_id}"


def recipients(order_id: str) -> str:
    return f"{TAG}:order:{order_id}:rcpt"


def order_audit(order_id: str) -> str:
    return f"{TAG}:order:{order_id}:audit"


def alert(alert_id: str) -> str:
    return f"{TAG}:alert:{alert_id}"


def next_order_id(r, now: float, tz: str = "Asia/Shanghai") -> str:
    """`O250614-00042`: the bureau's date of issue and a counter; gaps are harmless."""
    day = datetime.fromtimestamp(now, ZoneInfo(tz)).strftime("%y%m%d")
    return f"O{day}-{r.incr(SEQ + ':order'):05d}"


def next_alert_id(r) -> str:
    return f"A{r.incr(SEQ + ':alert'):06d}"
