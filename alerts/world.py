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

    def device(self, device: str) -> DeviceView | None: ...

    def devices(self) -> Iterable[DeviceView]:
        """Every registered supervisor's device with its latest state."""

    def follow_dataset(self, force: bool = False) -> bool:
        """Take a newly loaded dataset if there is one; True when the tables changed."""


class StaticWorld:
    """A World over fixed tables: people, devices and positions given up front, distances by
    haversine. For replaying and for tests of the order desk's own logic; the running system
    uses `RedisWorld` over the registry and the live store."""

    def __init__(self, devices: dict[str, DeviceView], responsible: dict[str, str] | None = None,
                 grids: dict[tuple[float, float], tuple[str | None, str | None]] | None = None):
        self.views = dict(devices)
        self.resp = dict(responsible or {})
        self.grids = dict(grids or {})

    def locate(self, lat, lon):
        return self.grids.get((lat, lon), (None, None))

    def responsible(self, grid):
        return self.resp.get(grid)

    def device_of(self, person):
        return next((v.device for v in self.views.values() if v.person == person), None)

    def person_of(self, device):
        v = self.views.get(device)
        return v.person if v else None

    def device(self, device):
        return self.views.get(device)

    def candidate(self, device):
        v = self.views.get(device)
        return None if v is None else Candidate(v.device, v.person, None, v.status or "on_duty", v.fresh)

    def nearest(self, lat, lon, k, exclude=()):
        from geodata.geo import distance_m

        def dist(v):
            return distance_m(lat, lon, v.lat, v.lon)

        ex = set(exclude)
        out = [Candidate(v.device, v.person, dist(v), v.status or "on_duty", v.fresh)
               for v in self.views.values()
               if v.device not in ex and v.lat is not None and (v.status or "on_duty") == "on_duty"
               and v.fresh == "live"]
        return sorted(out, key=lambda c: c.distance_m)[:k]

    def devices(self):
        return list(self.views.values())

    def follow_dataset(self, force: bool = False) -> bool:
        return False  # fixed tables
