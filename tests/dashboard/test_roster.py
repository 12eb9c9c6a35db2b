"""The roster: every registered device is listed from the moment its dataset is loaded,
offline and without position until it reports, in /api/supervisors, the wall's counts and
gridwatch_live_devices; a device that leaves the dataset (`gridwatch load`) leaves them all.
Over a real uvicorn on real Redis (the demo dataset loaded) and Mosquitto."""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import httpx
import pytest

from dashboard.live import panels
from tests.dashboard.conftest import report, serve


@pytest.fixture(scope="module")
def web(web_stack):
    with serve(web_stack.server) as srv:
        with httpx.Client(base_url=srv.url, timeout=30,
                          headers={"Authorization": f"Bearer {web_stack.tokens['viewer1']}"}) as client:
            yield client


def registered(stack) -> list[str]:
    p = stack.ctx.dataset.people
    return sorted(p["device"].dropna())


def live_devices(web) -> dict[str, float]:
    out = {}
    for line in web.get("/metrics").text.splitlines():
        if line.startswith("gridwatch_live_devices{"):
            out[line.split('presence="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return out


def test_every_registered_device_is_listed_offline_before_it_reports(web, web_stack):
    devices = registered(web_stack)
    assert len(devices) == 175
    rows = {r["device"]: r for r in web.get("/api/supervisors").json()}
    assert set(rows) == set(devices)
    r = rows[devices[0]]
    assert (r["fresh"], r["lat"], r["lon"], r["last_seen"]) == ("offline", None, None, None)
    assert r["person"] and r["name"] and r["role"] and r["grids"]  # who carries it, from the dataset
    assert {x["device"] for x in web.get("/api/supervisors?status=offline").json()} == set(devices)
    # the metric and the wall's counts say the same
    assert live_devices(web) == {"live": 0, "stale": 0, "offline": 175}
    kpis = panels(web_stack.ctx)["kpis"]
    assert (kpis["live"], kpis["stale"], kpis["offline"]) == (0, 0, 175)


def test_a_device_that_reports_leaves_the_offline_count(web, web_stack):
    d = registered(web_stack)[1]
    report(web_stack.ctx, d, 28.25, 117.05)
    rows = {r["device"]: r for r in web.get("/api/supervisors").json()}
    assert len(rows) == 175 and rows[d]["fresh"] == "live" and rows[d]["last_seen"] is not None
    assert live_devices(web) == {"live": 1, "stale": 0, "offline": 174}
    kpis = panels(web_stack.ctx)["kpis"]
    assert (kpis["live"], kpis["offline"]) == (1, 174)


def test_devices_removed_from_the_dataset_leave_the_roster(web, web_stack, demo_data, tmp_path):
    """`gridwatch load` of the dataset without two devices, one that has reported and one
    that never did: both leave the listing, the wall's counts and the metric."""
    devices = registered(web_stack)
    reported, silent = devices[2], devices[3]
    report(web_stack.ctx, reported, 28.26, 117.06)
    text = (demo_data / "people.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        if row["device"] in (reported, silent):
            row["device"] = ""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    smaller = tmp_path / "smaller"
    smaller.mkdir()
    (smaller / "people.csv").write_text(out.getvalue())
    for name in ("grids.geojson", "entities.csv"):
        os.symlink(demo_data / name, smaller / name)

    def load(d):
        res = subprocess.run([sys.executable, "-m", "gridwatch.cli", "--redis-url", web_stack.settings.redis_url,
                              "load", str(d)], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return res.stdout

    try:
        said = load(smaller)
        assert "2 devices no longer registered" in said
        listed = {r["device"] for r in web.get("/api/supervisors").json()}
        assert reported not in listed and silent not in listed and len(listed) == 173
        counts = live_devices(web)
        assert sum(counts.values()) == 173
        kpis = panels(web_stack.ctx)["kpis"]
        assert kpis["live"] + kpis["stale"] + kpis["offline"] == 173
    finally:
        load(demo_data)
    assert len(web.get("/api/supervisors").json()) == 175
