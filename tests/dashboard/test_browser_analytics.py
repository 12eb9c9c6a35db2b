"""`/analytics` in real headless Chromium over the demo register and its short history: the
headline figures equal the API's summary for the chosen period, the trend has a bar per month,
the choropleth colours the grids, a click on a grid shows its figures and its entities with
failed inspections, the weak spots carry their reasons in Chinese, the export links answer,
and nothing is fetched from another origin."""
from __future__ import annotations

import time

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.dashboard.conftest import console_errors, serve
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(web_stack):
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack


@pytest.fixture
def chrome(chrome):
    chrome.set_page_load_timeout(120)
    return chrome


def login(chrome, url, user, password, page):
    chrome.get(f"{url}/login?next={page}")
    chrome.find_element(By.NAME, "username").send_keys(user)
    chrome.find_element(By.NAME, "password").send_keys(password)
    chrome.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def _num(chrome, key) -> str:
    els = chrome.find_elements(By.CSS_SELECTOR, f"#an-card-{key} .gw-an-num")
    return els[0].text if els else ""


def test_analytics_page(stack, chrome, tmp_path):
    t0 = time.monotonic()
    login(chrome, stack.url, "coord1", "pw-coord1", "/analytics")
    wait_for(lambda: _num(chrome, "inspections"), timeout=60, what="the headline figures")
    # the chosen period: 2018-02-01 .. 2018-04-30 (the history is the first half of 2018)
    for el_id, value in (("an-from", "2018-02-01"), ("an-to", "2018-04-30")):
        chrome.execute_script(
            "const el = document.getElementById(arguments[0]);"
            "const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
            "set.call(el, arguments[1]); el.dispatchEvent(new Event('input', {bubbles: true}));"
            "el.dispatchEvent(new Event('change', {bubbles: true})); el.blur();", el_id, value)
    h = {"Authorization": f"Bearer {stack.tokens['coord1']}"}
    s = requests.get(f"{stack.url}/api/stats/summary", params={"from": "2018-02-01", "to": "2018-04-30"},
                     headers=h, timeout=30).json()
    assert s["inspections"] > 1000
    wait_for(lambda: _num(chrome, "inspections") == f"{s['inspections']:,}", timeout=60,
             what=f"inspections {s['inspections']:,} for the period (shown {_num(chrome, 'inspections')})")
    assert _num(chrome, "complaints") == f"{s['complaints']:,}"
    assert _num(chrome, "penalty_decisions") == f"{s['penalty_decisions']:,}"
    assert _num(chrome, "double_random") == f"{s['inspections_by_kind']['double_random']:,}"
    # the trend: one bar per month of the period
    wait_for(lambda: len(chrome.find_elements(By.CSS_SELECTOR, "#an-trend .bars .point")) == 3, timeout=30,
             what="three monthly bars")
    # the choropleth: grids filled by the measure (leaflet paths with a fill opacity > 0)
    filled = lambda: chrome.execute_script(  # noqa: E731
        "return [...document.querySelectorAll('#an-leaflet path, #an-leaflet canvas')].length")
    wait_for(lambda: filled() > 0, timeout=30, what="the grid layer")
    hideout_max = chrome.execute_script(
        "const m = document.getElementById('an-leaflet'); return m ? m.querySelectorAll('canvas').length : 0")
    assert hideout_max >= 1
    # the weak spots, with their reasons in words
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, "#an-weak li .gw-an-weak-why"), timeout=30, what="weak spots")
    why = chrome.find_element(By.CSS_SELECTOR, "#an-weak li .gw-an-weak-why").text
    assert "倍" in why and "每千户" in why
    # click a grid with failures (its centre, through Leaflet's own hit test on the canvas)
    grid = requests.get(f"{stack.url}/api/stats/weak", params={"by": "grid", "top": 1, "from": "2018-02-01",
                                                              "to": "2018-04-30"}, headers=h, timeout=30).json()[0]
    row = stack.ctx.dataset.grids.set_index("id").loc[grid["key"]]
    pt = row.geometry.representative_point()
    lat, lon = stack.ctx.to_map_point(pt.y, pt.x)
    wait_for(lambda: chrome.execute_script("return !!(window.gridwatchAnalytics && gridwatchAnalytics.map)"),
             timeout=30, what="the choropleth's map")
    chrome.execute_script("gridwatchAnalytics.map.setView([arguments[0], arguments[1]], 13, {animate: false})", lat, lon)
    time.sleep(0.5)
    x, y = chrome.execute_script(
        "const m = gridwatchAnalytics.map, p = m.latLngToContainerPoint([arguments[0], arguments[1]]),"
        " r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]", lat, lon)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    ab = ActionBuilder(chrome)
    ab.pointer_action.move_to_location(int(x), int(y)).click()
    ab.perform()
    clicked = "ok"
    assert clicked == "ok"
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, "#an-failed li"), timeout=30, what="the grid's entities")
    assert row["name"] in chrome.find_element(By.ID, "an-grid").text
    failed = requests.get(f"{stack.url}/api/stats/failed_entities", headers=h, timeout=30,
                          params={"grid": grid["key"], "from": "2018-02-01", "to": "2018-04-30"}).json()
    assert failed and failed[0]["name"] in chrome.find_element(By.ID, "an-failed").text
    # export links answer with files
    links = [a.get_attribute("href") for a in chrome.find_elements(By.CSS_SELECTOR, "#an-exports a")]
    assert any(u.endswith("xlsx") or ".xlsx?" in u for u in links) and len(links) >= 8
    sess = requests.Session()
    sess.headers.update(h)
    for u in links[:4]:
        r = sess.get(u, timeout=30)
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"], u
    # everything from our own origin
    hosts = chrome.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).host)")
    assert set(hosts) <= {stack.url.split("//")[1]}, set(hosts)
    assert not console_errors(chrome)
    chrome.save_screenshot(str(tmp_path / "analytics.png"))     # for a person to look at
    print(f"analytics page in {time.monotonic() - t0:.1f} s; screenshot {tmp_path / 'analytics.png'}")


