"""The deployment files: the compose file validates, and the commands it runs exist."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian) not installed")
def test_compose_file_validates():
    env = dict(os.environ, GW_WEB_MQTT_PASSWORD="a", GW_INGEST_MQTT_PASSWORD="b", GW_DISPATCHER_MQTT_PASSWORD="c", GW_PG_PASSWORD="d")
    res = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_every_service_command_is_a_gridwatch_command():
    from typer.testing import CliRunner

    from gridwatch.cli import app

    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, svc in spec["services"].items():
        cmd = svc.get("command")
        if cmd and cmd[0] == "gridwatch":
            res = CliRunner().invoke(app, cmd[1:2] + ["--help"])
            assert res.exit_code == 0, f"{name}: {cmd}"
    assert {"redis", "mosquitto", "postgres", "migrate", "ingest", "dispatcher", "web"} <= set(spec["services"])
    assert "healthcheck" in spec["services"]["postgres"] and spec["services"]["postgres"]["volumes"]
    assert "appendonly" in " ".join(spec["services"]["redis"]["command"])
