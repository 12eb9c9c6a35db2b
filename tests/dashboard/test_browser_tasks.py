"""The closed loop in real headless Chromium: a reporter files from /report on a 390x844 phone
page (the phone's location, a category, a description, a photo), the task appears by itself in
the supervisor's "my tasks" on /terminal, he accepts, starts and handles it with a note and a
photo, and the reporter's page shows the feedback. Real PostgreSQL, Redis and the web app."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.dashboard.conftest import console_errors, serve
from tests.dashboard.test_records_api import png
from testkit.waiting import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(web_stack):
    with serve(web_stack.server) as web:
        web_stack.url = web.url
        yield web_stack


def _login(driver, url, user, page):
    driver.get(f"{url}/login?next={page}")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys("pw-" + user)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: driver.current_url.split("?")[0].endswith(page), what=f"{user} on {page}")


def _phone(tmp_path, name, extra=()):
    from testkit.browser import chrome

    return chrome(tmp_path / name, 390, 844, phone=True, extra=extra)


def test_report_handle_feedback(site, tmp_path):
    ctx = site.ctx
    me = site.accounts.get("sup1").person
    gid = next(g for g in ctx.registry.person(me).grids
               if (ctx.registry.responsible(g)["l2_supervisor"] or type("", (), {"id": None})).id == me)
    pt = ctx.dataset.grids.set_index("id").loc[gid, "geometry"].representative_point()
    photo = tmp_path / "stall.png"
    photo.write_bytes(png(5, (320, 240)))
    done_photo = tmp_path / "done.png"
    done_photo.write_bytes(png(9, (320, 240)))

    sup = _phone(tmp_path, "sup")
    # a fake microphone, granted: the voice note is recorded for real by MediaRecorder
    rep = _phone(tmp_path, "rep", ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"))
    try:
        # the supervisor's terminal is open before the report exists
        _login(sup, site.url, "sup1", "/terminal")
        wait_for(lambda: sup.find_elements(By.ID, "term-tasks"), what="the terminal's my tasks")
        assert "我的任务" in sup.find_element(By.ID, "term-tasks-section").text

        # the reporter's phone: location granted, at a point of sup1's grid
        rep.execute_cdp_cmd("Browser.grantPermissions", {"origin": site.url, "permissions": ["geolocation"]})
        rep.execute_cdp_cmd("Emulation.setGeolocationOverride", {"latitude": pt.y, "longitude": pt.x, "accuracy": 10})
        _login(rep, site.url, "rep1", "/report")
        assert rep.execute_script("return [innerWidth, innerHeight]") == [390, 844]
        assert rep.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        page = rep.find_element(By.TAG_NAME, "body").text
        for words in ("问题类别", "问题描述", "拍照", "录音", "提交上报", "我的上报"):
            assert words in page
        grid_name = ctx.grid_names[gid]
        wait_for(lambda: grid_name in rep.find_element(By.ID, "rp-where").text, what="the phone's point in its grid")
        wait_for(lambda: len(rep.find_elements(By.CSS_SELECTOR, "#rp-category option")) > 5, what="the categories")
        Select(rep.find_element(By.ID, "rp-category")).select_by_value("unlicensed")
        rep.find_element(By.ID, "rp-desc").send_keys("路口有无照摊贩占道经营")
        rep.find_element(By.ID, "rp-photos").send_keys(str(photo))
        wait_for(lambda: "stall.png" in rep.find_element(By.ID, "rp-attached").text, what="the photo attached")
        rec = rep.find_element(By.ID, "rp-record")
        rec.click()
        wait_for(lambda: "停止录音" in rec.text, what="recording")
        time.sleep(1.5)
        rec.click()
        wait_for(lambda: rep.find_elements(By.CSS_SELECTOR, "#rp-attached audio"), what="the voice note attached")
        # the submit button is on the phone's screen without zooming out
        sub = rep.find_element(By.ID, "rp-submit")
        assert sub.size["width"] <= 390 and sub.location["x"] >= 0
        rep.execute_script("arguments[0].scrollIntoView()", sub)
        sub.click()
        filed = wait_for(lambda: rep.find_elements(By.ID, "rp-filed"), what="the report filed")[0]
        tid = filed.get_attribute("data-id")
        assert tid and "已提交" in filed.text
        with ctx.db.connection() as conn:
            row = conn.execute("SELECT state, assignee, category, grid FROM tasks WHERE id = %s", (tid,)).fetchone()
            media = conn.execute("SELECT m.type FROM record_media rm JOIN media m USING (sha256) "
                                 "WHERE rm.record_type = 'task' AND rm.record_id = %s", (tid,)).fetchall()
        assert (row["state"], row["assignee"], row["category"], row["grid"]) == ("assigned", me, "unlicensed", gid)
        assert sorted(m["type"] for m in media) == ["audio/webm", "image/png"]
        wait_for(lambda: rep.find_elements(By.ID, f"rp-r-{tid}"), what="the report in his list")

        # it appears on the open terminal by itself, with its deadline counting down
        card = wait_for(lambda: sup.find_elements(By.ID, f"term-task-{tid}"), timeout=20,
                        what="the new task on the terminal without a reload")[0]
        assert "无照经营" in card.text and "剩余" in card.text
        sup.save_screenshot(str(tmp_path / "terminal.png"))
        for act, state in (("accept", "accepted"), ("start", "in_progress")):
            sup.find_element(By.CSS_SELECTOR, f"#term-task-{tid} .gw-task-act[data-act={act}]").click()
            wait_for(lambda: sup.find_element(By.ID, f"term-task-{tid}").get_attribute("data-state") == state,
                     what=f"the task {state}")
        sup.find_element(By.CSS_SELECTOR, f"#term-task-{tid} input[type=file]").send_keys(str(done_photo))
        wait_for(lambda: "照片已上传" in sup.find_element(By.ID, f"term-task-{tid}").text, what="the photo uploaded")
        sup.find_element(By.CSS_SELECTOR, f"#term-task-{tid} .gw-task-note").send_keys("已劝离摊贩，现场恢复畅通")
        sup.find_element(By.CSS_SELECTOR, f"#term-task-{tid} .gw-task-act[data-act=handle]").click()
        wait_for(lambda: not sup.find_elements(By.ID, f"term-task-{tid}"), what="the handled task leaving my tasks")

        # the reporter sees the feedback and each step
        fb = wait_for(lambda: rep.find_elements(By.ID, f"rp-feedback-{tid}"), timeout=30, what="the feedback")[0]
        assert "已劝离摊贩，现场恢复畅通" in fb.text
        r = rep.find_element(By.ID, f"rp-r-{tid}")
        assert r.get_attribute("data-state") == "handled"
        steps = r.find_element(By.CSS_SELECTOR, ".rp-steps").get_attribute("textContent")
        for word in ("上报", "派单", "接收", "开始处置", "处置完毕"):
            assert word in steps
        assert len(r.find_elements(By.CSS_SELECTOR, ".rp-media img")) == 2
        rep.save_screenshot(str(tmp_path / "report.png"))
        assert console_errors(rep) == [] and console_errors(sup) == []
    finally:
        sup.quit()
        rep.quit()


def _desktop(tmp_path, name):
    from testkit.browser import chrome

    return chrome(tmp_path / name, 1920, 1080)


def test_console_and_wall_show_open_tasks_overdue_first_and_the_console_reassigns(site, tmp_path):
    import requests

    from alerts import keys
    from tests.dashboard.test_api import h

    ctx = site.ctx
    me = site.accounts.get("sup1").person
    gid = next(g for g in ctx.registry.person(me).grids
               if (ctx.registry.responsible(g)["l2_supervisor"] or type("", (), {"id": None})).id == me)
    pt = ctx.dataset.grids.set_index("id").loc[gid, "geometry"].representative_point()
    if True:    # the running server (a TestClient's lifespan would close the shared context)
        ids = []
        for code in ("special_equipment", "price"):
            res = requests.post(f"{site.url}/api/open311/v2/requests.json", headers=h(site, "rep1"), timeout=30, json={
                "service_code": code, "lat": pt.y, "long": pt.x, "description": f"测试 {code}"})
            assert res.status_code == 201, res.text
            ids.append(res.json()[0]["service_request_id"])
    late, fine = ids
    with ctx.db.connection() as conn:   # the first one's deadline has passed
        conn.execute("UPDATE tasks SET deadline = now() - interval '2 hours' WHERE id = %s", (late,))
    l1 = ctx.registry.responsible(gid)["l1_supervisor"]

    con = _desktop(tmp_path, "con")
    wall = _desktop(tmp_path, "wall")
    try:
        _login(con, site.url, "coord1", "/console")
        item = wait_for(lambda: con.find_elements(By.ID, f"task-{late}"), what="the overdue task in the panel")[0]
        assert "gw-task-overdue" in item.get_attribute("class")
        wait_for(lambda: "已超时" in con.find_element(By.ID, f"task-{late}").text, what="its countdown", timeout=5)
        # overdue first, and counted in the heading, flashing
        first = con.find_element(By.CSS_SELECTOR, "#con-tasks-list .gw-task")
        assert first.get_attribute("data-overdue") == "1"
        badge = con.find_element(By.ID, "con-tasks-overdue")
        assert "gw-on" in badge.get_attribute("class") and "超时" in badge.text
        assert con.find_elements(By.ID, f"task-{fine}")
        wait_for(lambda: con.find_elements(By.CSS_SELECTOR, "#con-map .gw-task-mark-overdue"), what="a flashing marker")
        # filtered by category: only the price task stays
        con.execute_script("window.dash_clientside.set_props('con-tasks-category', {value: 'price'})")
        wait_for(lambda: not con.find_elements(By.ID, f"task-{late}"), what="the filter by category")
        assert con.find_elements(By.ID, f"task-{fine}")
        # and by grid (its level-1 grid holds it)
        con.execute_script("window.dash_clientside.set_props('con-tasks-grid', {value: arguments[0]})", l1.grids[0])
        wait_for(lambda: con.find_elements(By.ID, f"task-{fine}"), what="the filter by grid")
        # reassign from the console
        # (the list is drawn again every 5 s: a click may meet a button being replaced, so retried)
        def pick():
            con.find_element(By.CSS_SELECTOR, f"#task-{fine} button").click()
            time.sleep(0.5)
            return fine in con.find_element(By.ID, "con-tasks-pick").text
        wait_for(pick, what="the task picked")
        time.sleep(1.0)     # its candidates loaded (picking a task clears the person)

        def reassign():
            con.execute_script("window.dash_clientside.set_props('con-tasks-to', {value: arguments[0]})", l1.id)
            con.find_element(By.ID, "con-tasks-reassign").click()
            time.sleep(0.5)
            return "已改派" in con.find_element(By.ID, "con-tasks-msg").text
        wait_for(reassign, what="the reassignment", timeout=30)
        with ctx.db.connection() as conn:
            assert conn.execute("SELECT assignee FROM tasks WHERE id = %s", (fine,)).fetchone()["assignee"] == l1.id
            steps = conn.execute("SELECT actor, action FROM audit WHERE record_type = 'task' AND record_id = %s "
                                 "ORDER BY id", (fine,)).fetchall()
        assert {"actor": "user:coord1", "action": "reassign"} in [dict(x) for x in steps]
        import orjson
        sent = [orjson.loads(f[b"payload"]) for _i, f in site.r.xrange(keys.OUTBOX)]
        assert any(m.get("_type") == "task" and m.get("id") == fine for m in sent)
        con.save_screenshot(str(tmp_path / "console.png"))

        _login(wall, site.url, "viewer1", "/")
        wait_for(lambda: wall.find_elements(By.CSS_SELECTOR, "#wall-map .gw-task-mark-overdue"), what="the wall's marker")
        # it flashes where it is: Leaflet places a marker by its transform (a translation), which
        # the flash must never replace (a scale alone put the marks in the map's top-left corner)
        moves = []
        for _ in range(8):
            moves.append(wall.execute_script(
                "const m = new DOMMatrix(getComputedStyle(document.querySelector('#wall-map .gw-task-mark-overdue')).transform);"
                "return [m.e, m.f];"))
            time.sleep(0.15)
        assert all(abs(e) + abs(f) > 1 for e, f in moves), moves
        item = wait_for(lambda: wall.find_elements(By.ID, f"task-{late}"), what="the wall's task panel")[0]
        assert "gw-task-overdue" in item.get_attribute("class")
        assert not wall.find_elements(By.ID, "con-tasks-reassign")      # the wall only shows
        # the marks by state: the one not overdue in its state's colour, and the legend says which
        from layers.palette import TASK

        def state_colours():
            return wall.execute_script("""return Array.from(document.querySelectorAll('#wall-map .gw-task-mark span[data-state]'))
                .filter(e => !e.parentElement.classList.contains('gw-task-mark-overdue'))
                .map(e => [e.dataset.state, getComputedStyle(e).backgroundColor]);""")
        marks = wait_for(state_colours, what="a task mark in its state's colour")
        for state, colour in marks:
            h = TASK[state].lstrip("#")
            assert colour == "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4))), (state, colour)
        legend = wall.find_element(By.ID, "wall-legend").text
        assert "待办事件：已派单" in legend and "待办事件：已超期" in legend
        wall.save_screenshot(str(tmp_path / "wall.png"))
        assert console_errors(con) == [] and console_errors(wall) == []
    finally:
        con.quit()
        wall.quit()


def test_the_console_and_the_level1_terminal_verify_and_close_and_the_reporter_sees_it_closed(site, tmp_path):
    """Two handled reports of rep1: a coordinator verifies and closes one from the console's
    tasks bar, the township's level-1 supervisor the other from his terminal's my tasks; the
    reporter's /report (in WeChat: a GCJ-02 location) shows both 已办结, reopens the one closed
    within 7 days and is offered no reopen of the one closed 8 days ago."""
    import requests

    from tests.dashboard.test_api import h

    ctx, acc = site.ctx, site.accounts
    me = acc.get("sup1").person
    gid = next(g for g in ctx.registry.person(me).grids
               if (ctx.registry.responsible(g)["l2_supervisor"] or type("", (), {"id": None})).id == me)
    pt = ctx.dataset.grids.set_index("id").loc[gid, "geometry"].representative_point()
    l1 = ctx.registry.responsible(gid)["l1_supervisor"]
    if acc.get("l1sup") is None:
        acc.add("l1sup", "supervisor", "pw-l1sup", person=l1.id)
    ids = []
    for code in ("false_ad", "other"):
        res = requests.post(f"{site.url}/api/open311/v2/requests.json", headers=h(site, "rep1"), timeout=30, json={
            "service_code": code, "lat": pt.y, "long": pt.x, "description": f"核查测试 {code}"})
        assert res.status_code == 201, res.text
        tid = res.json()[0]["service_request_id"]
        for act, body in (("accept", {}), ("start", {}), ("handle", {"note": f"已处置 {code}"})):
            r = requests.post(f"{site.url}/api/tasks/{tid}/{act}", headers=h(site, "sup1"), json=body, timeout=30)
            assert r.status_code == 200, r.text
        ids.append(tid)
    by_coord, by_l1 = ids

    con = _desktop(tmp_path, "con")
    sup = _phone(tmp_path, "l1")
    rep = _phone(tmp_path, "rep")
    try:
        _login(con, site.url, "coord1", "/console")
        wait_for(lambda: con.find_elements(By.ID, "con-tasks-list"), what="the console's tasks panel")
        con.execute_script("window.dash_clientside.set_props('con-tasks-grid', {value: arguments[0]})", gid)
        wait_for(lambda: con.find_elements(By.ID, f"task-{by_coord}"), what="the handled task in the panel")
        # nothing picked: no step offered
        assert not con.find_element(By.ID, "con-tasks-verify").is_enabled()

        def pick():
            b = con.find_element(By.CSS_SELECTOR, f"#task-{by_coord} button")
            con.execute_script("arguments[0].scrollIntoView({block: 'center'})", b)
            b.click()
            time.sleep(0.5)
            return by_coord in con.find_element(By.ID, "con-tasks-pick").text
        wait_for(pick, what="the task picked")
        verify, close = con.find_element(By.ID, "con-tasks-verify"), con.find_element(By.ID, "con-tasks-close")
        wait_for(verify.is_enabled, what="verify offered for a handled task")
        assert not close.is_enabled() and not con.find_element(By.ID, "con-tasks-reassign").is_enabled()
        verify.click()
        wait_for(lambda: f"任务 {by_coord}：核查" in con.find_element(By.ID, "con-tasks-msg").text, what="verified")
        wait_for(close.is_enabled, what="close offered once verified")
        assert not verify.is_enabled()
        close.click()
        wait_for(lambda: f"任务 {by_coord}：办结" in con.find_element(By.ID, "con-tasks-msg").text, what="closed")
        wait_for(lambda: not con.find_elements(By.ID, f"task-{by_coord}"), what="the closed task leaving the panel")
        con.save_screenshot(str(tmp_path / "console-closed.png"))

        # the level-1 supervisor's terminal: the other handled task of his township, verify then close
        _login(sup, site.url, "l1sup", "/terminal")
        card = wait_for(lambda: sup.find_elements(By.ID, f"term-task-{by_l1}"), timeout=20,
                        what="the handled task on the level-1 terminal")[0]
        assert card.get_attribute("data-state") == "handled" and "已处置 other" in card.text
        for act, state in (("verify", "verified"), ("close", None)):
            sup.find_element(By.CSS_SELECTOR, f"#term-task-{by_l1} .gw-task-act[data-act={act}]").click()
            if state:
                wait_for(lambda: sup.find_element(By.ID, f"term-task-{by_l1}").get_attribute("data-state") == state,
                         what=f"the task {state} on the terminal")
        wait_for(lambda: not sup.find_elements(By.ID, f"term-task-{by_l1}"), what="the closed task leaving his list")

        with ctx.db.connection() as conn:
            rows = {r["id"]: r for r in conn.execute("SELECT id, state FROM tasks WHERE id = ANY(%s)", (ids,)).fetchall()}
            steps = conn.execute("SELECT record_id, actor, action FROM audit WHERE record_type = 'task' "
                                 "AND record_id = ANY(%s) AND action IN ('verify', 'close') ORDER BY id", (ids,)).fetchall()
        assert {k: r["state"] for k, r in rows.items()} == {by_coord: "closed", by_l1: "closed"}
        assert [(s["record_id"], s["actor"], s["action"]) for s in steps] == [
            (by_coord, "user:coord1", "verify"), (by_coord, "user:coord1", "close"),
            (by_l1, "user:l1sup", "verify"), (by_l1, "user:l1sup", "close")]

        # the reporter sees both closed, on a phone in WeChat: its location API gives GCJ-02
        # (~600 m off here), which the page has converted and placed in its grid
        import prcoords

        glat, glon = prcoords.wgs_gcj((pt.y, pt.x), check_china=False)
        rep.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.wx = {getLocation: (o) => setTimeout(() => o.success("
            f"{{latitude: {glat}, longitude: {glon}, accuracy: 10}}), 0)}};")})
        # the first closed 8 days ago: past the reopen window
        with ctx.db.connection() as conn:
            conn.execute("UPDATE tasks SET closed_at = now() - interval '8 days' WHERE id = %s", (by_coord,))
        _login(rep, site.url, "rep1", "/report")
        wait_for(lambda: rep.find_element(By.ID, "rp-where").get_attribute("data-grid") == gid,
                 what="WeChat's GCJ-02 point in its grid")
        point = rep.execute_script("return window.gridwatchReport.state.point")
        assert abs(point["lat"] - pt.y) < 1e-5 and abs(point["lon"] - pt.x) < 1e-5
        for tid in ids:
            r = wait_for(lambda tid=tid: rep.find_elements(By.ID, f"rp-r-{tid}"), timeout=30, what="his report")[0]
            wait_for(lambda tid=tid: rep.find_element(By.ID, f"rp-r-{tid}").get_attribute("data-state") == "closed",
                     timeout=30, what="closed on the reporter's page")
            assert "已办结" in rep.find_element(By.CSS_SELECTOR, f"#rp-r-{tid} .rp-state").text
        rep.save_screenshot(str(tmp_path / "report-closed.png"))
        # within 7 days he reopens it, with why; past them no reopen is offered, and the API refuses it
        assert not rep.find_elements(By.CSS_SELECTOR, f"#rp-r-{by_coord} .rp-reopen")
        rep.find_element(By.CSS_SELECTOR, f"#rp-r-{by_l1} .rp-reopen-note").send_keys("摊贩又回来了")
        rep.find_element(By.CSS_SELECTOR, f"#rp-r-{by_l1} .rp-reopen").click()
        wait_for(lambda: rep.find_element(By.ID, f"rp-r-{by_l1}").get_attribute("data-state") == "assigned",
                 timeout=30, what="the reopened report back with its assignee")
        with ctx.db.connection() as conn:
            row = conn.execute("SELECT state, assignee FROM tasks WHERE id = %s", (by_l1,)).fetchone()
            last = conn.execute("SELECT actor, action, note FROM audit WHERE record_type = 'task' AND record_id = %s "
                                "ORDER BY id DESC LIMIT 1", (by_l1,)).fetchone()
        assert (row["state"], row["assignee"]) == ("assigned", me)
        assert (last["actor"], last["action"], last["note"]) == ("user:rep1", "reopen", "摊贩又回来了")
        late = requests.post(f"{site.url}/api/tasks/{by_coord}/reopen", headers=h(site, "rep1"), json={}, timeout=30)
        assert late.status_code == 409
        assert console_errors(con) == [] and console_errors(sup) == [] and console_errors(rep) == []
    finally:
        con.quit()
        sup.quit()
        rep.quit()
