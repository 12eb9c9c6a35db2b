"""Fixtures shared by every test: private Redis and Mosquitto servers on free ports.

Session-scoped servers serve most tests (each test gets a flushed database); a test that
kills or restarts a server asks for the function-scoped `own_redis` / `own_mosquitto`.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from gridwatch.services import MosquittoServer, RedisServer, ensure_on_path
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
