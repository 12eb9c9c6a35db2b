"""A complaint end to end in real headless Chromium: a citizen files on /complaint on a phone
(390x844, no login, zh-CN) and gets a query code; the branch's level-1 supervisor accepts it
on the console's complaints desk; the citizen looks it up and sees it accepted."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.dashboard.conftest import console_errors, serve
from testkit.browser import chrome as start_chrome
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser
PHONE = "13566667777"


@pytest.fixture(scope="module")
def stack(web_stack):
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(web_stack.settings.database_url, row_factory=dict_row) as conn:
        ent = conn.execute("SELECT uscc, name, level1, branch FROM entities WHERE branch IS NOT NULL "
                           "ORDER BY uscc LIMIT 1").fetchone()
    sup = web_stack.ctx.registry.responsible(ent["level1"])["l1_supervisor"]
    web_stack.accounts.add("bq1", "supervisor", "pw-bq1", person=sup.id)
    web_stack.ent = ent
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack


def test_citizen_files_branch_accepts_citizen_sees_it(stack, tmp_path):
    phone = start_chrome(tmp_path / "phone", 390, 844, phone=True, page_load_timeout=120)
    desk = None
    try:
        phone.get(f"{stack.url}/complaint")
        assert phone.current_url.endswith("/complaint")          # no login asked
        assert phone.find_element(By.TAG_NAME, "h1").text == "投诉举报与进度查询"
        assert phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        wait_for(lambda: len(Select(phone.find_element(By.ID, "f-category")).options) == 9, what="the categories")
        assert phone.execute_script("return document.documentElement.scrollWidth") <= 390   # no sideways scrolling
        phone.find_element(By.ID, "f-name").send_keys("刘备")
        phone.find_element(By.ID, "f-phone").send_keys(PHONE)
        phone.find_element(By.ID, "f-resp-uscc").send_keys(stack.ent["uscc"])
        Select(phone.find_element(By.ID, "f-category")).select_by_value("food")
        phone.find_element(By.ID, "f-description").send_keys("购买的牛奶已过保质期")
        Select(phone.find_element(By.ID, "f-channel")).select_by_value("wechat")
        phone.find_element(By.ID, "f-submit").click()
        code = wait_for(lambda: phone.find_element(By.ID, "file-code").text, what="the query code")
        assert len(code) == 14 and "前作出是否受理的决定" in phone.find_element(By.ID, "file-msg").text
        phone.find_element(By.ID, "tab-query").click()
        phone.find_element(By.ID, "q-submit").click()
        state = wait_for(lambda: phone.find_element(By.CSS_SELECTOR, "dd[data-field=cp_state]").text, what="the state")
        assert state == "已登记，待受理"
        assert phone.find_element(By.CSS_SELECTOR, "dd[data-field=cp_branch]").text == stack.ent["branch"]

        desk = start_chrome(tmp_path / "desk", page_load_timeout=120)
        desk.get(f"{stack.url}/login?next=/console/complaints")
        desk.find_element(By.NAME, "username").send_keys("bq1")
        desk.find_element(By.NAME, "password").send_keys("pw-bq1")
        desk.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: desk.current_url.endswith("/console/complaints"), what="the desk")
        row = wait_for(lambda: next((r for r in desk.find_elements(By.CSS_SELECTOR, "#cq-table tbody tr")
                                     if r.get_attribute("data-state") == "received"
                                     and "刘备" in r.text and PHONE in r.text), None),
                       what="the complaint, unmasked for its handler")
        cid = row.get_attribute("data-id")
        row.find_element(By.CSS_SELECTOR, "button.act-accept").click()
        wait_for(lambda: "✓" in desk.find_element(By.ID, "cq-msg").text, what="the accept")
        assert "已受理" in desk.find_element(By.ID, "cq-msg").text
        assert console_errors(desk) == []

        phone.find_element(By.ID, "q-submit").click()
        wait_for(lambda: phone.find_element(By.CSS_SELECTOR, "dd[data-field=cp_state]").text == "已受理",
                 what="the citizen seeing it accepted")
        assert phone.find_element(By.CSS_SELECTOR, "dd[data-field=cp_mediate_by]").text[:4].isdigit()
        assert console_errors(phone) == []

        # on the desk, the accepted complaint goes on as a case: it shows in the cases table
        row = wait_for(lambda: next((r for r in desk.find_elements(By.CSS_SELECTOR, "#cq-table tbody tr")
                                     if r.get_attribute("data-id") == cid and r.get_attribute("data-state") == "accepted"),
                                    None), what="the row accepted")
        row.find_element(By.CSS_SELECTOR, "button.act-case").click()
        case = wait_for(lambda: next((r for r in desk.find_elements(By.CSS_SELECTOR, "#kq-table tbody tr")
                                      if cid in r.text), None), what="the case opened from it")
        assert case.get_attribute("data-state") == "clue" and "线索" in case.text
        assert console_errors(desk) == []
    finally:
        phone.quit()
        if desk is not None:
            desk.quit()


def test_the_hotline_files_on_the_desk_and_overdue_ones_lead(stack, tmp_path):
    """A coordinator at 1920x1080: the list opens on the complaints with a step to take, the
    overdue ones first, marked and counted; the intake form is on the first screen, and what he
    files is answered with its query code and leads the received ones."""
    import httpx

    from tests.dashboard.test_api import h

    old = httpx.post(f"{stack.url}/api/complaints", headers=h(stack, "coord1"), json={
        "channel": "12315", "received_at": "2026-01-05T09:00:00+08:00", "category": "price",
        "complainant": {"name": "张飞", "phone": "13511112222"}, "respondent": {"uscc": stack.ent["uscc"]},
        "description": "标价与结算价不一致"})
    assert old.status_code == 201, old.text
    desk = start_chrome(tmp_path / "hotline", page_load_timeout=120, exact_viewport=True)
    try:
        desk.get(f"{stack.url}/login?next=/console/complaints")
        desk.find_element(By.NAME, "username").send_keys("coord1")
        desk.find_element(By.NAME, "password").send_keys("pw-coord1")
        desk.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: desk.current_url.endswith("/console/complaints"), what="the desk")
        rows = wait_for(lambda: desk.find_elements(By.CSS_SELECTOR, "#cq-table tbody tr"), what="the list")
        late = [bool(r.find_elements(By.CSS_SELECTOR, "td.late")) for r in rows]
        assert late[0] and late == sorted(late, reverse=True)             # the overdue ones lead
        assert all(r.get_attribute("data-state") in ("received", "accepted", "mediating", "agreed", "failed")
                   for r in rows)
        assert f"其中 {sum(late)} 件已超期" in desk.find_element(By.ID, "cq-count").text
        submit = desk.find_element(By.ID, "i-submit")
        assert submit.rect["y"] + submit.rect["height"] <= 1080              # on the first screen
        Select(desk.find_element(By.ID, "i-channel")).select_by_value("12315")
        desk.find_element(By.ID, "i-name").send_keys("关羽")
        desk.find_element(By.ID, "i-phone").send_keys("13533334444")
        desk.find_element(By.ID, "i-uscc").send_keys(stack.ent["uscc"].lower())
        wait_for(lambda: len(Select(desk.find_element(By.ID, "i-category")).options) > 1, what="the categories")
        Select(desk.find_element(By.ID, "i-category")).select_by_value("food")
        desk.find_element(By.ID, "i-description").send_keys("来电反映餐馆后厨卫生差")
        submit.click()
        msg = wait_for(lambda: (m := desk.find_element(By.ID, "i-msg")).text and m, what="the answer")
        assert msg.text.startswith("已登记，查询码 ") and msg.get_attribute("class") == "good", msg.text
        # the test world's history leaves hundreds overdue ahead of it: newest first, it leads
        Select(desk.find_element(By.ID, "cq-state")).select_by_value("received")
        row = wait_for(lambda: next((r for r in desk.find_elements(By.CSS_SELECTOR, "#cq-table tbody tr")[:1]
                                     if "关羽" in r.text), None), what="the filed complaint first in the list")
        assert row.get_attribute("data-state") == "received" and row.find_elements(By.CSS_SELECTOR, "button.act-accept")
        assert console_errors(desk) == []
    finally:
        desk.quit()
