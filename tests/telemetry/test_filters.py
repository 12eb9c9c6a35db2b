"""Filters, table-tested: each reason hit, and the jump filter's recovery from one bad fix."""
from __future__ import annotations

import math

import pytest

from telemetry.filters import FixFilter, Limits, check_ack, check_fix, check_status
from telemetry.protocols import Ack, Fix, Status

NOW = 1_800_000_000.0
LIM = Limits(future_s=300, max_age_s=86400, max_accuracy_m=500, max_speed_kmh=200, min_jump_m=50)


def fix(tst=NOW - 10, lat=28.25, lon=117.05, acc=10.0, batt=None, device="d"):
    return Fix(device, tst, lat, lon, acc, batt=batt)


@pytest.mark.parametrize("f,reason", [
    (fix(), None),
    (fix(lat=91), "bad_coordinates"),
    (fix(lat=-90.5), "bad_coordinates"),
    (fix(lon=180.01), "bad_coordinates"),
    (fix(lat=0.0, lon=0.0), "bad_coordinates"),
    (fix(lat=math.nan), "bad_coordinates"),
    (fix(tst=NOW + 301), "future"),
    (fix(tst=NOW + 299), None),
    (fix(tst=math.inf), "future"),
    (fix(tst=NOW - 86401), "too_old"),
    (fix(acc=501), "poor_accuracy"),
    (fix(acc=-1), "poor_accuracy"),
    (fix(acc=None), None),
    (fix(batt=101), "bad_value"),
])
def test_check_fix(f, reason):
    assert check_fix(f, NOW, LIM) == reason


def test_status_and_ack_times():
    assert check_status(Status("d", "sos", NOW + 1000), NOW, LIM) == "future"
    assert check_status(Status("d", "offline", None, will=True), NOW, LIM) is None
    assert check_ack(Ack("d", "o", "delivered", NOW - 90000), NOW, LIM) == "too_old"


def test_jump_duplicate_and_recovery():
    f = FixFilter(LIM)
    a = fix(tst=NOW - 100)
    assert f.check(a, NOW) is None
    assert f.check(a, NOW) == "duplicate"
    # 10 km in 10 s: 3600 km/h
    far = fix(tst=NOW - 90, lat=28.25 + 0.09)
    assert f.check(far, NOW) == "jump"
    # a second fix agreeing with the rejected one (and not with the accepted one) wins
    far2 = fix(tst=NOW - 80, lat=28.25 + 0.0901)
    assert f.check(far2, NOW) is None
    assert f.last["d"] == far2


def test_walking_and_gps_noise_are_not_jumps():
    f = FixFilter(LIM)
    assert f.check(fix(tst=NOW - 20), NOW) is None
    assert f.check(fix(tst=NOW - 20 + 1, lat=28.25 + 0.0004), NOW) is None  # 44 m in 1 s: noise
    assert f.check(fix(tst=NOW - 10, lat=28.25 + 0.0005), NOW) is None      # walking


def test_late_fix_is_not_judged_against_newer():
    f = FixFilter(LIM)
    assert f.check(fix(tst=NOW - 10), NOW) is None
    late = fix(tst=NOW - 3000, lat=28.30)
    assert f.check(late, NOW) is None
    assert f.last["d"].tst == NOW - 10
