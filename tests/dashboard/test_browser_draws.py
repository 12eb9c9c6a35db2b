"""The console's draws page (/console/draws) in real headless Chromium: a coordinator makes a
draw with the form, follows its picks, publishes it and the public page shows it; the warning
as the 20-working-day publication limit nears."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from casework import draw_store as S
from tests.dashboard.conftest import console_errors, serve
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(web_stack):
    with psycopg.connect(web_stack.settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO checklists (id, name, categories, items) VALUES "
                     "('pharmacy', '药品零售检查表', '{pharmacy}', '[]') ON CONFLICT DO NOTHING")
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack


@pytest.fixture
def chrome(chrome):
    chrome.set_page_load_timeout(120)
    return chrome


def choose(chrome, dropdown_id: str, value: str) -> None:
    """Dash 4's dropdown: a button opening a popover (in a portal) of options."""
    chrome.find_element(By.ID, dropdown_id).click()
    opt = wait_for(lambda: chrome.find_elements(
        By.CSS_SELECTOR, f".dash-dropdown-content [role=option] input[value='{value}']"), timeout=20,
        what=f"the {dropdown_id} option {value}")
    opt[0].find_element(By.XPATH, "./ancestor::label").click()
    chrome.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_for(lambda: not chrome.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content"), timeout=10,
             what="the popover closed")


def test_make_follow_and_publish_a_draw_in_the_console(stack, chrome):
    chrome.get(f"{stack.url}/login?next=/console/draws")
    chrome.find_element(By.NAME, "username").send_keys("coord1")
    chrome.find_element(By.NAME, "password").send_keys("pw-coord1")
    chrome.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: chrome.find_elements(By.ID, "drw-go"), timeout=90, what="the draws page")
    chrome.find_element(By.ID, "drw-name").send_keys("药店双随机抽查（测试）")
    choose(chrome, "drw-checklist", "pharmacy")
    choose(chrome, "drw-categories", "pharmacy")
    count = chrome.find_element(By.ID, "drw-count")
    count.send_keys("6")
    chrome.find_element(By.ID, "drw-seed").send_keys("现场观察员 42")
    chrome.find_element(By.ID, "drw-go").click()
    made = wait_for(lambda: chrome.find_elements(By.ID, "drw-made"), timeout=60, what="the draw made")
    draw_id = made[0].get_attribute("data-draw")
    progress = wait_for(lambda: [p for p in chrome.find_elements(By.ID, "drw-progress")
                                 if p.get_attribute("data-total") == "6"], timeout=30, what="the picks")
    assert progress[0].get_attribute("data-done") == "0" and "0/6" in progress[0].text
    rows = chrome.find_elements(By.CSS_SELECTOR, "#drw-detail tr")
    assert len(rows) == 7 and "检查中" in rows[1].text
    with stack.ctx.db.connection() as conn:
        d = S.get(conn, draw_id)
    assert d["seed"] == "现场观察员 42" and len(d["picks"]) == 6 and d["published_at"] is None
    chrome.find_element(By.ID, "drw-publish").click()
    wait_for(lambda: "已公示并封存" in chrome.find_element(By.ID, "drw-publish-msg").text, timeout=30, what="published")
    chrome.get(f"{stack.url}/public/draws/{draw_id}")
    assert "药店双随机抽查（测试）" in chrome.page_source and d["picks"][0]["uscc"] in chrome.page_source
    assert not console_errors(chrome)


def test_the_page_warns_as_the_publication_limit_nears(stack):
    from dashboard.console_draws import detail

    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM draws").fetchone()[0]
    from dashboard.draw_routes import make_draw
    user = stack.accounts.get("coord1")
    d = make_draw(stack.ctx, user, {"name": "期限测试", "checklist": "pharmacy",
                                    "population": {"categories": ["pharmacy"]}, "count": 3})
    start = d["created_at"].astimezone(ZoneInfo(stack.settings.tz)).date()
    limit = d["publish_by"]
    with psycopg.connect(stack.settings.database_url, row_factory=dict_row) as conn, conn.cursor() as cur:
        cal = S.calendar_between(cur, start, limit)
    assert S.working_days_between(cal, start, limit) == 20

    def text(day):
        return str(detail(stack.ctx, d["id"], "zh", today=day))

    assert "仅剩" not in text(start) and "已超过" not in text(start)
    near = limit - timedelta(days=2)
    assert "仅剩" in text(near)
    assert "已超过公示期限" in text(limit + timedelta(days=3))
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM draws").fetchone()[0] == n + 1
