"""Fixtures shared by every test: private Redis and Mosquitto servers on free ports.

Session-scoped servers serve most tests (each test gets a flushed database); a test that
kills or restarts a server asks for the function-scoped `own_redis` / `own_mosquitto`.
"""
from __future__ import annotations

import functools
import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import redis

from gridwatch.services import MosquittoServer, PostgresServer, RedisServer, ensure_on_path
from gridwatch.settings import Settings

ensure_on_path()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> RedisServer:
    server = RedisServer(workdir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mosquitto_server(tmp_path_factory) -> MosquittoServer:
    server = MosquittoServer(workdir=tmp_path_factory.mktemp("mosquitto")).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path) -> RedisServer:
    server = RedisServer(workdir=tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def own_mosquitto(tmp_path) -> MosquittoServer:
    server = MosquittoServer(workdir=tmp_path / "mosquitto").start()
    yield server
    server.stop()


def _postgres_workdir() -> Path:
    # PostgreSQL runs as the `postgres` user when we are root, and pytest's tmp_path lies in a
    # root-only directory: the cluster lives in a mkdtemp() of its own, handed to that user.
    d = Path(tempfile.mkdtemp(prefix="gw-pg-"))
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
    return d


@pytest.fixture(scope="session")
def pg_server() -> PostgresServer:
    """One PostgreSQL cluster for the session (fsync off) with a migrated template database."""
    from casework import schema

    workdir = _postgres_workdir()
    server = PostgresServer(workdir=workdir / "pg", fsync=False, database="gw_template").start()
    schema.upgrade(server.url)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


_db_numbers = itertools.count()


@functools.lru_cache(maxsize=4)
def loaded(path):
    """A dataset directory read and validated once per test session (4-5 s for the demo): for
    tests that read it; one that changes a table changes a copy (`dataclasses.replace`)."""
    from geodata.dataset import load_dataset

    return load_dataset(Path(path).resolve())


def fresh_database(server: PostgresServer, template: str = "gw_template") -> str:
    """A new database copied from the migrated template (~20 ms); returns its URL."""
    import psycopg

    name = f"gw_test_{os.getpid()}_{next(_db_numbers)}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    return server.url_of(name)


HISTORY_UNTIL = "2018-06-30"   # the tests' history: the demo's first half-year (the demo runs to today)


@pytest.fixture(scope="session")
def records_dataset(demo_data, tmp_path_factory) -> Path:
    """The demo dataset with a short history of records (2018-01-01 .. HISTORY_UNTIL), written
    by the demo's own generator: grids, people and entities are the demo's (linked)."""
    from datetime import date

    from casework import history
    from geodata.dataset import load_dataset

    d = tmp_path_factory.mktemp("records-dataset") / "yingtan-short"
    d.mkdir()
    for name in ("grids.geojson", "people.csv", "entities.csv"):
        (d / name).symlink_to(demo_data / name)
    history.write(d, load_dataset(d), until=date.fromisoformat(HISTORY_UNTIL))
    return d


@pytest.fixture(scope="session")
def records_template(pg_server, records_dataset) -> str:
    """A template database with the demo's entity register, categories and the short history
    loaded (done once); `records_url` copies it per test."""
    from casework.records import load_dataset_records
    from gridwatch.db import connect

    import psycopg

    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "gw_records" TEMPLATE "gw_template"')
    with connect(pg_server.url_of("gw_records")) as conn:
        load_dataset_records(conn, loaded(records_dataset), records_dataset)
    return "gw_records"


@pytest.fixture
def records_url(pg_server, records_template) -> str:
    """A database of this test's own holding the demo register and the short history."""
    return fresh_database(pg_server, records_template)


@pytest.fixture
def db_url(pg_server) -> str:
    """A clean, migrated database of its own for this test."""
    return fresh_database(pg_server)


@pytest.fixture
def own_postgres() -> PostgresServer:
    """A PostgreSQL cluster of this test's own, migrated, that it may kill and restart."""
    from casework import schema

    workdir = _postgres_workdir()
    server = PostgresServer(workdir=workdir / "pg", fsync=True).start()
    schema.upgrade(server.url)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def rdb(redis_server) -> redis.Redis:
    """A client on the session Redis, flushed before the test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The generated Yingtan demo, shared by all tests: `var/yingtan` (or GRIDWATCH_TEST_DATA)
    when `make` has built it, else built once into a temporary directory."""
    from geodata.demo import build_demo_dataset

    d = Path(os.environ.get("GRIDWATCH_TEST_DATA", "var/yingtan"))
    if (d / "grids.geojson").exists():
        return d.resolve()
    d = tmp_path_factory.mktemp("yingtan")
    build_demo_dataset(d)
    return d


@pytest.fixture
def settings(redis_server, mosquitto_server, tmp_path, demo_data) -> Settings:
    """Settings pointing at the session servers; the data is the demo built once per session."""
    return Settings(
        redis_url=redis_server.url,
        mqtt_url=mosquitto_server.url,
        var_dir=tmp_path / "var",
        data=demo_data,
    )


@pytest.fixture
def db_settings(settings, db_url) -> Settings:
    """`settings` with a clean records database of the test's own."""
    return settings.model_copy(update={"database_url": db_url, "media_dir": settings.var_dir / "media"})
