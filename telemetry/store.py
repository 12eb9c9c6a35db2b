"""The live position store in Redis: latest state per device, H3 cell membership, presence,
the events stream for alerts, trails, and the pub/sub channel of live deltas.

Every key is listed in docs/redis.md (and named in telemetry/keys.py). Each write of live
state is ONE server-side script, telemetry/store.lua (state, cell membership, presence and
event in one atomic step, all under the `{live}` hash tag so it stays in one Redis Cluster
slot); a batch of them goes out in one pipeline (telemetry/batch.py).
"""
from __future__ import annotations

import time
from typing import Any, Iterable, NamedTuple

import h3
import orjson
import redis
from redis.cluster import RedisCluster

from gridwatch.redisconn import text_or_none, texts
from gridwatch.settings import Settings
from telemetry import lua, tally
from telemetry.batch import Batch, ClusterBatch, as_bytes
from telemetry.keys import (CELL, DEFAULT_STATUS, DELTAS, DEV, EVENTS, FIXAGE, FIXAGE_S, LIVE, OCC, OCCST,  # noqa: F401
                            REC_SEP, SEEN, STATS, trail_key)
from telemetry.protocols import Ack, Fix, Heartbeat, Status
from telemetry.tally import Tally

# The write script's flags (their sum is its reply), named in telemetry/store.lua too.
MOVED = 1   # the live position moved (not a late fix)
EVENT = 2   # an event was written to EVENTS
BACK = 4    # the device came back from its will


def _apply_script() -> lua.Script:
    return lua.load("store.lua", MOVED=MOVED, EVENT=EVENT, BACK=BACK, SEP=REC_SEP, DEFAULT_STATUS=DEFAULT_STATUS,
                    FIXAGE_S=FIXAGE_S)


def _num(v: float | None) -> str:
    """Compact decimal text for Redis (no float noise, '' for absent)."""
    if v is None:
        return ""
    t = type(v)
    if t is int:  # the common types first: this runs ~16 times per stored fix
        return str(v)
    if t is float and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if t is not float and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6f}".rstrip("0").rstrip(".")


def presence(tst: float | None, seen: float | None, gone: bool, now: float,
             stale_s: float, offline_s: float) -> str:
    """live / stale / offline: the will or `offline_s` without any message makes a device
    offline; a position older than `stale_s` makes it stale."""
    if gone or seen is None or now - seen > offline_s:
        return "offline"
    if tst is None or now - tst > stale_s:
        return "stale"
    return "live"


class DeviceState(NamedTuple):
    device: str
    person: str | None
    role: str | None
    lat: float | None
    lon: float | None
    tst: float | None       # time of the latest fix (device clock)
    seen: float | None      # time of the latest message (our clock)
    status: str             # duty status: on_duty (default), off_duty, busy, sos
    fresh: str              # presence: live, stale, offline
    batt: float | None
    acc: float | None
    vel: float | None
    cog: float | None
    alt: float | None
    l1: str | None
    l2: str | None
    cell: str | None

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


class TrailFix(NamedTuple):
    tst: float
    lat: float
    lon: float
    acc: float | None
    vel: float | None
    cog: float | None
    batt: float | None
    alt: float | None


def _f(v: Any) -> float | None:
    if v is None or v == b"" or v == "":
        return None
    return float(v)


