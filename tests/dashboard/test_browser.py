"""The pages in real headless Chromium against a real stack: Redis, Mosquitto, `gridwatch
ingest` and `gridwatch dispatcher` processes, the web app under uvicorn, and terminals that
are paho clients publishing over MQTT."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest
from selenium.webdriver.common.by import By

from tests.dashboard.conftest import console_errors, serve
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(web_stack, tmp_path_factory):
    env = dict(os.environ, GRIDWATCH_REDIS_URL=web_stack.settings.redis_url,
               GRIDWATCH_MQTT_URL=web_stack.settings.mqtt_url, GRIDWATCH_ACK_TIMEOUT_S="120")
    logs = tmp_path_factory.mktemp("logs")
    procs = [subprocess.Popen([sys.executable, "-m", "gridwatch.cli", cmd], env=env,
                              stdout=open(logs / f"{cmd}.log", "wb"), stderr=subprocess.STDOUT)
             for cmd in ("ingest", "dispatcher")]
    # The ingest's shared subscription must exist before terminals publish: wait for a probe.
    p = web_stack.ctx.dataset.people
    probe = Terminal(web_stack.settings, p[p["role"] == "l1_supervisor"]["device"].iloc[-1])
    wait_for(lambda: (probe.report(28.3, 117.2), web_stack.ctx.store.device(probe.device))[1], timeout=60,
             what=f"the ingest to store a probe (logs in {logs})")
    probe.close()
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack
    for p in procs:
        p.terminate()
        p.wait(15)


class Terminal:
    """A supervisor's phone: MQTT persistent session, answers orders with an acknowledgement."""

    def __init__(self, settings, device: str, answer: str | None = "acknowledged"):
        from telemetry.mqtt import connect

        self.device, self.root, self.orders = device, settings.topic_root, []

        def on_message(client, _u, msg):
            o = orjson.loads(msg.payload)
            self.orders.append(o)
            if answer and o.get("_type") == "order":
                client.publish(f"{self.root}/{device}/ack", orjson.dumps(
                    {"order": o["id"], "state": answer, "tst": int(time.time())}), qos=1)

        self.client = connect(settings, f"term-{device}", on_message=on_message)
        self.client.subscribe(f"{self.root}/{device}/orders", qos=1)

    def report(self, lat, lon, st="on_duty", ago=0):
        self.client.publish(f"{self.root}/{self.device}/loc", orjson.dumps(
            {"_type": "location", "lat": lat, "lon": lon, "tst": int(time.time() - ago), "acc": 8, "st": st}), qos=1)

    def status(self, st):
        self.client.publish(f"{self.root}/{self.device}/status", orjson.dumps({"st": st, "tst": int(time.time())}), qos=1)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def login(chrome, url, user, password, page="/"):
    chrome.get(f"{url}/login?next={page}")
    chrome.find_element(By.NAME, "username").send_keys(user)
    chrome.find_element(By.NAME, "password").send_keys(password)
    chrome.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, ".leaflet-container"), what="the map")


def drawn(chrome, device):
    return chrome.execute_script("return window.gridwatch && window.gridwatch.drawn[arguments[0]]", device)


# A device's marker: its place in the page and the supervisor layer's pixel there (the layer is
# one canvas painted by gridwatch.js, so the colour is read from it).
MARKER_JS = """
const done = arguments[arguments.length - 1];
const g = window.gridwatch, l = g.supervisorLayer(), d = g.drawn[arguments[0]];
if (!l || !l._map || !d) return done(null);
const m = l._map, cp = m.latLngToContainerPoint([d.lat, d.lon]), r = m.getContainer().getBoundingClientRect();
const x = r.left + cp.x, y = r.top + cp.y;
l.pixel(x, y).then(rgba => done({rgba: rgba, x: x, y: y}));
"""


def marker_colour(chrome, device, rgb):
    """The marker is drawn with this fill colour (canvas blending may move a channel by a few)."""
    m = chrome.execute_async_script(MARKER_JS, device)
    return bool(m) and m["rgba"][3] > 200 and all(abs(a - b) <= 4 for a, b in zip(m["rgba"], rgb))


