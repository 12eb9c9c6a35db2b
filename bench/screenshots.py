"""`make screenshots`: every page rendered in headless Chromium against a live stack, into
screenshots/: the wall at 1920x1080 and 3840x2160 (and at 3840x2160 with the casework layers
switched on in its layers control), the console, its draws and complaints desks and /analytics
at 1920x1080 (/analytics at 3840x2160 too), the supervisor's terminal, /report and the public
/complaint form at 390x844 (a phone), and the login page. For each it prints the viewport and
the document's scroll size, and whether the page fits without scrolling (the wall and the
console must).

The stack is the dashboard benchmark's (`bench.bench_dashboard.Stack`): Redis, Mosquitto, the
Yingtan demo dataset, `gridwatch ingest`, `dispatcher` and `web`; the simulator drives every
registered terminal, one order is issued with the default recipients and one to a named
supervisor, and one terminal raises an SOS, so the panels have something to show.

The records database: a private PostgreSQL with the demo's records loaded (minutes), or with
`--pg DIR` one kept by `python -m bench stats --keep DIR` (its x10 history), started from DIR/pg.

`.venv/bin/python -m bench.screenshots [--out DIR] [--pg DIR]`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.bench_dashboard import ROOT, Stack, chrome, login, wait_for

SUPERVISOR_PASSWORD = "pw-supervisor"


def populate(stack: Stack) -> dict:
    """Orders and an SOS, once the simulated terminals have reported."""
    from alerts.live import RedisWorld
    from alerts.orders import Orders
    from telemetry.store import LiveStore

    store = LiveStore(stack.r, stack.settings)
    people = stack.dataset.people
    l2 = people[(people["role"] == "l2_supervisor") & people["device"].notna()]
    me = l2.iloc[0]                      # the supervisor whose phone page is shown
    sos_device = l2.iloc[len(l2) // 2]["device"]
    wait_for(lambda: store.device(me["device"]) and store.device(sos_device), timeout=60,
             what="the simulated terminals' first reports")
    orders = Orders(stack.r, stack.settings, RedisWorld(stack.r, stack.settings))
    mine = store.device(me["device"])
    g = stack.dataset.grids
    pt = g[g["id"] == me["grids"][0]].iloc[0].geometry.representative_point()
    issued = [
        orders.issue({"lat": pt.y, "lon": pt.x, "title": "群众投诉：无证经营", "kind": "emergency", "priority": 1,
                      "body": "请到现场核查并反馈。"}, "user:coordinator"),
        orders.issue({"lat": mine.lat + 0.002, "lon": mine.lon + 0.002, "title": "食品安全抽检", "kind": "task",
                      "priority": 2, "body": "到店抽检冷链食品，拍照上传。", "recipients": [me["device"]]},
                     "user:coordinator"),
    ]
    client = stack.mqtt("screenshots-sos")
    try:
        client.publish(f"{stack.settings.topic_root}/{sos_device}/status",
                       orjson.dumps({"st": "sos", "tst": int(time.time()), "note": "现场冲突"}), qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
    return {"person": me["id"], "device": me["device"], "orders": [o["id"] for o in issued], "sos": sos_device}


def fit(driver) -> dict:
    return driver.execute_script(
        "const d = document.documentElement;"
        "return {w: innerWidth, h: innerHeight, sw: d.scrollWidth, sh: d.scrollHeight};")


def shot(stack: Stack, out: Path, work: Path, name: str, size: tuple[int, int], page: str, user: str | None,
         password: str = "", ready=None, act=None, must_fit: bool = True, expect: str | None = None) -> bool:
    driver = chrome(*size, work / f"chrome-{name}")
    try:
        if user is None:
            driver.get(stack.url + page)
        else:
            login(driver, stack.url, user, password, page,
                  expect=expect or (".gw-terminal" if page == "/terminal" else ".leaflet-container"))
        if ready is not None:
            wait_for(lambda: ready(driver), timeout=30, what=f"{name} to be populated")
        if act is not None:
            act(driver)
        time.sleep(2.0)  # fonts, tiles-less map and the last push settle
        f = fit(driver)
        fits = f["sh"] <= f["h"] and f["sw"] <= f["w"]
        path = out / f"{name}.png"
        driver.save_screenshot(str(path))
        verdict = "fits" if fits else ("SCROLLS" if must_fit else "scrolls (a phone page may)")
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: window {size[0]}x{size[1]}, "
              f"viewport {f['w']}x{f['h']}, document {f['sw']}x{f['sh']}: {verdict}", flush=True)
        return fits or not must_fit
    finally:
        driver.quit()


def analytics_drawn(d) -> bool:
    return d.execute_script("return !!(document.querySelector('#an-card-inspections .gw-an-num') && "
                            "document.querySelectorAll('#an-trend .bars .point').length && "
                            "document.querySelector('#an-weak li') && document.querySelector('#an-leaflet canvas'))")


def markers(n: int):
    return lambda d: d.execute_script("return Object.keys(window.gridwatch.drawn).length") >= n


def records_database(work: Path, kept: Path | None):
    """A PostgreSQL for the casework pages: the kept one, or a new one with the demo's records."""
    from gridwatch.services import PostgresServer

    if kept is not None:
        return PostgresServer(workdir=kept.resolve() / "pg").start()
    from casework import records, schema
    from geodata.dataset import load_dataset
    from geodata.demo import ensure_demo_dataset
    from gridwatch.db import connect

    if os.geteuid() == 0:
        shutil.chown(work, "postgres", "postgres")
    pg = PostgresServer(workdir=work / "pg").start()
    schema.upgrade(pg.url)
    data = ensure_demo_dataset(ROOT / "var" / "yingtan")
    with connect(pg.url) as c:
        records.load_dataset_records(c, load_dataset(data), data)
    return pg


