"""The wall's casework layers and the console's casework, in real headless Chromium over the
demo register (its history ends in 2018, so today holds only what this test files): today's
inspections appear by result in the palette's colours once their layer is switched on in the
map's layers control, and go when it is switched off; open complaints are counted per
respondent; the legend names both; a complaint past its acceptance deadline reaches the
ticker in Chinese; the console's casework of an entity lists its open task, inspections,
complaints (complainant masked for a viewer, plain for a coordinator) and cases, with the
actions of the role. Real PostgreSQL, Redis and the web app."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import orjson
import psycopg
import pytest
import requests
from psycopg.rows import dict_row
from selenium.webdriver.common.by import By

from casework import complaints as C
from layers import palette
from tests.dashboard.conftest import console_errors, serve
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser

NAME, PHONE = "司马测试", "13912345678"


@pytest.fixture(scope="module")
def site(web_stack):
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack


@pytest.fixture(scope="module")
def records(site):
    """Three entities of one grid: A with three open complaints (one past its acceptance
    deadline), a closed one, an open task and two passed inspections today; B one failed, C one
    to rectify, today; and a case on A."""
    url = site.settings.db_url()
    h = {"Authorization": f"Bearer {site.tokens['coord1']}"}
    with psycopg.connect(url, row_factory=dict_row) as conn, conn.cursor() as cur:
        cur.execute("SELECT grid FROM entities WHERE grid IS NOT NULL AND lat IS NOT NULL "
                    "GROUP BY grid HAVING count(*) >= 3 ORDER BY grid LIMIT 1")
        grid = cur.fetchone()["grid"]
        cur.execute("SELECT uscc, name, lat, lon, grid, level1, branch, category FROM entities WHERE grid = %s "
                    "AND lat IS NOT NULL ORDER BY uscc LIMIT 3", (grid,))
        a, b, c = cur.fetchall()
    complaints = []
    for i in range(4):
        r = requests.post(f"{site.url}/api/complaints", headers=h, timeout=30, json={
            "channel": "12315", "complainant": {"name": NAME, "phone": PHONE},
            "respondent": {"uscc": a["uscc"]}, "category": _category(site, h), "description": f"过期食品 {i}"})
        assert r.status_code == 201, r.text
        complaints.append(r.json()["id"])
    assert requests.post(f"{site.url}/api/complaints/{complaints[3]}/refuse", headers=h, timeout=30,
                         json={"reason": "不属于受理范围"}).status_code == 200
    r = requests.post(f"{site.url}/api/open311/v2/requests.json", headers=h, timeout=30,
                      data={"service_code": "unlicensed", "lat": a["lat"], "long": a["lon"],
                            "description": "门店无照经营", "attribute[uscc]": a["uscc"]})
    assert r.status_code == 201, r.text
    task = r.json()[0]["service_request_id"]
    r = requests.post(f"{site.url}/api/cases", headers=h, timeout=30,
                      json={"source": {"complaint": complaints[0]}, "uscc": a["uscc"], "summary": "涉嫌销售过期食品"})
    assert r.status_code == 201, r.text
    case = r.json()["id"]
    now = datetime.now(timezone.utc)
    inspections = {}
    with psycopg.connect(url, row_factory=dict_row) as conn, conn.cursor() as cur:
        for e, result in ((a, "pass"), (a, "pass"), (b, "fail"), (c, "rectify")):
            iid = str(uuid.uuid4())
            cur.execute("INSERT INTO inspections (id, uscc, kind, inspectors, grid, level1, branch, category, result, "
                        "lat, lon, started_at) VALUES (%s, %s, 'routine', '{p1,p2}', %s, %s, %s, %s, %s, %s, %s, %s)",
                        (iid, e["uscc"], e["grid"], e["level1"], e["branch"], e["category"], result, e["lat"], e["lon"],
                         now))
            inspections[iid] = result
        # yesterday's: not on today's layer
        cur.execute("INSERT INTO inspections (id, uscc, kind, inspectors, result, started_at) "
                    "VALUES ('old-1', %s, 'routine', '{p1}', 'fail', %s)", (b["uscc"], now - timedelta(days=2)))
        # the first complaint's acceptance deadline passed: the escalation raises complaint_overdue
        cur.execute("UPDATE complaints SET accept_by = %s WHERE id = %s", (date.today() - timedelta(days=3), complaints[0]))
        cur.execute("SELECT count(*) AS n FROM complaints WHERE respondent_uscc = %s AND state = ANY(%s)",
                    (a["uscc"], sorted(C.OPEN)))
        open_a = cur.fetchone()["n"]
        conn.commit()
    from casework.complaint_escalation import escalate_due

    with psycopg.connect(url, row_factory=dict_row) as conn:
        assert (complaints[0], "not_accepted") in escalate_due(conn, site.ctx.alerts, lambda p: None,
                                                               tz=site.settings.tz)
    return type("R", (), {"a": a, "b": b, "c": c, "inspections": inspections, "complaints": complaints,
                          "open_a": open_a, "task": task, "case": case})


def _category(site, h) -> str:
    return requests.get(f"{site.url}/api/complaints/categories", headers=h, timeout=30).json()[0]["code"]


def _login(driver, url, user, page):
    driver.get(f"{url}/login?next={page}")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys("pw-" + user)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: driver.current_url.split("?")[0].rstrip("/").endswith(page.rstrip("/")), what=f"{user} on {page}")


def _toggle(driver, words: str) -> None:
    """Click the layers control's checkbox of the overlay named `words`."""
    assert driver.execute_script("""
        for (const l of document.querySelectorAll('.leaflet-control-layers-overlays label')) {
          if (l.textContent.includes(arguments[0])) { l.querySelector('input').click(); return true; }
        }
        return false;""", words), f"no overlay {words!r} in the layers control"


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def _dots(driver):
    return {el.get_attribute("data-id"): (el.get_attribute("data-result"),
                                          driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor", el))
            for el in driver.find_elements(By.CSS_SELECTOR, ".gw-insp-dot")}


def test_wall_casework_layers(site, records, chrome, tmp_path):
    _login(chrome, site.url, "coord1", "/")
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label"),
             timeout=60, what="the layers control")
    # both start switched on: the wall opens on the whole picture
    wait_for(lambda: set(records.inspections) <= set(_dots(chrome)), timeout=90, what="today's inspections on the map")
    dots = _dots(chrome)
    assert "old-1" not in dots
    assert set(dots) == set(records.inspections)      # the history is of 2018: nothing else is today's
    for iid, result in records.inspections.items():
        assert dots[iid] == (result, _rgb(palette.INSPECTION[result])), iid

    sel = f".gw-cmp-dot[data-uscc='{records.a['uscc']}']"
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, sel), timeout=30, what="A's complaints on the map")
    el = chrome.find_element(By.CSS_SELECTOR, sel)
    assert records.open_a >= 3
    assert el.get_attribute("data-count") == str(records.open_a) and el.text == str(records.open_a)
    assert chrome.execute_script("return getComputedStyle(arguments[0]).backgroundColor", el) == _rgb(palette.COMPLAINT)
    assert not chrome.find_elements(By.CSS_SELECTOR, f".gw-cmp-dot[data-uscc='{records.b['uscc']}']")

    # the complainant never reaches the wall: not in the page, not in the layer's data
    assert NAME not in chrome.page_source and PHONE not in chrome.page_source
    from dashboard.wall_casework import open_complaints

    for role in ("viewer", "coordinator", "admin", "supervisor"):
        raw = orjson.dumps(open_complaints(site.ctx, role)).decode()
        assert records.a["uscc"] in raw and NAME not in raw and PHONE not in raw and PHONE[-4:] not in raw, role
    assert open_complaints(site.ctx, "reporter")["features"] == []

    legend = chrome.find_element(By.ID, "wall-legend").text
    for words in ("今日检查：符合", "今日检查：不符合", "今日检查：限期整改", "未办结投诉", "薄弱环节"):
        assert words in legend

    # the overdue complaint in the ticker, in Chinese
    wait_for(lambda: "投诉超过受理期限未处理" in chrome.find_element(By.ID, "wall-alerts").text, timeout=30,
             what="complaint_overdue in the ticker")
    assert "complaint_overdue" not in chrome.find_element(By.ID, "wall-alerts").text

    chrome.save_screenshot(str(tmp_path / "wall-casework.png"))
    # switched off: the markers go
    _toggle(chrome, "今日检查")
    _toggle(chrome, "未办结投诉")
    wait_for(lambda: not chrome.find_elements(By.CSS_SELECTOR, ".gw-insp-dot, .gw-cmp-dot"), what="the layers off")
    # and on again: the markers come back
    _toggle(chrome, "今日检查")
    wait_for(lambda: set(records.inspections) <= set(_dots(chrome)), timeout=30, what="today's inspections back")
    assert not chrome.find_elements(By.CSS_SELECTOR, ".gw-cmp-dot")
    assert console_errors(chrome) == []


