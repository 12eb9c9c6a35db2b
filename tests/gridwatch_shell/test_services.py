"""The local server launcher `gridwatch demo` and the fixtures use."""
import os
from pathlib import Path

import redis

from gridwatch.services import MosquittoServer, RedisServer


def test_relative_workdirs_work_as_in_the_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo's default is the relative ./var/
    with RedisServer(workdir=Path("var/redis")) as rs, MosquittoServer(workdir=Path("var/mosquitto")) as ms:
        assert redis.Redis.from_url(rs.url).ping()
        assert ms.running and (tmp_path / "var/mosquitto/mosquitto.conf").exists()
    assert not rs.running and not ms.running  # the with-block stops what it started


def test_restart_keeps_the_port_and_kill_stops(tmp_path):
    rs = RedisServer(workdir=tmp_path / "r").start()
    port = rs.port
    rs.kill()
    assert not rs.running
    rs.start()
    try:
        assert rs.port == port and redis.Redis.from_url(rs.url).ping()
    finally:
        rs.stop()
    assert os.path.isdir(tmp_path / "r")