def test_the_walls_casework_strip(stack, chrome):
    """The wall's second KPI line: the seed's figures beside today's, from the records."""
    login(chrome, stack.url, "viewer1", "pw-viewer1", "/")
    h = {"Authorization": f"Bearer {stack.tokens['viewer1']}"}
    s = requests.get(f"{stack.url}/api/stats/summary", headers=h, timeout=30).json()
    cell = lambda key: (chrome.find_elements(By.CSS_SELECTOR, f"#kpi-{key} .v") or [None])[0]  # noqa: E731
    wait_for(lambda: cell("sum_since_2018") is not None and cell("sum_since_2018").text == f"{s['inspections']:,}",
             timeout=60, what="inspections since 2018 on the wall")
    assert cell("cw_open_tasks").text not in ("", "–")
    # the strip lies inside the KPI bar, above the map: nothing overlaps
    boxes = chrome.execute_script(
        "const r = e => document.querySelector(e).getBoundingClientRect();"
        "return [r('#wall-casework').bottom, r('#wall-map').top, r('#wall-casework').right, window.innerWidth]")
    assert boxes[0] <= boxes[1] + 1 and boxes[2] <= boxes[3] + 1, boxes
    # the casework layers are overlays of the map's own layers control, the tasks on at first
    overlays = lambda: chrome.execute_script(  # noqa: E731
        "return Object.fromEntries([...document.querySelectorAll('#wall-map .leaflet-control-layers-overlays label')]"
        ".map(l => [l.textContent.trim(), l.querySelector('input').checked]))")
    wait_for(lambda: overlays(), timeout=30, what="the layers control")
    shown = overlays()
    assert shown["待办事件 open tasks"] and not shown["薄弱环节 weak spots"], shown
    assert shown["今日检查 inspections today"] and shown["未办结投诉 open complaints"], shown  # on at first
    assert not chrome.find_elements(By.ID, "wall-weak-layer"), "no switch outside the layers control"
    # the weak-spot choropleth: switched on there, it draws the level-2 outlines the wall's grid
    # layer fetched already (one URL: the browser's copy, not a second download)
    fetched = lambda: chrome.execute_script("return performance.getEntriesByType('resource').filter("  # noqa: E731
                                            "e => e.name.includes('/maplayers/grids-l2.geojson')).map(e => e.transferSize)")
    wait_for(lambda: len(fetched()) == 1, timeout=30, what="the grid layer's outlines")
    toggle = ("for (const l of document.querySelectorAll('#wall-map .leaflet-control-layers-overlays label'))"
              " if (l.textContent.includes('薄弱环节')) l.querySelector('input').click();")
    chrome.execute_script(toggle)
    wait_for(lambda: len(fetched()) == 2, timeout=30, what="the weak-spot layer's outlines")
    assert sum(1 for size in fetched() if size > 0) == 1, fetched()
    wait_for(lambda: overlays()["薄弱环节 weak spots"], timeout=10, what="the weak-spot layer on")
    h = {"Authorization": f"Bearer {stack.tokens['viewer1']}"}
    r = requests.get(f"{stack.url}/api/stats/grids.geojson", headers=h, timeout=30)
    assert r.status_code == 200 and len(r.json()["features"]) == len(stack.ctx.dataset.grids.query("level == 2"))
    assert requests.get(f"{stack.url}/api/stats/grids.geojson", timeout=30).status_code == 401
    chrome.execute_script(toggle)
    wait_for(lambda: not overlays()["薄弱环节 weak spots"], timeout=10, what="the weak-spot layer off")
    assert not console_errors(chrome)