def _casework_of(chrome, uscc):
    box = chrome.find_element(By.ID, "con-search")
    box.clear()
    box.send_keys(uscc + "\n")
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, f"#con-cc-scope[data-key='{uscc}']"), timeout=60,
             what="the entity's casework")
    return chrome.find_element(By.ID, "con-casework")


def test_console_casework_viewer_masked(site, records, chrome):
    _login(chrome, site.url, "viewer1", "/console")
    wait_for(lambda: chrome.find_elements(By.ID, "con-search"), timeout=60, what="the console")
    box = _casework_of(chrome, records.a["uscc"])
    text = box.text
    assert records.a["name"] in text and "监管业务" in text
    assert chrome.find_elements(By.ID, f"con-cc-task-{records.task}")
    assert len([i for i, r in records.inspections.items() if r == "pass"]) == \
        len(chrome.find_elements(By.CSS_SELECTOR, "#con-cc-inspections .gw-cc-row[data-result='pass']"))
    for cid in records.complaints:
        assert chrome.find_elements(By.ID, f"con-cc-cmp-{cid}"), cid
    assert chrome.find_element(By.ID, f"con-cc-cmp-{records.complaints[3]}").get_attribute("data-state") == "refused"
    assert chrome.find_elements(By.ID, f"con-cc-case-{records.case}")
    # masked as GET /api/complaints masks it for a viewer; a viewer handles nothing: "view" only
    assert NAME not in chrome.page_source and PHONE not in chrome.page_source
    assert C.mask_name(NAME) in text and C.mask_phone(PHONE) in text
    assert "去办理" not in text and "查看" in text
    assert not chrome.find_elements(By.CSS_SELECTOR, "[id*='con-cc-reassign']")
    # "show in the tasks panel": the panel filtered to the task's grid
    chrome.find_element(By.CSS_SELECTOR, f"#con-cc-task-{records.task} button").click()
    wait_for(lambda: chrome.find_elements(By.ID, f"task-{records.task}"), timeout=30, what="the task in the panel")
    wait_for(lambda: site.ctx.grid_names[records.a["grid"]] in chrome.find_element(By.ID, "con-tasks-grid").text,
             what="the panel's grid filter set")
    assert console_errors(chrome) == []