def hover_marker(chrome, device) -> str:
    """Moves the pointer onto the device's marker (a real DOM event, hit-tested by the layer)
    and returns the tooltip's text."""
    m = chrome.execute_async_script(MARKER_JS, device)
    chrome.execute_script("""document.querySelector("#wall-map, #con-map").dispatchEvent(new MouseEvent("mousemove",
        {clientX: arguments[0], clientY: arguments[1], bubbles: true}));""", m["x"], m["y"])
    return chrome.execute_script("const t = document.querySelector('.leaflet-tooltip'); return t && t.textContent")


def l2_devices(stack, n):
    p = stack.ctx.dataset.people
    return list(p[(p["role"] == "l2_supervisor") & p["device"].notna()]["device"].head(n))


def test_wall_shows_grids_and_live_markers_that_move(stack, chrome):
    dev, = l2_devices(stack, 1)
    term = Terminal(stack.settings, dev)
    try:
        term.report(28.2400, 117.0400, ago=10)
        login(chrome, stack.url, "viewer1", "pw-viewer1")
        wait_for(lambda: "鹰潭" in chrome.find_element(By.CSS_SELECTOR, ".gw-title").text, what="the title")
        # The grids are drawn (canvas renderer: count the layer's features via Leaflet's panes).
        assert chrome.execute_script("return document.querySelectorAll('.leaflet-overlay-pane canvas').length") >= 1
        # The map fills the wall left of the panels: it starts at the left edge and ends where they begin.
        box = chrome.execute_script("""const r = e => document.querySelector(e).getBoundingClientRect();
            return {map: r('#wall-map').left, mapRight: r('#wall-map').right, side: r('.gw-side').left,
                    sideRight: r('.gw-side').right, width: window.innerWidth};""")
        assert box["map"] == 0 and abs(box["mapRight"] - box["side"]) <= 1 and abs(box["sideRight"] - box["width"]) <= 1, box
        first = wait_for(lambda: drawn(chrome, dev), what="the marker")
        assert abs(first["lat"] - 28.24) < 1e-4
        term.report(28.2403, 117.0402)  # ~40 m in 10 s: a walk, not a jump the filter drops
        moved = wait_for(lambda: (d := drawn(chrome, dev)) and abs(d["lat"] - 28.2403) < 1e-5 and d, what="the move")
        assert abs(moved["lon"] - 117.0402) < 1e-5
        # Drawn green (live, on duty) where it now is, and its tooltip names the supervisor.
        wait_for(lambda: marker_colour(chrome, dev, (0x22, 0xc5, 0x5e)), what="a green marker at the new place")
        p = stack.ctx.dataset.people
        name = p[p["device"] == dev]["name"].iloc[0]
        tip = wait_for(lambda: hover_marker(chrome, dev), what="the tooltip")
        assert name in tip and "在岗 · 在线" in tip  # the page's language, not the codes
        # Live coverage reaches the KPI strip: one on-duty supervisor leaves most of the city uncovered.
        pct = wait_for(lambda: (t := chrome.find_element(By.CSS_SELECTOR, "#kpi-uncovered .v").text).endswith("%") and t,
                       what="the uncovered share")
        assert 50 < float(pct.rstrip("%")) < 100
        assert console_errors(chrome) == []
    finally:
        term.close()


def test_order_from_console_reaches_device_and_ack_shows_on_wall(stack, chrome, tmp_path):
    dev, = l2_devices(stack, 2)[1:]
    term = Terminal(stack.settings, dev)
    try:
        term.report(28.2300, 117.0300)
        wait_for(lambda: stack.ctx.store.device(dev), what="the position in the store")
        login(chrome, stack.url, "coord1", "pw-coord1", page="/console")
        search = chrome.find_element(By.ID, "con-search")
        g = stack.ctx.dataset.grids
        search.send_keys(g[g["level"] == 2].iloc[0]["id"] + "\n")
        wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, "#con-recipients input"), what="suggested recipients")
        chrome.find_element(By.ID, "con-title").send_keys("浏览器测试指令")
        chrome.find_element(By.ID, "con-issue").click()
        msg = wait_for(lambda: (t := chrome.find_element(By.ID, "con-issue-msg").text).startswith(("✓", "✗")) and t,
                       what="the issue result")
        assert msg.startswith("✓"), msg
        order_id = chrome.find_element(By.ID, "con-issued").get_attribute("data-order")
        order = stack.ctx.orders.get(order_id)
        assert order["recipients"]
        # Our terminal gets its own order through the API, then acknowledges over MQTT.
        explicit = stack.ctx.orders.issue({"lat": 28.2301, "lon": 117.0301, "title": "到场核查", "kind": "task",
                                           "recipients": [dev]}, "user:coord1")
        wait_for(lambda: any(o.get("id") == explicit["id"] for o in term.orders), what="the order on the device")
        chrome.get(stack.url + "/")
        wait_for(lambda: "acknowledged" in chrome.find_element(By.ID, f"rcpt-{explicit['id']}-{dev}").get_attribute("class")
                 and "已确认" in chrome.find_element(By.ID, f"rcpt-{explicit['id']}-{dev}").text,
                 what="the acknowledgement on the wall")
        assert console_errors(chrome) == []
    finally:
        term.close()