def casework_on(driver) -> None:
    """The wall's casework layers switched on in its layers control (the tasks are on already)."""
    driver.execute_script("""
        for (const l of document.querySelectorAll('.leaflet-control-layers-overlays label'))
          if (/今日检查|未办结投诉|薄弱环节/.test(l.textContent) && !l.querySelector('input').checked)
            l.querySelector('input').click();""")
    # the weak-spot layer draws the level-2 outlines the grid layer fetched: a second entry
    wait_for(lambda: driver.execute_script("return performance.getEntriesByType('resource').filter("
                                           "e => e.name.includes('/maplayers/grids-l2.geojson')).length >= 2"),
             timeout=30, what="the weak-spot layer's outlines")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="screenshots", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "screenshots")
    ap.add_argument("--pg", type=Path, help="a directory kept by `python -m bench stats --keep DIR`")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gw-screenshots-"))
    sim = None
    pg = records_database(work, args.pg)
    os.environ["GRIDWATCH_DATABASE_URL"] = pg.url
    with Stack(work / "stack", dispatcher=True) as stack:
        try:
            sim = stack.simulator(0, interval_s=2.0, seed=11)
            sim.start()
            state = populate(stack)
            stack.accounts.add("supervisor", "supervisor", SUPERVISOR_PASSWORD, person=state["person"])
            people = stack.dataset.people
            reporter = people[people["role"] == "informant"].iloc[0]["id"]
            stack.accounts.add("reporter", "reporter", SUPERVISOR_PASSWORD, person=reporter)
            time.sleep(4.0)  # the dispatcher delivers, the SOS alert is raised, terminals answer
            n = int(len(sim.terminals) * 0.8)
            banner = lambda d: markers(n)(d) and "gw-on" in d.find_element("id", "wall-banner").get_attribute("class")  # noqa: E731
            pw = stack.passwords

            def pick(driver):
                from selenium.webdriver.common.by import By

                g = stack.dataset.grids
                driver.find_element(By.ID, "con-search").send_keys(g[g["level"] == 2].iloc[0]["id"] + "\n")
                wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#con-recipients input"), what="recipients")

            ok = all([
                shot(stack, args.out, work, "login", (1920, 1080), "/login", None),
                shot(stack, args.out, work, "wall-1920x1080", (1920, 1080), "/", "duty", pw["duty"], ready=banner),
                shot(stack, args.out, work, "wall-3840x2160", (3840, 2160), "/", "duty", pw["duty"], ready=banner),
                shot(stack, args.out, work, "console-1920x1080", (1920, 1080), "/console", "coordinator",
                     pw["coordinator"], ready=markers(n), act=pick),
                shot(stack, args.out, work, "terminal-390x844", (390, 844), "/terminal", "supervisor", SUPERVISOR_PASSWORD,
                     ready=lambda d: d.find_elements("css selector", ".gw-order"), must_fit=False),
                shot(stack, args.out, work, "wall-casework-3840x2160", (3840, 2160), "/", "coordinator",
                     pw["coordinator"], ready=banner, act=casework_on),
                shot(stack, args.out, work, "analytics-1920x1080", (1920, 1080), "/analytics", "coordinator",
                     pw["coordinator"], ready=analytics_drawn, must_fit=False),
                shot(stack, args.out, work, "analytics-3840x2160", (3840, 2160), "/analytics", "coordinator",
                     pw["coordinator"], ready=analytics_drawn, must_fit=False),
                shot(stack, args.out, work, "console-draws-1920x1080", (1920, 1080), "/console/draws", "coordinator",
                     pw["coordinator"], expect=".gw-draws", must_fit=False),
                shot(stack, args.out, work, "console-complaints-1920x1080", (1920, 1080), "/console/complaints",
                     "coordinator", pw["coordinator"], expect="body.cq", must_fit=False),
                shot(stack, args.out, work, "report-390x844", (390, 844), "/report", "reporter", SUPERVISOR_PASSWORD,
                     expect="body.rp", must_fit=False),
                shot(stack, args.out, work, "complaint-390x844", (390, 844), "/complaint", None, must_fit=False),
            ])
        finally:
            if sim is not None:
                sim.stop()
            pg.stop()
    print("all pages fit their screens" if ok else "some page does not fit its screen")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