def test_console_casework_coordinator(site, records, chrome, tmp_path):
    _login(chrome, site.url, "coord1", "/console")
    wait_for(lambda: chrome.find_elements(By.ID, "con-search"), timeout=60, what="the console")
    box = _casework_of(chrome, records.a["uscc"])
    # a coordinator handles complaints: the complainant in plain, and the desk to act there
    assert NAME in box.text and PHONE in box.text
    row = chrome.find_element(By.ID, f"con-cc-cmp-{records.complaints[1]}")
    link = row.find_element(By.TAG_NAME, "a")
    assert link.text == "去办理" and link.get_attribute("href").endswith("/console/complaints")
    chrome.execute_script("arguments[0].scrollIntoView()", box)
    chrome.save_screenshot(str(tmp_path / "console-casework.png"))
    # reassign: the tasks panel's picker set to this task
    chrome.find_element(By.CSS_SELECTOR, f"#con-cc-task-{records.task} button:nth-of-type(2)").click()
    wait_for(lambda: records.task in chrome.find_element(By.ID, "con-tasks-pick").text, timeout=30,
             what="the task picked for reassignment")
    # the grid's casework (a grid searched, as a map click picks one): today's inspections of its
    # three entities are its newest, A's complaints and the task among its rows
    grid = records.a["grid"]
    box = chrome.find_element(By.ID, "con-search")
    box.clear()
    box.send_keys(grid + "\n")
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, f"#con-cc-scope[data-kind='grid'][data-key='{grid}']"),
             timeout=60, what="the grid's casework")
    for iid, result in records.inspections.items():
        assert chrome.find_element(By.ID, f"con-cc-insp-{iid}").get_attribute("data-result") == result
    assert chrome.find_elements(By.ID, f"con-cc-task-{records.task}")
    assert chrome.find_elements(By.ID, f"con-cc-cmp-{records.complaints[0]}")
    assert console_errors(chrome) == []