class LiveStore:
    """Reads and writes of the live store. Writers: the ingest pipeline. Readers: nearest,
    alerts, dashboard. Nobody else touches the keys."""

    def __init__(self, r: redis.Redis, settings: Settings) -> None:
        self.r = r
        self.settings = settings
        self.res = settings.h3_res
        self.coarse_res = settings.h3_coarse_res
        self._apply = r.register_script(_apply_script().source)
        self._expiring: set[str] = set()
        self._tmpl_sha: str | None = None
        self._tmpl = b""
        self._roster: tuple[str | None, dict[str, tuple[str, str]]] | None = None  # (version, roster)

    # ---- writes (ingest) -------------------------------------------------------------------

    def _common(self, op: str, device: str, now: float, person: str | None, role: str | None) -> list:
        return [op, device, f"{now:.3f}", person or "", role or "", self.settings.events_maxlen, CELL]

    def _keys(self, device: str, cell: str = "", coarse: str = "") -> list[str]:
        return [DEV + device, SEEN, FIXAGE, OCC, EVENTS, CELL + cell, CELL + coarse]

    def queue_fix(self, pipe, fix: Fix, now: float, person: str | None, role: str | None,
                  l1: str | None, l2: str | None) -> None:
        """Queue the live write (one script call) and the trail write of one accepted fix."""
        cell = h3.latlng_to_cell(fix.lat, fix.lon, self.res)
        coarse = h3.cell_to_parent(cell, self.coarse_res)
        if type(pipe) is Batch:
            # The hot path: the same command as below, packed through a template (a third of
            # the worker's time went to packing ~30 arguments one by one).
            enc = [x.encode() for x in (
                DEV + fix.device, CELL + cell, CELL + coarse, fix.device, f"{now:.3f}", person or "", role or "",
                _num(fix.tst), _num(fix.lat), _num(fix.lon), _num(fix.acc), _num(fix.alt), _num(fix.vel),
                _num(fix.cog), _num(fix.batt), fix.st or "", cell, coarse, l1 or "", l2 or "")]
            flat: list = [None] * 40
            flat[::2] = map(len, enc)
            flat[1::2] = enc
            pipe.raw(self._fix_template() % tuple(flat))
        else:
            args = self._common("fix", fix.device, now, person, role) + [
                _num(fix.tst), _num(fix.lat), _num(fix.lon), _num(fix.acc), _num(fix.alt), _num(fix.vel),
                _num(fix.cog), _num(fix.batt), fix.st or "", cell, coarse, l1 or "", l2 or "",
            ]
            pipe.evalsha(self._apply.sha, 7, *self._keys(fix.device, cell, coarse), *args)
        self.queue_trail(pipe, fix)

    def _fix_template(self) -> bytes:
        """The EVALSHA of a fix in RESP, the layout of _keys and _common: constants filled in, a
        (%d length, %b value) slot for each of queue_fix's 20 variable arguments. Rebuilt if the
        script's sha changes."""
        sha = self._apply.sha
        if self._tmpl_sha != sha:
            var = b"$%d\r\n%b\r\n"

            def const(x) -> bytes:
                x = as_bytes(x)
                return (b"$%d\r\n" % len(x) + x + b"\r\n").replace(b"%", b"%%")

            self._tmpl = b"".join([
                b"*30\r\n", const("EVALSHA"), const(sha), const("7"),
                var, const(SEEN), const(FIXAGE), const(OCC), const(EVENTS), var, var,  # KEYS
                const("fix"), var, var, var, var, const(self.settings.events_maxlen), const(CELL),
                var * 13])
            self._tmpl_sha = sha
        return self._tmpl

    def queue_trail(self, pipe, fix: Fix) -> None:
        b = self.settings.trail_bucket_s
        bucket = int(fix.tst // b) * b
        key = trail_key(fix.device, bucket)
        member = REC_SEP.join((_num(fix.tst), _num(fix.lat), _num(fix.lon), _num(fix.acc), _num(fix.vel),
                               _num(fix.cog), _num(fix.batt), _num(fix.alt)))
        if type(pipe) is Batch:
            k, sc, m = key.encode(), repr(float(fix.tst)).encode(), member.encode()
            pipe.raw(b"*4\r\n$4\r\nZADD\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"
                     % (len(k), k, len(sc), sc, len(m), m))
        else:
            pipe.zadd(key, {member: float(fix.tst)})
        if key not in self._expiring:
            # one EXPIREAT per bucket per worker: the bucket lives retention past its end
            if len(self._expiring) > 500_000:
                self._expiring.clear()
            self._expiring.add(key)
            pipe.expireat(key, int(bucket + b + self.settings.trail_retention_s))

    def queue_status(self, pipe, msg: Status, now: float, person: str | None, role: str | None) -> None:
        if msg.will:
            args = self._common("will", msg.device, now, person, role)
        else:
            args = self._common("status", msg.device, now, person, role) + [
                msg.st, _num(msg.tst), _num(msg.lat), _num(msg.lon), _num(msg.batt), msg.note or ""]
        pipe.evalsha(self._apply.sha, 7, *self._keys(msg.device), *args)

    def queue_seen(self, pipe, msg: Heartbeat, now: float, person: str | None, role: str | None) -> None:
        args = self._common("seen", msg.device, now, person, role) + [_num(msg.batt)]
        pipe.evalsha(self._apply.sha, 7, *self._keys(msg.device), *args)

    def forget(self, devices: Iterable[str]) -> int:
        """Drop devices that left the dataset from the live state (cells, presence counts,
        listings); their trails expire as usual. Returns how many were asked for."""
        pipe = self.batch()
        devices = list(devices)
        for d in devices:
            pipe.evalsha(self._apply.sha, 7, *self._keys(d), *self._common("forget", d, time.time(), "", ""))
        self.execute(pipe)
        return len(devices)

    def queue_ack(self, pipe, msg: Ack, now: float, person: str | None, role: str | None) -> None:
        args = self._common("ack", msg.device, now, person, role) + [
            msg.order, msg.state, _num(msg.tst), msg.note or ""]
        pipe.evalsha(self._apply.sha, 7, *self._keys(msg.device), *args)

    def batch(self) -> Batch | ClusterBatch:
        if isinstance(self.r, RedisCluster):
            return ClusterBatch(self.r)
        return Batch(self.r)

    def execute(self, pipe) -> list:
        """Run a queued batch (or redis-py pipeline); after a Redis restart (script cache
        empty) load the script and run it again: every queued write is idempotent or guarded
        by `tst` (a trail EXPIREAT may be missing then: it is re-sent, see _expiring)."""
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            self._apply.sha = self.r.script_load(self._apply.script)
            self._expiring.clear()
            return pipe.execute()

    def queue_stats(self, pipe, t: Tally) -> None:
        """Add a batch's counts to the shared tally (telemetry/tally.py)."""
        tally.queue(pipe, t)

    def stats(self) -> dict:
        """The shared tally of every worker (telemetry/tally.py: `read`)."""
        return tally.read(self.r)

    def ensure_scripts(self) -> None:
        self._apply.sha = self.r.script_load(self._apply.script)

    def publish_deltas(self, deltas: Iterable[dict]) -> int:
        payload = orjson.dumps(list(deltas))
        return self.r.publish(DELTAS, payload)

    # ---- reads ---------------------------------------------------------------------------

    def _state(self, device: str, h: dict, now: float) -> DeviceState:
        g = {k.decode(): v for k, v in h.items()}
        tst, seen = _f(g.get("tst")), _f(g.get("seen"))
        gone = "gone" in g
        return DeviceState(
            device, text_or_none(g.get("person")), text_or_none(g.get("role")), _f(g.get("lat")), _f(g.get("lon")), tst, seen,
            text_or_none(g.get("st")) or DEFAULT_STATUS,
            presence(tst, seen, gone, now, self.settings.stale_s, self.settings.offline_s),
            _f(g.get("batt")), _f(g.get("acc")), _f(g.get("vel")), _f(g.get("cog")), _f(g.get("alt")),
            text_or_none(g.get("l1")), text_or_none(g.get("l2")), text_or_none(g.get("cell")),
        )

    def device(self, device: str, now: float | None = None) -> DeviceState | None:
        h = self.r.hgetall(DEV + device)
        return self._state(device, h, time.time() if now is None else now) if h else None

    def device_ids(self) -> list[str]:
        """The devices the store has heard from."""
        return [d.decode() for d in self.r.zrange(SEEN, 0, -1)]

    def roster(self) -> dict[str, tuple[str, str]]:
        """The registered devices of the current dataset, {device: (person, role)} ({} when
        none was loaded): `gridwatch load` writes them (geodata.store.fetch_roster), this reads
        them again only when another version is current."""
        from geodata.store import current_version, fetch_roster

        version = current_version(self.r)
        if self._roster is None or self._roster[0] != version:
            got = fetch_roster(self.r, version) if version is not None else None
            self._roster = got if got is not None else (version, {})
        return self._roster[1]

    def devices(self, ids: Iterable[str] | None = None, now: float | None = None) -> list[DeviceState]:
        """Every registered device and every device the store has heard from (or the given
        ones that it has heard from), one pipeline. A registered device that never reported is
        listed offline, without position, `seen` None."""
        now = time.time() if now is None else now
        roster = self.roster() if ids is None else {}
        ids = self.device_ids() if ids is None else list(ids)
        if roster:
            heard = set(ids)
            ids += sorted(d for d in roster if d not in heard)
        pipe = self.r.pipeline(transaction=False)
        for d in ids:
            pipe.hgetall(DEV + d)
        out = []
        for d, h in zip(ids, pipe.execute()):
            if h:
                out.append(self._state(d, h, now))
            elif d in roster:
                person, role = roster[d]
                out.append(DeviceState(d, person, role, None, None, None, None, "on_duty", "offline",
                                       *([None] * 8)))
        return out

    def presence_counts(self, now: float | None = None) -> dict[str, int]:
        """Devices by presence, from the presence sorted set and fix-age buckets (no scan); the
        registered devices that never reported are offline."""
        now = time.time() if now is None else now
        s = self.settings
        roster = list(self.roster())
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(SEEN)
        pipe.zcount(SEEN, "-inf", f"({now - s.offline_s!r}")
        pipe.hgetall(FIXAGE)
        if roster:
            pipe.zmscore(SEEN, roster)
        total, offline, buckets, *seen = pipe.execute()
        never = sum(1 for x in seen[0] if x is None) if seen else 0
        # A fix time is capped by its arrival, so every offline device is in an old bucket too;
        # bucket granularity (FIXAGE_S) is the precision of the stale count.
        cutoff = (now - s.stale_s) / FIXAGE_S
        old_fix = sum(int(n) for b, n in buckets.items() if int(b) + 1 <= cutoff)
        stale = max(0, old_fix - offline)
        return {"live": max(0, total - offline - stale), "stale": stale, "offline": offline + never}

    def trail(self, device: str, t0: float, t1: float) -> list[TrailFix]:
        """A device's fixes with t0 <= tst <= t1, in time order (late fixes included)."""
        b = self.settings.trail_bucket_s
        start = int(t0 // b) * b
        keys = [trail_key(device, k) for k in range(start, int(t1) + 1, b)]
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.zrangebyscore(k, t0, t1)
        out: list[TrailFix] = []
        for members in pipe.execute():
            for m in members:
                p = m.decode().split(REC_SEP)
                out.append(TrailFix(float(p[0]), float(p[1]), float(p[2]), *(_f(x) for x in p[3:8])))
        return out

    def latest_fixes(self, devices: Iterable[str]) -> list[Fix]:
        """The stored latest fix of each device (seeds the jump filter after a restart)."""
        devices = list(devices)
        pipe = self.r.pipeline(transaction=False)
        for d in devices:
            pipe.hmget(DEV + d, "tst", "lat", "lon", "acc")
        out = []
        for d, (tst, lat, lon, acc) in zip(devices, pipe.execute()):
            if tst is not None and lat is not None:
                out.append(Fix(d, float(tst), float(lat), float(lon), _f(acc)))
        return out

    def events(self, count: int = 100, start: str = "-") -> list[tuple[str, dict[str, str]]]:
        """Events in order, decoded (for tests and operators; the dispatcher uses XREADGROUP)."""
        return [(i.decode(), parse_event(f)) for i, f in self.r.xrange(EVENTS, start, "+", count=count)]


def parse_event(fields: dict) -> dict[str, str]:
    """One events-stream entry as text, empty fields left out (format in docs/redis.md)."""
    return {k: v for k, v in texts(fields).items() if v != ""}
