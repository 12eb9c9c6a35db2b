"""The append-only audit log: one Redis stream of every order, recipient and alert change with
actor, time and before/after; per-order and per-day export; and a replay that rebuilds state.

Writers never call XADD on their own: they queue `record(...)` into the same MULTI as the
change it describes, so a change without its entry (or the reverse) cannot exist.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from zoneinfo import ZoneInfo

import orjson

from alerts import keys
from gridwatch.redisconn import text

FIELDS = ("id", "ts", "actor", "kind", "event", "order", "device", "alert", "before", "after", "data")


@dataclass(frozen=True)
class Entry:
    id: str
    ts: float
    actor: str
    kind: str        # order | recipient | alert
    event: str       # issued, added, transition, escalated, closed, cancelled, raised, ...
    order: str = ""
    device: str = ""
    alert: str = ""
    before: str = ""
    after: str = ""
    data: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {
            "id": self.id, "ts": self.ts, "time": _iso(self.ts), "actor": self.actor,
            "kind": self.kind, "event": self.event, "order": self.order, "device": self.device,
            "alert": self.alert, "before": self.before, "after": self.after, "data": self.data,
        }


def record(pipe, *, ts: float, actor: str, kind: str, event: str, order: str = "",
           device: str = "", alert: str = "", before: str = "", after: str = "",
           data: dict | None = None) -> None:
    """Queue one audit entry (and its live notice) into `pipe`, which must be in MULTI."""
    fields = {
        "ts": repr(float(ts)), "actor": actor, "kind": kind, "event": event, "order": order,
        "device": device, "alert": alert, "before": before, "after": after,
        "data": orjson.dumps(data or {}),
    }
    pipe.xadd(keys.AUDIT, fields)
    if order:
        # A per-order copy, so an order's trail is read without scanning the whole log.
        pipe.xadd(keys.order_audit(order), fields)
    notice = orjson.dumps({k: (v if k != "data" else data or {}) for k, v in fields.items()} | {"ts": ts})
    channel = keys.CHANNEL_ALERTS if kind == "alert" else keys.CHANNEL_ORDERS
    pipe.execute_command("EVAL", _PUBLISH_LUA, 1, keys.AUDIT, channel, notice)


# PUBLISH names no key, so a Redis Cluster client cannot place it in the transaction's slot (and
# refuses it in a pipeline); this one-line script names the audit key (the `{orders}` slot) and
# publishes from inside the MULTI all the same: the notice goes out only if the change commits.
_PUBLISH_LUA = "return redis.call('PUBLISH', ARGV[1], ARGV[2])"


def _entry(stream_id, fields: dict) -> Entry:
    f = {text(k): v for k, v in fields.items()}
    s = lambda k: text(f.get(k))  # noqa: E731
    return Entry(
        id=text(stream_id),
        ts=float(s("ts") or 0), actor=s("actor"), kind=s("kind"), event=s("event"),
        order=s("order"), device=s("device"), alert=s("alert"), before=s("before"),
        after=s("after"), data=orjson.loads(f.get("data") or b"{}"),
    )


def read(r, start: str = "-", end: str = "+", count: int | None = None) -> list[Entry]:
    return [_entry(i, f) for i, f in r.xrange(keys.AUDIT, start, end, count=count)]


def read_order(r, order_id: str) -> list[Entry]:
    return [_entry(i, f) for i, f in r.xrange(keys.order_audit(order_id))]


def read_day(r, day: date, tz: str = "Asia/Shanghai") -> list[Entry]:
    """Entries of one calendar day in the bureau's time zone (stream ids are epoch ms)."""
    start = datetime.combine(day, dtime.min, ZoneInfo(tz))
    end = start + timedelta(days=1)
    lo, hi = max(0, int(start.timestamp() * 1000)), max(0, int(end.timestamp() * 1000) - 1)
    return read(r, f"{lo}-0", f"{hi}-18446744073709551615")


def to_json(entries: list[Entry]) -> bytes:
    return orjson.dumps([e.row() for e in entries])


def to_csv(entries: list[Entry]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=["id", "time", "ts", *FIELDS[2:]], lineterminator="\n")
    w.writeheader()
    for e in entries:
        row = e.row()
        row["data"] = orjson.dumps(e.data).decode()
        w.writerow(row)
    return out.getvalue()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo("Asia/Shanghai")).isoformat(timespec="milliseconds")


@dataclass
class Replayed:
    """State rebuilt from the log alone: what the stores should hold if the log is whole."""

    orders: dict[str, str] = field(default_factory=dict)
    recipients: dict[tuple[str, str], str] = field(default_factory=dict)
    alerts: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def replay(entries: list[Entry]) -> Replayed:
    """Fold the log into the latest state of every order, recipient and alert.

    Each entry's `before` must match what the log said so far; a mismatch is a hole or a
    rewrite in the log and is reported in `problems` (the property test expects none).
    """
    out = Replayed()
    for e in entries:
        if e.kind == "order":
            table, key = out.orders, e.order
        elif e.kind == "recipient":
            table, key = out.recipients, (e.order, e.device)
        elif e.kind == "alert":
            table, key = out.alerts, e.alert
        else:
            out.problems.append(f"{e.id}: unknown kind {e.kind!r}")
            continue
        if e.before == e.after:
            continue  # a note on the subject (acknowledging a cleared alert), not a move
        if table.get(key, "") != e.before:
            out.problems.append(f"{e.id}: {e.kind} {key} was {table.get(key, '')!r}, entry says {e.before!r}")
        table[key] = e.after
    return out
