"""The console's orders and the phone's SOS in real headless Chromium: an order issued with the
suggested recipients escalates when nobody answers; an edited list is explicit and says so
first; the SOS needs a 1.5 s hold and a mistaken one is cancelled by its supervisor."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.dashboard.conftest import console_errors, report, serve
from testkit.browser import chrome as start_chrome
from tests.dashboard.test_browser import login
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser
ACK_S = 4  # short, so the test sees an escalation


@pytest.fixture(scope="module")
def web_overrides():
    return {"ack_timeout_s": ACK_S}


@pytest.fixture(scope="module")
def stack(web_stack, tmp_path_factory):
    """The web app under uvicorn and a `gridwatch dispatcher` process (it fires escalations)."""
    env = dict(os.environ, GRIDWATCH_REDIS_URL=web_stack.settings.redis_url,
               GRIDWATCH_MQTT_URL=web_stack.settings.mqtt_url, GRIDWATCH_ACK_TIMEOUT_S=str(ACK_S))
    log = tmp_path_factory.mktemp("logs") / "dispatcher.log"
    proc = subprocess.Popen([sys.executable, "-m", "gridwatch.cli", "dispatcher"], env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack
    proc.terminate()
    proc.wait(15)


@pytest.fixture
def chrome(chrome):
    chrome.set_page_load_timeout(120)  # the demo's map on a shared 2-core machine
    return chrome


def grid_with_its_supervisor(ctx):
    """A level-2 grid, a point inside it and its responsible supervisor's device."""
    g = ctx.dataset.grids
    for _, row in g[g["level"] == 2].iterrows():
        sup = ctx.registry.responsible(row["id"]).get("l2_supervisor")
        if sup is not None and sup.device:
            pt = row.geometry.representative_point()
            return row["id"], row["name"], pt.y, pt.x, sup
    raise AssertionError("no level-2 grid with a supervisor carrying a device")


def colleagues(ctx, n, besides):
    p = ctx.dataset.people
    rows = p[(p["role"] == "l2_supervisor") & p["device"].notna() & ~p["device"].isin(besides)]
    return list(rows["device"].head(n))


def place_team(ctx, lat, lon, resp_device, n=3):
    """The responsible supervisor at the point, n colleagues 150, 300, 450... m north of it."""
    others = colleagues(ctx, n, {resp_device})
    report(ctx, resp_device, lat, lon)
    for i, dev in enumerate(others, 1):
        report(ctx, dev, lat + 0.00135 * i, lon)
    return others


def pick_grid(chrome, gid):
    chrome.find_element(By.ID, "con-search").send_keys(gid + "\n")
    try:
        return wait_for(lambda: len(chrome.find_elements(By.CSS_SELECTOR, "#con-recipients input")) >= 3 and
                        chrome.find_elements(By.CSS_SELECTOR, "#con-recipients label"), timeout=30,
                        what="the suggested recipients")
    except AssertionError:
        chrome.save_screenshot("/tmp/dash_artifacts/console-recipients.png")
        raise


def test_a_silent_order_from_the_console_escalates(stack, chrome):
    ctx = stack.ctx
    gid, gname, lat, lon, sup = grid_with_its_supervisor(ctx)
    others = place_team(ctx, lat, lon, sup.device)
    names = ctx.person_names
    login(chrome, stack.url, "coord1", "pw-coord1", page="/console")
    pick_grid(chrome, gid)
    # exactly what POST /api/orders would pick, with the reasons, in Chinese
    api_picks = [p.device for p in ctx.orders.suggest(lat, lon)["picks"]]
    assert api_picks == [sup.device, others[0], others[1]]
    boxes = chrome.find_elements(By.CSS_SELECTOR, "#con-recipients input")
    ticked = [b.get_attribute("value") for b in boxes if b.is_selected()]
    assert ticked == api_picks
    text = chrome.find_element(By.ID, "con-recipients").text
    assert f"{sup.name} · 网格责任人（{gname}）" in text
    assert "最近在岗第 1 名" in text and "最近在岗第 2 名" in text and "备选" in text  # the third is offered, unticked
    assert chrome.find_element(By.ID, "con-edited").text == ""
    # the issue button is in view at 1920x1080 with the point picked, no scrolling
    assert chrome.execute_script("const r = document.getElementById('con-issue').getBoundingClientRect();"
                                 "return r.top >= 0 && r.bottom <= window.innerHeight;")
    chrome.find_element(By.ID, "con-title").send_keys("无人应答测试")
    chrome.find_element(By.ID, "con-issue").click()
    issued = wait_for(lambda: chrome.find_elements(By.ID, "con-issued"), what="the issued order")[0]
    order_id = issued.get_attribute("data-order")
    assert "自动升级" in issued.text
    order = ctx.orders.get(order_id, with_audit=False)
    assert [r["device"] for r in order["recipients"]] == api_picks
    # nobody answers: after ACK_S the dispatcher times them out and asks the next nearest
    card = f"con-order-{order_id}"
    wait_for(lambda: names.get(ctx.registry.person_of_device(others[2]).id) in chrome.find_element(By.ID, card).text,
             timeout=60, what="the next nearest supervisor added on the console")
    assert "超时" in chrome.find_element(By.ID, card).text
    o = ctx.orders.get(order_id)
    assert any(r["device"] == others[2] and r["round"] == 1 for r in o["recipients"])
    assert any(e["event"] == "escalated" for e in o["audit"])
    wait_for(lambda: "指令升级" in chrome.find_element(By.ID, "con-alerts").text, what="the escalation alert")
    assert console_errors(chrome) == []
    ctx.orders.cancel(order_id, "user:coord1")


