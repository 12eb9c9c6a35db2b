"""What alerts needs to know about grids, people and live devices, behind one small interface.

`World` is the seam to geodata/ and telemetry/: orders and alerts ask it where a point lies,
who is responsible, who is nearest and what a device is doing; they never read those
packages' Redis keys themselves (STYLE.md: alerts read the store, never reach into its keys).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from alerts.choice import Candidate


@dataclass(frozen=True)
class DeviceView:
    """One device's latest state, as the presence, geofence and battery checks need it."""

    device: str
    person: str | None
    status: str | None        # last duty status: on_duty, off_duty, busy, sos (None: never sent)
    fresh: str                # live, stale, offline
    lat: float | None
    lon: float | None
    battery: float | None
    ts: float | None          # time of the latest position or status
    own_grids: tuple[str, ...] = ()
    in_grids: tuple[str, ...] = ()   # grids (level 1 and 2) holding the latest position


class World(Protocol):
    def locate(self, lat: float, lon: float) -> tuple[str | None, str | None]:
        """(level-1 grid, level-2 grid) holding the point."""

    def responsible(self, grid: str) -> str | None:
        """The supervisor responsible for the grid (level-1 or level-2 after the grid's level)."""

    def device_of(self, person: str) -> str | None: ...

    def person_of(self, device: str) -> str | None: ...

    def candidate(self, device: str) -> Candidate | None:
        """The device's live status and freshness (distance unset); None when unknown."""

    def nearest(self, lat: float, lon: float, k: int, exclude: Iterable[str] = ()) -> list[Candidate]:
        """Up to k eligible (on duty, live) supervisors' devices by great-circle distance."""

    def devices(self) -> Iterable[DeviceView]:
        """Every registered supervisor's device with its latest state."""
