"""The running system's World: grids and people from the dataset, devices from the live store,
nearest through telemetry's exact search. Built once per process from what is in Redis."""
from __future__ import annotations

import time
from typing import Iterable

from alerts.choice import Candidate
from alerts.world import DeviceView
from geodata.roles import SUPERVISOR_ROLES
from gridwatch.settings import Settings



def _rows(table) -> Iterable:
    return table.itertuples(index=False) if hasattr(table, "itertuples") else iter(table)


def _grids_of(p) -> tuple[str, ...]:
    g = getattr(p, "grids", None)
    if g is None:
        g = getattr(p, "grid", "")
    if isinstance(g, str):
        g = [x for x in g.split(";") if x]
    return tuple(g or ())


DATASET_CHECK_S = 30.0  # how often a world built from the store looks for a new dataset version


class RedisWorld:
    def __init__(self, r, settings: Settings, dataset=None, index=None):
        from telemetry.store import LiveStore

        self.r = r
        self.settings = settings
        self.store = LiveStore(r, settings)
        self.watch = None  # a VersionWatch when the dataset came from the store: then followed
        if dataset is None:
            from geodata.store import VersionWatch, current_version, fetch_dataset

            self.watch = VersionWatch(r, DATASET_CHECK_S, current_version(r))
            dataset = fetch_dataset(r)
        self._take(dataset, index)

    def _take(self, dataset, index=None) -> None:
        """Build the tables from a dataset, then swap them in (each an attribute assignment,
        so the dispatcher's threads see the old tables or the new, never a half-built one)."""
        from geodata.index import GridIndex

        people: dict[str, object] = {}
        device_person: dict[str, str] = {}
        responsible_of: dict[tuple[str, str], str] = {}
        for p in _rows(dataset.people):
            pid = str(p.id)
            people[pid] = p
            if isinstance(getattr(p, "device", None), str) and p.device:
                device_person[p.device] = pid
            for g in _grids_of(p):
                responsible_of.setdefault((g, p.role), pid)
        levels = dict(zip(dataset.grids["id"], dataset.grids["level"]))
        self.index = index or GridIndex.from_grids(dataset.grids)
        self.people, self.device_person, self.responsible_of = people, device_person, responsible_of
        self.level = {str(k): int(v) for k, v in levels.items()}

    def follow_dataset(self, force: bool = False) -> bool:
        """Every DATASET_CHECK_S (the dispatcher's timer loop calls it): if `gridwatch load`
        made another dataset version current, rebuild the people, responsibilities and grid
        index from it, so a new person or grid counts without restarting. True when it changed."""
        version = self.watch.newer(force) if self.watch is not None else None
        if version is None:
            return False
        from geodata.store import fetch_dataset

        self._take(fetch_dataset(self.r))
        self.watch.version = version
        return True

    def locate(self, lat, lon):
        l1, l2 = self.index.locate_one(lat, lon)
        return l1, l2

    def responsible(self, grid):
        role = "l2_supervisor" if self.level.get(grid) == 2 else "l1_supervisor"
        return self.responsible_of.get((grid, role))

    def device_of(self, person):
        d = getattr(self.people.get(person), "device", None)
        return d if isinstance(d, str) and d else None

    def person_of(self, device):
        return self.device_person.get(device)

    def candidate(self, device):
        s = self.store.device(device)
        if s is None:
            return Candidate(device, self.person_of(device), None, None, "offline")
        return Candidate(device, s.person or self.person_of(device), None, s.status, s.fresh)

    def nearest(self, lat, lon, k, exclude=()):
        from telemetry.nearest import nearest

        found = nearest(self.r, lat, lon, k, statuses=("on_duty",), max_age_s=self.settings.stale_s,
                        roles=SUPERVISOR_ROLES, exclude=exclude, now=time.time(),
                        res=self.settings.h3_res)
        # The live index holds only devices that have not sent their will; max_age_s keeps
        # the stale ones out, so what comes back is on duty and live.
        return [Candidate(c.device, c.person or self.person_of(c.device), c.distance_m, c.state, "live")
                for c in found]

    def _view(self, s) -> DeviceView:
        pid = s.person or self.person_of(s.device)
        p = self.people.get(pid) if pid else None
        return DeviceView(s.device, pid, s.status, s.fresh, s.lat, s.lon, s.batt, s.tst,
                          own_grids=_grids_of(p) if p is not None and p.role in SUPERVISOR_ROLES else (),
                          in_grids=tuple(g for g in (s.l1, s.l2) if g))

    def device(self, device):
        s = self.store.device(device)
        return None if s is None else self._view(s)

    def devices(self):
        """Registered devices the store has heard from (never-seen ones raise nothing)."""
        ids = [d for d in self.store.device_ids() if d in self.device_person]
        return [self._view(s) for s in self.store.devices(ids)]
