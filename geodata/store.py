"""The dataset in Redis, so every process reads the same grids, people and entities that
`gridwatch load` validated (docs/redis.md, section geodata).

A load writes a new immutable version under its content hash, then swaps one pointer key:
readers see the old dataset or the new one, never a mix, and loading the same data twice
writes nothing new.

Beside the dataset a load stores its grid index, serialised (`locator`): a process that only
needs point -> grid and device -> person (the ingest worker) reads it with `fetch_locator`
without importing geopandas, pandas or scipy (they are imported here only where used).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from typing import TYPE_CHECKING, NamedTuple

from gridwatch.redisconn import text, text_or_none, texts

if TYPE_CHECKING:
    from geodata.dataset import Dataset
    from geodata.index import GridIndex

CURRENT = "gw:{dataset}:current"
# A replaced version stays readable this long, for readers that fetched the old pointer.
OLD_VERSION_TTL_S = 600
PARTS = ("meta", "grids", "people", "entities", "devices", "locator")


def version_key(version: str, part: str) -> str:
    return f"gw:{{dataset}}:{version}:{part}"


def _serialise(ds: Dataset) -> dict[str, bytes]:
    grids = ds.grids[["id", "name", "level", "parent", "branch", "synthetic", "geometry"]]
    people = ds.people.assign(grid=ds.people["grids"].map(";".join))[["id", "name", "role", "grid", "device", "phone"]]
    return {
        "grids": grids.to_json(drop_id=True, ensure_ascii=False).encode(),
        "people": people.to_csv(index=False, lineterminator="\n").encode(),
        "entities": ds.entities.to_csv(index=False, lineterminator="\n").encode(),
    }


def save_dataset(r, ds: Dataset) -> dict[str, int]:
    """Stores the dataset and makes it current; returns its counts. Idempotent."""
    blobs = _serialise(ds)
    digest = hashlib.sha256()
    for name in ("grids", "people", "entities"):
        digest.update(name.encode() + b"\0" + blobs[name] + b"\0")
    version = digest.hexdigest()[:16]
    counts = ds.counts()
    old = text_or_none(r.get(CURRENT))
    if old == version and r.exists(version_key(version, "meta"), version_key(version, "locator")) == 2:
        return counts
    from geodata.index import GridIndex

    blobs["locator"] = GridIndex.from_grids(ds.grids).to_bytes()
    pipe = r.pipeline(transaction=False)
    for name, blob in blobs.items():
        pipe.set(version_key(version, name), blob)
    devices = {d: p for d, p in zip(ds.people["device"], ds.people["id"]) if isinstance(d, str) and d}
    pipe.delete(version_key(version, "devices"))
    if devices:
        pipe.hset(version_key(version, "devices"), mapping=devices)
    meta = {**{k: str(v) for k, v in counts.items()}, "version": version, "source": ds.source}
    pipe.delete(version_key(version, "meta"))
    pipe.hset(version_key(version, "meta"), mapping=meta)
    # A version is complete before the pointer moves; its keys never expire while current.
    for part in PARTS:
        pipe.persist(version_key(version, part))
    pipe.execute()
    pipe = r.pipeline(transaction=True)
    pipe.set(CURRENT, version)
    if old and old != version:
        for part in PARTS:
            pipe.expire(version_key(old, part), OLD_VERSION_TTL_S)
    pipe.execute()
    return counts


def current_version(r) -> str | None:
    return text_or_none(r.get(CURRENT))


class VersionWatch:
    """Notices `gridwatch load` making another dataset version current, asking Redis at most
    every `every_s`. Processes that hold what they built from a version (ingest pipelines, the
    dispatcher's world, web workers) ask `newer()` now and then, rebuild, and set `version`."""

    def __init__(self, r, every_s: float, version: str | None) -> None:
        self.r, self.every_s, self.version = r, every_s, version
        self._asked = time.monotonic()

    def newer(self, force: bool = False) -> str | None:
        """The current version if it is not `version` (and there is one), else None."""
        if self.version is None or (not force and time.monotonic() - self._asked < self.every_s):
            return None
        self._asked = time.monotonic()
        v = current_version(self.r)
        return v if v not in (None, self.version) else None


def fetch_dataset(r) -> Dataset:
    """The current dataset; LookupError when none was loaded (run `gridwatch load`)."""
    import geopandas as gpd
    import pandas as pd

    from geodata.dataset import Dataset, normalise_grids

    version = current_version(r)
    if version is None:
        raise LookupError("no dataset in the store: run `gridwatch load` first")
    grids_b, people_b, entities_b, meta = r.pipeline(transaction=False).get(
        version_key(version, "grids")).get(version_key(version, "people")).get(
        version_key(version, "entities")).hgetall(version_key(version, "meta")).execute()
    if grids_b is None or people_b is None or entities_b is None:
        raise LookupError(f"dataset version {version} is incomplete in the store: load it again")
    as_bytes = (lambda b: b if isinstance(b, bytes) else b.encode())
    features = json.loads(as_bytes(grids_b))["features"]
    grids = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    grids = normalise_grids(grids)
    people = pd.read_csv(io.BytesIO(as_bytes(people_b)), dtype=str, keep_default_na=False)
    people["grids"] = people["grid"].map(lambda s: tuple(x for x in s.split(";") if x))
    people = people[["id", "name", "role", "grids", "device", "phone"]].astype(object)
    for col in ("device", "phone"):
        people[col] = people[col].where(people[col] != "", None)
    entities = pd.read_csv(io.BytesIO(as_bytes(entities_b)), dtype={"uscc": str, "grid": str},
                           keep_default_na=False, na_values={"lat": [""], "lon": [""]})
    entities["grid"] = entities["grid"].astype(object).where(entities["grid"] != "", None)
    source = texts(meta).get("source", "")
    return Dataset(grids=grids, people=people, entities=entities, source=source)


class Locator(NamedTuple):
    """What the ingest needs of the dataset: point -> grids, device -> (person id, role)."""

    version: str
    index: GridIndex
    devices: dict[str, tuple[str, str]]


def fetch_locator(r) -> Locator:
    """The current version's stored grid index and device table, light to load (numpy and
    shapely only). LookupError when there is none, or it was stored by a loader with another
    index format (load again, or use fetch_dataset and build the index)."""
    from geodata.index import GridIndex

    version = current_version(r)
    if version is None:
        raise LookupError("no dataset in the store: run `gridwatch load` first")
    blob, people_b, devices = r.pipeline(transaction=False).get(version_key(version, "locator")).get(
        version_key(version, "people")).hgetall(version_key(version, "devices")).execute()
    if blob is None or people_b is None:
        raise LookupError(f"dataset version {version} has no stored locator: run `gridwatch load` again")
    try:
        index = GridIndex.from_bytes(blob)
    except ValueError as e:
        raise LookupError(f"dataset version {version}: {e}: run `gridwatch load` again") from e
    return Locator(version, index, _device_table(people_b, devices))


def _device_table(people_b, devices: dict) -> dict[str, tuple[str, str]]:
    """device -> (person id, role), from a version's people CSV and its devices hash."""
    role = {row["id"]: row["role"] for row in csv.DictReader(io.StringIO(text(people_b)))}
    return {text(d): (text(p), role.get(text(p))) for d, p in devices.items()}


def fetch_roster(r, version: str | None = None) -> tuple[str, dict[str, tuple[str, str]]] | None:
    """The registered devices of the current (or the given) dataset version: (version,
    {device: (person id, role)}), or None when no dataset was loaded. The one list of which
    devices exist: the live store lists them all, reported or not."""
    version = current_version(r) if version is None else version
    if version is None:
        return None
    people_b, devices = r.pipeline(transaction=False).get(version_key(version, "people")).hgetall(
        version_key(version, "devices")).execute()
    if people_b is None:
        return None
    return version, _device_table(people_b, devices)