def test_sos_raises_the_banner_on_the_wall(stack, chrome):
    dev, = l2_devices(stack, 3)[2:]
    term = Terminal(stack.settings, dev, answer=None)
    try:
        term.report(28.2200, 117.0200)
        login(chrome, stack.url, "viewer1", "pw-viewer1")
        term.status("sos")
        wait_for(lambda: (b := chrome.find_element(By.ID, "wall-banner")) and "gw-on" in b.get_attribute("class")
                 and "紧急求助" in b.text, what="the SOS banner")
        wait_for(lambda: (d := drawn(chrome, dev)) and d["status"] == "sos", what="the SOS marker")
        assert marker_colour(chrome, dev, (0xef, 0x44, 0x44))  # red, drawn on top of any other marker
        # the alarm sound: silent until the duty officer switches it on, then beeping while the banner is up
        assert chrome.execute_script("return window.gridwatchSound.beeps") == 0
        chrome.find_element(By.ID, "wall-sound").click()
        wait_for(lambda: chrome.execute_script("return window.gridwatchSound.beeps") >= 1, what="the alarm sound")
        assert chrome.find_element(By.ID, "wall-sound").get_attribute("aria-pressed") == "true"
    finally:
        term.close()


def test_viewer_cannot_issue_from_the_console(stack, chrome):
    login(chrome, stack.url, "viewer1", "pw-viewer1", page="/console")
    button = chrome.find_element(By.ID, "con-issue")
    assert not button.is_enabled()
    assert "无权" in chrome.find_element(By.ID, "con-issue-msg").text


def test_supervisor_acknowledges_on_the_terminal_page(stack, tmp_path):
    """The phone page at 390x844: the order appears, acknowledge moves the recipient's state."""
    from testkit.browser import chrome

    p = stack.ctx.dataset.people
    row = p[(p["role"] == "l2_supervisor") & p["device"].notna()].iloc[4]
    stack.accounts.add(row["id"], "supervisor", "pw-sup", person=row["id"])
    term = Terminal(stack.settings, row["device"], answer=None)
    phone = chrome(tmp_path / "phone", 390, 844, phone=True)
    try:
        term.report(28.2100, 117.0100)
        wait_for(lambda: stack.ctx.store.device(row["device"]), what="the position in the store")
        order = stack.ctx.orders.issue({"lat": 28.2101, "lon": 117.0101, "title": "手机端测试", "kind": "emergency",
                                        "recipients": [row["device"]]}, "user:coord1")
        phone.get(f"{stack.url}/login?next=/terminal")
        phone.find_element(By.NAME, "username").send_keys(row["id"])
        phone.find_element(By.NAME, "password").send_keys("pw-sup")
        phone.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: "手机端测试" in phone.find_element(By.ID, f"term-order-{order['id']}").text, what="the order card")

        def click_ack():
            card = phone.find_element(By.ID, f"term-order-{order['id']}")
            next(b for b in card.find_elements(By.TAG_NAME, "button") if b.text in ("已确认", "Acknowledge")).click()
            return True
        wait_for(click_ack, what="the acknowledge button")
        wait_for(lambda: next(r for r in stack.ctx.orders.get(order["id"], with_audit=False)["recipients"]
                              if r["device"] == row["device"])["state"] == "acknowledged", what="the acknowledgement")
        audit = stack.ctx.orders.get(order["id"])["audit"]
        assert any(e["actor"] == f"user:{row['id']}" and e["after"] == "acknowledged" for e in audit)
        assert phone.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [390, 390]
    finally:
        phone.quit()
        term.close()