def test_an_edited_list_is_explicit_and_the_console_says_so_first(stack, chrome):
    ctx = stack.ctx
    gid, _, lat, lon, sup = grid_with_its_supervisor(ctx)
    place_team(ctx, lat, lon, sup.device)
    login(chrome, stack.url, "coord1", "pw-coord1", page="/console")
    labels = pick_grid(chrome, gid)
    labels[1].click()  # untick the nearest colleague
    wait_for(lambda: "不会自动派给下一位" in chrome.find_element(By.ID, "con-edited").text, what="the warning")
    chrome.find_element(By.ID, "con-title").send_keys("指定接收人测试")
    chrome.find_element(By.ID, "con-issue").click()
    issued = wait_for(lambda: chrome.find_elements(By.ID, "con-issued"), what="the issued order")[0]
    assert "不自动升级" in issued.text
    order_id = issued.get_attribute("data-order")
    from alerts import keys

    assert ctx.r.hget(keys.order(order_id), "explicit") == b"1"
    o = ctx.orders.get(order_id, with_audit=False)
    assert len(o["recipients"]) == 2 and all(r["reason"] == "chosen by the coordinator" for r in o["recipients"])
    ctx.orders.cancel(order_id, "user:coord1")
    assert console_errors(chrome) == []


def phone(tmp_path):
    return start_chrome(tmp_path / "phone", 390, 844, phone=True, page_load_timeout=120)


def test_sos_needs_a_hold_and_its_supervisor_can_cancel_a_mistaken_one(stack, tmp_path):
    ctx = stack.ctx
    p = ctx.dataset.people
    row = p[(p["role"] == "l2_supervisor") & p["device"].notna()].iloc[20]
    stack.accounts.add(row["id"], "supervisor", "pw-sup", person=row["id"])
    report(ctx, row["device"], 28.26, 117.06)
    driver = phone(tmp_path)
    try:
        driver.get(f"{stack.url}/login?next=/terminal")
        driver.find_element(By.NAME, "username").send_keys(row["id"])
        driver.find_element(By.NAME, "password").send_keys("pw-sup")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        sos = wait_for(lambda: driver.find_element(By.ID, "term-sos"), what="the SOS button")
        assert "按住" in sos.text
        # a tap (a pocket) raises nothing
        sos.click()
        ActionChains(driver).click_and_hold(sos).pause(0.5).release().perform()
        time.sleep(2)
        assert ctx.alerts.active("sos", row["device"]) is None
        assert driver.execute_script("return window.gridwatchTerminal.state.fired") == 0
        # held for 1.5 s, with the bar filling: raised
        ActionChains(driver).click_and_hold(sos).pause(0.8).perform()
        width = driver.execute_script("return document.querySelector('#term-sos .gw-hold').style.width")
        assert 0 < float(width.rstrip("%")) < 100
        ActionChains(driver).pause(1.2).release().perform()
        aid = wait_for(lambda: ctx.alerts.active("sos", row["device"]), what="the SOS alert")
        cancel = wait_for(lambda: (b := driver.find_element(By.ID, "term-sos-cancel")).is_displayed() and b,
                          what="the cancel button")
        cancel.click()
        wait_for(lambda: "已撤销" in driver.find_element(By.ID, "term-status").text, what="the cancellation")
        a = ctx.alerts.get(aid)
        assert a["state"] == "cleared" and a["cancelled_by"] == f"user:{row['id']}"
        assert not driver.find_element(By.ID, "term-sos-cancel").is_displayed()
        assert driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [390, 390]
    finally:
        driver.quit()
