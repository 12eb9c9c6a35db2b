"""Fixtures of the alerts tests: settings with short timeouts, and a small fixed world for the
tests of the order desk's own logic (the end-to-end tests use the real registry and store)."""
from __future__ import annotations

import pytest

from alerts.world import DeviceView, StaticWorld

POINT = (28.2600, 117.0300)


def issue(orders, point, *, actor: str = "user:coord", now: float | None = None, **fields) -> dict:
    """An emergency order at `point` through `orders.issue` (the one helper of the alerts and
    deploy tests); `fields` override the body's (title, recipients, k, ...)."""
    body = {"lat": point[0], "lon": point[1], "title": "stall fire", "body": "market hall", "kind": "emergency",
            "priority": 1, **fields}
    return orders.issue(body, actor) if now is None else orders.issue(body, actor, now=now)


def _view(device, person, dlat, status="on_duty", fresh="live", battery=80.0):
    return DeviceView(device, person, status, fresh, POINT[0] + dlat, POINT[1], battery, 0.0,
                      own_grids=("g2",), in_grids=("g1", "g2"))


@pytest.fixture
def world() -> StaticWorld:
    """d1 is the responsible level-2 supervisor; d2..d7 stand farther and farther north."""
    views = {f"d{i}": _view(f"d{i}", f"p{i}", 0.001 * i) for i in range(1, 8)}
    views["l1d"] = _view("l1d", "l1p", 0.5, status="off_duty")  # the level-1 supervisor, not asked
    return StaticWorld(views, responsible={"g2": "p1", "g1": "l1p"}, grids={POINT: ("g1", "g2")})


@pytest.fixture
def fast(settings):
    return settings.model_copy(update={"ack_timeout_s": 1.0, "escalation_depth": 2})
