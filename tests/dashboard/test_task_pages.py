"""The tasks' pages without a browser, on the real stack: /report and its point helper, the
reporter's landing page, the terminal's my tasks and the console's panel data, the console's
reassign; and a supervisor whose phone lost its MQTT session while off duty receives his task
when he comes back on duty (real ingest pipeline, dispatcher and Mosquitto)."""
import threading
import time

import orjson
import pytest
from fastapi.testclient import TestClient

from dashboard import tasks_panel, terminal_tasks
from tests.dashboard.test_api import h
from tests.dashboard.test_task_api import place, report  # noqa: F401 - the tasks' fixture
from testkit.waiting import wait_for


@pytest.fixture(scope="module")
def api(web_stack):
    # no `with`: the lifespan would close the module's shared context on exit
    return TestClient(web_stack.server)


def test_report_page_is_for_logged_in_users_in_chinese_by_default(api, web_stack):
    res = api.get("/report", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login?next=/report")
    page = api.get("/report", headers=h(web_stack, "rep1"))
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    for words in ("问题上报", "问题类别", 'accept="image/*" capture="environment"', "/static/report/report.js"):
        assert words in page.text
    assert "Report a problem" in api.get("/report?lang=en", headers=h(web_stack, "rep1")).text
    assert api.get("/static/report/report.js").status_code == 200      # code, public
    assert api.get("/static/report/vendor/leaflet/leaflet.js").headers["content-type"].startswith("text/javascript")
    assert api.get("/static/report/../report.py").status_code == 404
    # a reporter logging in lands on /report
    login = TestClient(web_stack.server).post("/login", data={"username": "rep1", "password": "pw-rep1", "next": "/"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/report"


def test_the_point_helper_names_the_grid_or_says_outside(api, web_stack, place):  # noqa: F811
    assert api.get("/api/report/point", params={"lat": place.lat, "lon": place.lon}).status_code == 401
    res = api.get("/api/report/point", params={"lat": place.lat, "lon": place.lon}, headers=h(web_stack, "rep1"))
    assert res.status_code == 200
    p = res.json()
    assert p["grid"]["id"] == place.grid and p["grid"]["name"] == web_stack.ctx.grid_names[place.grid]
    assert p["grid"]["outline"]["features"][0]["properties"]["id"] == place.grid
    assert p["map"] == {"lat": pytest.approx(place.lat), "lon": pytest.approx(place.lon)}    # wgs84 tiles here
    out = api.get("/api/report/point", params={"lat": 1.0, "lon": 1.0, "datum": "map"}, headers=h(web_stack, "rep1"))
    assert out.status_code == 200 and out.json()["grid"] is None
    bad = api.get("/api/report/point", params={"lat": 1, "lon": 1, "datum": "gcj"}, headers=h(web_stack, "rep1"))
    assert bad.status_code == 422 and "datum" in bad.text


def test_a_gcj02_point_from_wechat_is_converted_and_filed_in_its_grid(api, web_stack, place):  # noqa: F811
    """WeChat's location API gives GCJ-02 (~600 m off WGS-84 here): the page sends it as
    datum=gcj02, gets the WGS-84 point and its grid back, and files that point."""
    import prcoords

    from geodata.geo import distance_m

    def metres(a, b):
        return distance_m(*a, *b)

    glat, glon = prcoords.wgs_gcj((place.lat, place.lon), check_china=False)
    assert metres((place.lat, place.lon), (glat, glon)) > 300         # taken as WGS-84 it is elsewhere
    res = api.get("/api/report/point", params={"lat": glat, "lon": glon, "datum": "gcj02"}, headers=h(web_stack, "rep1"))
    assert res.status_code == 200, res.text
    p = res.json()
    assert metres((p["lat"], p["lon"]), (place.lat, place.lon)) < 0.5
    assert p["grid"]["id"] == place.grid
    assert p["map"] == {"lat": pytest.approx(place.lat), "lon": pytest.approx(place.lon)}    # wgs84 tiles here
    filed = api.post("/api/open311/v2/requests.json", headers=h(web_stack, "rep1"), json={
        "service_code": "other", "lat": p["lat"], "long": p["lon"], "description": "微信定位"})
    assert filed.status_code == 201, filed.text
    tid = filed.json()[0]["service_request_id"]
    with web_stack.ctx.db.connection() as conn:
        row = conn.execute("SELECT grid, assignee, lat, lon FROM tasks WHERE id = %s", (tid,)).fetchone()
    assert (row["grid"], row["assignee"]) == (place.grid, place.me)
    assert metres((row["lat"], row["lon"]), (place.lat, place.lon)) < 0.5


def test_my_tasks_and_the_panel_see_what_the_role_may(api, web_stack, place):  # noqa: F811
    ctx, acc = web_stack.ctx, web_stack.accounts
    res = report(api, web_stack, place, service_code="price", description="未明码标价")
    tid = res.json()[0]["service_request_id"]
    mine = terminal_tasks.my_tasks(ctx, acc.get("sup1"))
    t = next(x for x in mine if x["id"] == tid)
    assert t["category_name"] == "价格违法" and t["state"] == "assigned" and t["deadline"].endswith("+08:00")
    assert t["grid_name"] == ctx.grid_names[place.grid] and t["overdue"] is False
    # an overdue one comes first in the panel
    with ctx.db.connection() as conn:
        conn.execute("UPDATE tasks SET deadline = now() - interval '1 hour' WHERE id = %s", (tid,))
    coord = acc.get("coord1")
    panel = tasks_panel.open_tasks(ctx, coord)
    assert panel[0]["overdue"] and any(x["id"] == tid for x in panel)
    assert all(x["category"] == "price" for x in tasks_panel.open_tasks(ctx, coord, category="price"))
    assert tid in [x["id"] for x in tasks_panel.open_tasks(ctx, coord, grid=place.grid)]
    assert tid not in [x["id"] for x in tasks_panel.open_tasks(ctx, coord, grid="360000000000")]
    # the reporter sees his own only; another reporter person nothing of it
    assert tid in [x["id"] for x in tasks_panel.open_tasks(ctx, acc.get("rep1"))]
    assert tid not in [x["id"] for x in tasks_panel.open_tasks(ctx, acc.get("rep2"))]
    geo = tasks_panel.tasks_geojson(ctx, panel)
    f = next(f for f in geo["features"] if f["properties"]["id"] == tid)
    assert f["properties"]["overdue"] is True
    # the console's reassign: a coordinator's step, audited, the new assignee's downlink queued
    assert "✗" in tasks_panel.reassign_task(ctx, acc.get("viewer1"), tid, place.l1.id, "zh")
    msg = tasks_panel.reassign_task(ctx, coord, tid, place.l1.id, "zh")
    assert msg.startswith("✓") and place.l1.name in msg
    got = api.get(f"/api/tasks/{tid}", headers=h(web_stack, "coord1")).json()
    assert got["assignee"] == place.l1.id and got["history"][-1]["action"] == "reassign"
    assert got["history"][-1]["actor"] == "user:coord1"
    assert tid not in [x["id"] for x in terminal_tasks.my_tasks(ctx, acc.get("sup1")) if x["assignee"] == place.me]


def test_a_supervisor_back_on_duty_receives_his_task_though_his_session_was_lost(api, web_stack, place):  # noqa: F811
    from alerts.dispatcher import Dispatcher
    from casework.task_delivery import GROUP
    from casework.task_escalation import job
    from telemetry.keys import EVENTS
    from telemetry.mqtt import connect

    ctx, s = web_stack.ctx, web_stack.settings
    dev = ctx.registry.person(place.me).device

    def status(st):
        ctx.pipeline.handle(f"{s.topic_root}/{dev}/status", orjson.dumps({"st": st, "tst": int(time.time())}))

    d = Dispatcher(s, name="tasks-back", world_factory=lambda r: ctx.world, periodic=(job(s),))
    th = threading.Thread(target=d.run, kwargs={"install_signals": False}, daemon=True)
    th.start()
    got = []
    phone = None
    try:
        wait_for(lambda: any(g["name"].decode() == GROUP for g in web_stack.r.xinfo_groups(EVENTS)),
                 what="the tasks' consumer group", timeout=30)
        status("on_duty")
        status("off_duty")
        # assigned to him while he is off duty with no session at the broker: that message is lost
        tid = report(api, web_stack, place, who="coord1", service_code="other").json()[0]["service_request_id"]
        time.sleep(1.0)
        # a new phone (clean session) comes on line and back on duty
        phone = connect(s, f"{dev}-new", clean_start=True, session_expiry_s=0,
                        on_message=lambda c, u, m: got.append(orjson.loads(m.payload)))
        phone.subscribe(f"{s.topic_root}/{dev}/orders", qos=1)
        time.sleep(0.5)
        assert not any(m.get("id") == tid for m in got)
        status("on_duty")
        msg = wait_for(lambda: next((m for m in got if m.get("id") == tid), None), timeout=30,
                       what="the task re-sent to the device back on duty")
        assert msg["_type"] == "task" and msg["grid"] == place.grid
    finally:
        d.stop.set()
        th.join(10)
        if phone is not None:
            phone.disconnect()
            phone.loop_stop()


def _handled(api, stack, place, **extra):  # noqa: F811
    """A report at sup1's point (by a coordinator: staff are not rate-limited, the module's
    reporters are), accepted, started and handled by sup1 through the API."""
    tid = report(api, stack, place, who="coord1", **extra).json()[0]["service_request_id"]
    for act, body in (("accept", {}), ("start", {}), ("handle", {"note": "已责令下架"})):
        res = api.post(f"/api/tasks/{tid}/{act}", json=body, headers=h(stack, "sup1"))
        assert res.status_code == 200, res.text
    return tid


def test_the_console_verifies_closes_and_rejects_as_a_manager(api, web_stack, place):  # noqa: F811
    ctx, acc = web_stack.ctx, web_stack.accounts
    coord = acc.get("coord1")
    tid = _handled(api, web_stack, place, service_code="price", description="价格不明")
    # a second report at the same place: the panel proposes the earlier open one nearby
    dup = report(api, web_stack, place, who="coord1", service_code="price",
                 description="同一处价格不明").json()[0]["service_request_id"]
    with ctx.db.connection() as conn:
        row = conn.execute("SELECT * FROM tasks WHERE id = %s", (dup,)).fetchone()
        first = conn.execute("SELECT id FROM tasks WHERE category = 'price' AND id <> %s AND state NOT IN "
                             "('closed', 'rejected') AND reported_at > %s - interval '24 hours' ORDER BY reported_at",
                             (dup, row["reported_at"])).fetchall()
    proposed = tasks_panel.likely_duplicate(ctx, row)          # the panel proposes the earlier one nearby
    assert proposed in [x["id"] for x in first] and proposed != dup
    # the picked task's state decides the steps offered
    assert tasks_panel.STEPS_OF["handled"] == ("verify",) and tasks_panel.STEPS_OF["verified"] == ("close",)
    assert set(tasks_panel.STEPS_OF["assigned"]) == {"reassign", "reject"}
    assert "✗" in tasks_panel.act_task(ctx, acc.get("viewer1"), tid, "verify", "zh")       # a viewer may not
    assert "✗" in tasks_panel.act_task(ctx, coord, tid, "close", "zh")                    # close only after verify
    assert tasks_panel.act_task(ctx, coord, tid, "verify", "zh") == f"✓ 任务 {tid}：核查"
    assert tasks_panel.act_task(ctx, coord, tid, "close", "zh") == f"✓ 任务 {tid}：办结"
    got = api.get(f"/api/tasks/{tid}", headers=h(web_stack, "coord1")).json()
    assert got["state"] == "closed"
    assert [(x["action"], x["actor"]) for x in got["history"]][-2:] == [("verify", "user:coord1"), ("close", "user:coord1")]
    # merged as a duplicate: reject names the task it repeats, or is refused
    assert "✗" in tasks_panel.act_task(ctx, coord, dup, "reject", "zh", reason="duplicate", duplicate_of=None)
    assert "✗" in tasks_panel.act_task(ctx, coord, dup, "reject", "zh", reason="duplicate", duplicate_of="H-NONE")
    with ctx.db.connection() as conn:
        assert conn.execute("SELECT state FROM tasks WHERE id = %s", (dup,)).fetchone()["state"] == "assigned"
    assert tasks_panel.act_task(ctx, coord, dup, "reject", "zh", reason="duplicate", duplicate_of=tid).startswith("✓")
    got = api.get(f"/api/tasks/{dup}", headers=h(web_stack, "coord1")).json()
    assert (got["state"], got["reason"], got["duplicate_of"]) == ("rejected", "duplicate", tid)


def test_the_level1_supervisor_verifies_and_closes_his_townships_handled_tasks(api, web_stack, place):  # noqa: F811
    ctx, acc = web_stack.ctx, web_stack.accounts
    tid = _handled(api, web_stack, place, service_code="false_ad", description="夸大宣传")
    l1 = acc.get("l1sup")
    card = next(x for x in terminal_tasks.my_tasks(ctx, l1) if x["id"] == tid)
    assert card["state"] == "handled" and card["feedback"] == "已责令下架" and card["level1"] in place.l1.grids
    # not in the level-2 supervisor's list once handled; nobody else's township's
    assert tid not in [x["id"] for x in terminal_tasks.my_tasks(ctx, acc.get("sup1"))]
    assert terminal_tasks.to_verify(ctx, acc.get("sup1")) == []
    # the terminal's buttons post to the API: verify, then close
    for act, state in (("verify", "verified"), ("close", "closed")):
        res = api.post(f"/api/tasks/{tid}/{act}", json={}, headers=h(web_stack, "l1sup"))
        assert res.status_code == 200 and res.json()["state"] == state, res.text
        if state == "verified":
            assert next(x for x in terminal_tasks.my_tasks(ctx, l1) if x["id"] == tid)["state"] == "verified"
    assert tid not in [x["id"] for x in terminal_tasks.my_tasks(ctx, l1)]
