"""What a web process holds for its lifetime: settings, one Redis client, accounts, and the
dataset read from the store (grids, index, registry), built on first use and again after
`gridwatch load` makes another version current (`follow_dataset`)."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property

import redis

from dashboard.auth import Accounts
from gridwatch.redisconn import connect
from gridwatch.settings import Settings


@dataclass
class WebContext:
    settings: Settings
    r: redis.Redis
    accounts: Accounts
    _closers: list = field(default_factory=list)
    _cache: dict = field(default_factory=dict)
    _watch: object = None  # geodata.store.VersionWatch of the version `dataset` was read from
    _mqtt_lock: threading.Lock = field(default_factory=threading.Lock)

    # what is built from the dataset, dropped when another version becomes current
    DATASET_DERIVED = ("dataset", "index", "registry", "world", "orders", "alerts", "coverage_grid",
                       "person_names", "entity_density", "grid_names")
    DATASET_CHECK_S = 5.0

    def follow_dataset(self, force: bool = False) -> bool:
        """At most every DATASET_CHECK_S (page layouts and the live hub call it): if `gridwatch
        load` made another dataset version current, drop what was built from the old one; it
        is rebuilt on next use. Pages already open keep their grid layers until reloaded."""
        if "dataset" not in self.__dict__ or self._watch.newer(force) is None:
            return False
        for name in self.DATASET_DERIVED:
            self.__dict__.pop(name, None)
        self._cache.clear()
        return True

    @classmethod
    def build(cls, settings: Settings) -> "WebContext":
        r = connect(settings.redis_url, socket_timeout=5, health_check_interval=30)
        return cls(settings=settings, r=r, accounts=Accounts(r, settings.secret_key))

    @cached_property
    def dataset(self):
        from geodata.store import VersionWatch, current_version, fetch_dataset

        # the version first: a load in between is seen at the next look
        self._watch = VersionWatch(self.r, self.DATASET_CHECK_S, current_version(self.r))
        return fetch_dataset(self.r)

    @property
    def dataset_version(self) -> str | None:
        """The version the dataset in use was read from."""
        self.dataset  # noqa: B018 - read it (and its version) first
        return self._watch.version

    @cached_property
    def index(self):
        from geodata.index import GridIndex

        return GridIndex.from_grids(self.dataset.grids)

    @cached_property
    def registry(self):
        from geodata.registry import Registry

        return Registry(self.dataset)

    @cached_property
    def store(self):
        from telemetry.store import LiveStore

        return LiveStore(self.r, self.settings)

    @cached_property
    def world(self):
        from alerts.live import RedisWorld

        return RedisWorld(self.r, self.settings, dataset=self.dataset, index=self.index)

    @cached_property
    def orders(self):
        from alerts.orders import Orders

        return Orders(self.r, self.settings, self.world)

    @cached_property
    def alerts(self):
        from alerts.alerts import Alerts

        return Alerts(self.r, self.settings, self.world, self.orders)

    @cached_property
    def pipeline(self):
        from telemetry.ingest import Pipeline

        return Pipeline.from_redis(self.r, self.settings)

    @cached_property
    def coverage_grid(self):
        from layers.coverage import jurisdiction_cells

        return jurisdiction_cells(self.dataset.grids)

    @cached_property
    def person_names(self) -> dict[str, str]:
        p = self.dataset.people
        return dict(zip(p["id"], p["name"]))

    @cached_property
    def metrics_registry(self):
        """What /metrics serves: the shared ingest tally and presence, read from Redis per
        scrape (every worker's counts, whichever web process answers)."""
        from prometheus_client import CollectorRegistry

        from telemetry.ingest import SharedMetrics

        registry = CollectorRegistry(auto_describe=False)
        registry.register(SharedMetrics(self.store))
        return registry

    @cached_property
    def db(self):
        """The records database: a pool (connections checked before use, so a restarted server is
        taken up again by itself). The schema must be current (`gridwatch db upgrade`)."""
        from casework.schema import require_current
        from gridwatch.db import DatabaseUnavailable, pool

        try:
            url = self.settings.db_url()
        except RuntimeError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        require_current(url)
        p = pool(url)

        def close() -> None:  # a context used again after close (a second lifespan) opens a new pool
            self.__dict__.pop("db", None)
            p.close()
        self.on_close(close)
        return p

    def database_status(self) -> str:
        """For /api/health: ok, not configured, or down with the reason."""
        from gridwatch.db import unavailable

        try:
            self.settings.db_url()
        except RuntimeError:
            return "not configured"
        try:
            with self.db.connection() as conn:
                conn.execute("SELECT 1")
            return "ok"
        except Exception as exc:  # noqa: BLE001 - health reports any failure
            down = unavailable(exc)
            return f"down: {down or exc}"

    @cached_property
    def media(self):
        from casework.media import MediaStore

        return MediaStore(self.settings.media_path(), self.settings.media_max_mb * 1024 * 1024)

    @cached_property
    def hub(self):
        from dashboard.live import LiveHub

        return LiveHub(self)

    def start_mqtt(self) -> None:
        """One MQTT connection per web process, for /api/health (the dispatcher sends orders)."""
        from telemetry.mqtt import connect

        try:
            self._mqtt = connect(self.settings, f"gw-web-{os.getpid()}-{id(self)}", clean_start=True, timeout=2.0)
        except Exception:  # noqa: BLE001 - health reports it; paho keeps retrying once connected
            self._mqtt = None
        if self._mqtt is not None:
            client = self._mqtt

            def close() -> None:
                client.disconnect()
                client.loop_stop()
                self._mqtt = None
            self.on_close(close)

    def mqtt_connected(self) -> bool:
        if getattr(self, "_mqtt", None) is None:
            # One at a time: health checks arriving together in worker threads would each connect
            # under the same client id, and the broker drops the older connection for the newer.
            with self._mqtt_lock:
                if getattr(self, "_mqtt", None) is None:
                    self.start_mqtt()
        return self._mqtt is not None and self._mqtt.is_connected()

    def cached(self, key: str, build):
        """Values built once per process (grid GeoJSON, bounds): the grids change only on reload."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # -- the map's datum: every coordinate sent to the map goes through to_map, every point read
    # from it (a click, the visible bounds) through from_map (layers/datum.py).

    def to_map(self, geo: dict) -> dict:
        from layers.datum import to_map

        return to_map(geo, self.settings.tile_datum)

    def to_map_point(self, lat: float, lon: float) -> tuple[float, float]:
        from layers.datum import to_map_point

        return to_map_point(lat, lon, self.settings.tile_datum)

    def from_map(self, lat: float, lon: float) -> tuple[float, float]:
        from layers.datum import from_map_point

        return from_map_point(lat, lon, self.settings.tile_datum)

    @cached_property
    def entity_density(self):
        """Entity counts per H3 cell at each drawn resolution, once per dataset."""
        from layers.density import density_counts

        e = self.dataset.entities
        return density_counts(e["lat"].to_numpy(float), e["lon"].to_numpy(float))

    @cached_property
    def grid_names(self) -> dict[str, str]:
        g = self.dataset.grids
        return dict(zip(g["id"], g["name"]))

    def on_close(self, fn) -> None:
        self._closers.append(fn)

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for fn in reversed(closers):
            fn()
        self.r.close()
