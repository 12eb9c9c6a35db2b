"""What a web process holds for its lifetime: settings, one Redis client, accounts, and the
dataset read from the store (grids, index, registry), built once at start-up."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import redis

from dashboard.auth import Accounts
from gridwatch.settings import Settings


@dataclass
class WebContext:
    settings: Settings
    r: redis.Redis
    accounts: Accounts
    _closers: list = field(default_factory=list)
    _cache: dict = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> "WebContext":
        r = redis.Redis.from_url(settings.redis_url, socket_timeout=5, health_check_interval=30)
        return cls(settings=settings, r=r, accounts=Accounts(r, settings.secret_key))

    @cached_property
    def dataset(self):
        from geodata.store import fetch_dataset

        return fetch_dataset(self.r)

    @cached_property
    def index(self):
        from geodata.index import GridIndex

        return GridIndex.from_grids(self.dataset.grids)

    @cached_property
    def registry(self):
        from geodata.registry import Registry

        return Registry(self.dataset)

    def cached(self, key: str, build):
        """Values built once per process (grid GeoJSON, bounds): the grids change only on reload."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @cached_property
    def grid_names(self) -> dict[str, str]:
        g = self.dataset.grids
        return dict(zip(g["id"], g["name"]))

    def on_close(self, fn) -> None:
        self._closers.append(fn)

    def close(self) -> None:
        for fn in reversed(self._closers):
            fn()
        self.r.close()
