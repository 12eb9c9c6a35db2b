"""Filters, pure: decide whether a decoded message may be used, or name why not.

Traccar's FilterHandler in small functions: coordinates, future, past, accuracy, jump
(impossible speed), duplicate, unknown device. The reason strings are the label values of
`gridwatch_ingest_dropped_total{reason}`, next to the decode reasons in protocols.py.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import h3

from gridwatch.settings import Settings
from telemetry.protocols import Ack, Fix, Heartbeat, Status

BAD_COORDINATES = "bad_coordinates"
FUTURE = "future"
TOO_OLD = "too_old"
POOR_ACCURACY = "poor_accuracy"
JUMP = "jump"
DUPLICATE = "duplicate"
UNKNOWN_DEVICE = "unknown_device"
BAD_VALUE = "bad_value"

# Every reason a message can be dropped for, decode and filter together (for metrics/docs).
ALL_REASONS = (
    "oversize", "not_json", "schema", "unknown_topic", "ignored_type", "person_mismatch",
    "foreign_topic", UNKNOWN_DEVICE, BAD_COORDINATES, FUTURE, TOO_OLD, POOR_ACCURACY, JUMP,
    DUPLICATE, BAD_VALUE,
)


class Limits(NamedTuple):
    future_s: float = 300.0
    max_age_s: float = 7 * 24 * 3600.0
    max_accuracy_m: float = 500.0
    max_speed_kmh: float = 200.0
    min_jump_m: float = 50.0

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(settings.future_tolerance_s, settings.max_fix_age_s, settings.max_accuracy_m,
                   settings.max_speed_kmh, settings.min_jump_m)


def check_time(tst: float | None, now: float, lim: Limits) -> str | None:
    if tst is None:
        return None
    if not math.isfinite(tst) or tst > now + lim.future_s:
        # A future-dated fix would freeze the live position (traccar-web#716): never store it.
        return FUTURE
    if tst < now - lim.max_age_s:
        return TOO_OLD
    return None


def check_coordinates(lat: float, lon: float) -> str | None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return BAD_COORDINATES
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return BAD_COORDINATES
    if lat == 0.0 and lon == 0.0:  # "null island": a receiver with no fix yet
        return BAD_COORDINATES
    return None


def check_fix(fix: Fix, now: float, lim: Limits) -> str | None:
    """Everything that can be said of a fix on its own."""
    reason = check_coordinates(fix.lat, fix.lon) or check_time(fix.tst, now, lim)
    if reason:
        return reason
    if fix.acc is not None and (not math.isfinite(fix.acc) or fix.acc < 0 or fix.acc > lim.max_accuracy_m):
        return POOR_ACCURACY
    if fix.batt is not None and not (0 <= fix.batt <= 100):
        return BAD_VALUE
    return None


def implied_speed_kmh(a: Fix, b: Fix, lim: Limits) -> float:
    """Speed needed to go from a to b, after granting both fixes their stated accuracy and
    `min_jump_m` of slack (GPS noise on a standing phone must not look like a jump)."""
    d = h3.great_circle_distance((a.lat, a.lon), (b.lat, b.lon), "m")
    slack = (a.acc or 0.0) + (b.acc or 0.0) + lim.min_jump_m
    if d <= slack:
        return 0.0
    dt = abs(b.tst - a.tst)
    return math.inf if dt == 0 else (d - slack) / dt * 3.6


def check_jump(fix: Fix, last: Fix | None, lim: Limits) -> str | None:
    if last is None:
        return None
    if fix.tst == last.tst and fix.lat == last.lat and fix.lon == last.lon:
        return DUPLICATE
    if implied_speed_kmh(last, fix, lim) > lim.max_speed_kmh:
        return JUMP
    return None


class FixFilter:
    """The stateful shell around check_jump: remembers each device's last accepted fix (and
    the last one rejected as a jump). Two consecutive fixes that agree with each other but not
    with the last accepted one win: otherwise one bad accepted fix would freeze the device."""

    def __init__(self, lim: Limits, max_devices: int = 200_000) -> None:
        self.lim = lim
        self.last: dict[str, Fix] = {}
        self.rejected: dict[str, Fix] = {}
        self.max_devices = max_devices

    def seed(self, fix: Fix) -> None:
        """Tell the filter about a device's stored latest fix (after a restart)."""
        self.last.setdefault(fix.device, fix)

    def check(self, fix: Fix, now: float) -> str | None:
        reason = check_fix(fix, now, self.lim)
        if reason:
            return reason
        last = self.last.get(fix.device)
        if last is not None and fix.tst < last.tst:
            # A late fix (offline queue flushed): judge it against nothing newer; it only
            # goes to the trail. Exact duplicates of old fixes are idempotent in the trail.
            return None
        reason = check_jump(fix, last, self.lim)
        if reason == JUMP:
            prev = self.rejected.get(fix.device)
            if prev is not None and prev.tst < fix.tst and check_jump(fix, prev, self.lim) is None:
                reason = None  # two agreeing fixes outvote the one we had
            else:
                self.rejected[fix.device] = fix
                return JUMP
        if reason:
            return reason
        if len(self.last) >= self.max_devices and fix.device not in self.last:
            self.last.clear()  # bounded memory; a cleared device just skips one jump check
        self.last[fix.device] = fix
        self.rejected.pop(fix.device, None)
        return None


def check_status(msg: Status, now: float, lim: Limits) -> str | None:
    if msg.batt is not None and not (0 <= msg.batt <= 100):
        return BAD_VALUE
    return check_time(msg.tst, now, lim)


def check_heartbeat(msg: Heartbeat) -> str | None:
    """A heartbeat is presence at arrival time (our clock): only its battery can be wrong."""
    if msg.batt is not None and not (0 <= msg.batt <= 100):
        return BAD_VALUE
    return None


def check_ack(msg: Ack, now: float, lim: Limits) -> str | None:
    return check_time(msg.tst, now, lim)
