"""`gridwatch demo` stops on Ctrl-C within seconds, with a wall's live stream open.

Ctrl-C reaches the whole process group (as a terminal sends it). Before the fix the web process
waited in uvicorn's graceful shutdown for the endless server-sent-event response until the
demo killed it 15 s later. The bound below (10 s) is generous: not a timing assert, a hang check.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

from gridwatch.services import free_port
from testkit.waiting import wait_for

GRIDS = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"id": "T1", "name": "Township", "level": 1, "parent": None},
     "geometry": {"type": "Polygon", "coordinates": [[[117.0, 28.2], [117.04, 28.2], [117.04, 28.3], [117.0, 28.3], [117.0, 28.2]]]}},
    {"type": "Feature", "properties": {"id": "V1", "name": "Village", "level": 2, "parent": "T1"},
     "geometry": {"type": "Polygon", "coordinates": [[[117.0, 28.2], [117.04, 28.2], [117.04, 28.3], [117.0, 28.3], [117.0, 28.2]]]}},
]}
PEOPLE = ("id,name,role,grid,device,phone\n"
          "p1,One,l1_supervisor,T1,dev-1,\n"
          "p2,Two,l2_supervisor,V1,dev-2,\n"
          "p3,Three,coordinator,,,\n")


def tiny_dataset(d):
    d.mkdir()
    (d / "grids.geojson").write_text(json.dumps(GRIDS))
    (d / "people.csv").write_text(PEOPLE)
    (d / "entities.csv").write_text("uscc,name,kind,category,address,lat,lon\n")
    return d


def group(pgid: int) -> list[str]:
    """The live (not zombie) processes of a process group."""
    out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split() and "Z" not in line.split()[1]]


def listening(ports: list[int]) -> list[int]:
    """Which of the demo's redis-server and mosquitto ports still accept connections."""
    out = []
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            out.append(port)
        except OSError:
            pass
    return out


def test_ctrl_c_stops_the_demo_within_seconds_with_a_live_stream_open(tmp_path):
    import shutil
    import tempfile

    port = free_port()
    # the demo's own PostgreSQL runs as the postgres user: its var/ must be reachable by it
    # (pytest's tmp_path lies in a root-only directory)
    var = tempfile.mkdtemp(prefix="gw-demo-var-")
    os.chmod(var, 0o755)
    env = {**os.environ, "GRIDWATCH_HTTP": f"127.0.0.1:{port}", "GRIDWATCH_VAR_DIR": var,
           "GRIDWATCH_DATA": str(tiny_dataset(tmp_path / "data"))}
    env.pop("GRIDWATCH_REDIS_URL", None)
    env.pop("GRIDWATCH_MQTT_URL", None)
    env.pop("GRIDWATCH_DATABASE_URL", None)
    demo = subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "demo"], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(base + "/api/health", timeout=1).status == 200, timeout=180,
                 what="the demo's web server")
        password = wait_for(lambda: next(ln.split()[-1] for ln in lines if ln.strip().startswith("login admin")),
                            what="the admin login")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        opener.open(base + "/login", data=urllib.parse.urlencode({"username": "admin", "password": password}).encode(),
                    timeout=10)
        stream = opener.open(base + "/api/live/deltas", timeout=60)  # what the wall keeps open
        assert stream.status == 200 and stream.readline()
        before = group(demo.pid)
        assert len(before) >= 5, before  # the demo, ingest (two), dispatcher, simulator, web
        ports = [int(p) for p in re.findall(r"//127\.0\.0\.1:(\d+)", next(ln for ln in lines if ln.startswith("redis ")))]
        ports += [int(p) for p in re.findall(r"@127\.0\.0\.1:(\d+)/", next(ln for ln in lines if ln.startswith("records database ")))]
        assert len(ports) == 3 and listening(ports) == ports
        os.killpg(demo.pid, signal.SIGINT)
        wait_for(lambda: not group(demo.pid) and not listening(ports), timeout=10,
                 what="every demo process, redis-server, mosquitto and postgres to stop")
        assert demo.wait(5) == 0
    finally:
        if group(demo.pid):
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(10)
        shutil.rmtree(var, ignore_errors=True)
