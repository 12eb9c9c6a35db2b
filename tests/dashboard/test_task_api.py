"""Tasks over HTTP (CONTRACT.md section 8) against real PostgreSQL, Redis and Mosquitto:
Open311 GeoReport v2, /api/tasks and its actions, visibility, the rate limit, and the
assignee's downlink through the dispatcher to a real MQTT subscriber."""
import threading

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.test_api import h
from tests.dashboard.test_records_api import png

V2 = "/api/open311/v2"


@pytest.fixture(scope="module")
def api(web_stack):
    with TestClient(web_stack.server) as client:
        yield client


@pytest.fixture(scope="module")
def place(web_stack):
    """A point inside a level-2 grid whose level-2 supervisor is sup1's person, and accounts for
    that grid's level-1 supervisor and a second reporter."""
    ctx, acc = web_stack.ctx, web_stack.accounts
    me = acc.get("sup1").person
    ds = ctx.dataset
    g = ds.grids.set_index("id")
    gid = next(x for x in ctx.registry.person(me).grids
               if ctx.registry.responsible(x)["l2_supervisor"] and ctx.registry.responsible(x)["l2_supervisor"].id == me)
    pt = g.loc[gid, "geometry"].representative_point()
    l1 = ctx.registry.responsible(gid)["l1_supervisor"]
    if "l1sup" not in web_stack.tokens:
        acc.add("l1sup", "supervisor", "pw-l1sup", person=l1.id)
        other = next(p for p in ctx.registry.people("informant"))
        acc.add("rep2", "reporter", "pw-rep2", person=other.id)
        acc.add("rep3", "reporter", "pw-rep3", person=other.id)
        for n in ("l1sup", "rep2", "rep3"):
            web_stack.tokens[n] = acc.new_token(n)
    return type("P", (), {"lat": pt.y, "lon": pt.x, "grid": gid, "me": me, "l1": l1})


def report(api, stack, place, who="rep1", dlat=0.0, **extra):
    body = {"service_code": "food_safety", "lat": place.lat + dlat, "long": place.lon,
            "description": "过期牛奶在售", **extra}
    return api.post(f"{V2}/requests.json", json=body, headers=h(stack, who))


def test_services_are_the_categories(api, web_stack):
    bad = api.get(f"{V2}/services.json")
    assert bad.status_code == 401 and bad.json()[0]["code"] == 401
    res = api.get(f"{V2}/services.json", headers=h(web_stack, "rep1"))
    assert res.status_code == 200
    food = {s["service_code"]: s for s in res.json()}["food_safety"]
    assert food == {"service_code": "food_safety", "service_name": "食品安全", "description": food["description"],
                    "metadata": False, "type": "realtime", "keywords": "过期,变质,卫生", "group": "食品安全"}
    assert api.get(f"{V2}/services", headers=h(web_stack, "viewer1")).json() == res.json()


def test_report_is_routed_and_readable_as_georeport(api, web_stack, place):
    res = report(api, web_stack, place, address_string="信江路1号")
    assert res.status_code == 201, res.text
    [out] = res.json()
    tid = out["service_request_id"]
    one = api.get(f"{V2}/requests/{tid}.json", headers=h(web_stack, "rep1"))
    assert one.status_code == 200
    [r] = one.json()
    assert r["service_request_id"] == tid and r["status"] == "open" and r["service_code"] == "food_safety"
    assert r["service_name"] == "食品安全" and r["address"] == "信江路1号" and r["long"] == pytest.approx(place.lon)
    assert web_stack.ctx.registry.person(place.me).name in r["agency_responsible"]
    assert r["requested_datetime"].endswith("+08:00") and r["expected_datetime"] > r["requested_datetime"]
    assert set(r) == {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                      "agency_responsible", "requested_datetime", "updated_datetime", "expected_datetime",
                      "address", "lat", "long", "media_url"}
    assert api.get(f"{V2}/requests/{tid}", headers=h(web_stack, "rep1")).json() == one.json()
    listed = api.get(f"{V2}/requests.json", params={"service_request_id": f"{tid},nope", "status": "open"},
                     headers=h(web_stack, "rep1"))
    assert [x["service_request_id"] for x in listed.json()] == [tid]
    assert api.get(f"{V2}/requests.json", params={"service_request_id": tid, "status": "closed"},
                   headers=h(web_stack, "rep1")).json() == []
    # a second report of the same here: filed, and told it was already reported
    again = report(api, web_stack, place, who="rep2", dlat=0.0002)
    assert again.status_code == 201 and tid in again.json()[0]["service_notice"]
    assert again.json()[0]["service_request_id"] != tid
    task = api.get(f"/api/tasks/{tid}", headers=h(web_stack, "viewer1")).json()
    assert task["state"] == "assigned" and task["assignee"] == place.me and task["grid"] == place.grid
    assert task["overdue"] is False and [x["action"] for x in task["history"]] == ["report", "assign"]
    # GeoReport's times (written by orjson) are the same text as the bureau's view (isoformat)
    [g] = listed.json()
    assert (g["requested_datetime"], g["updated_datetime"], g["expected_datetime"]) == (
        task["reported_at"], task["updated_at"], task["deadline"]) == (
        r["requested_datetime"], r["updated_datetime"], r["expected_datetime"])


@pytest.mark.parametrize("fields,field,code", [
    ({"service_code": "ufo"}, "service_code", 400),
    ({"lat": 10.0, "long": 10.0}, "lat", 400),
    ({"description": "长" * 2001}, "description", 400),
    ({"lat": "north"}, "lat", 400),
    ({"description": "a\x00b"}, "description", 400),
])
def test_georeport_errors_name_the_field(api, web_stack, place, fields, field, code):
    body = {"service_code": "price", "lat": place.lat, "long": place.lon, "description": "x", **fields}
    res = api.post(f"{V2}/requests.json", json=body, headers=h(web_stack, "coord1"))
    assert res.status_code == code
    [err] = res.json()
    assert err["code"] == code and field in err["description"]


def test_form_and_multipart_with_media(api, web_stack, place):
    base = {"service_code": "price", "lat": str(place.lat), "long": str(place.lon), "description": "不明码标价"}
    form = api.post(f"{V2}/requests", data=base, headers=h(web_stack, "coord1"))
    assert form.status_code == 201, form.text
    multi = api.post(f"{V2}/requests.json", data=base, files={"media": ("p.png", png(11), "image/png")},
                     headers=h(web_stack, "coord1"))
    assert multi.status_code == 201, multi.text
    tid = multi.json()[0]["service_request_id"]
    [r] = api.get(f"{V2}/requests/{tid}.json", headers=h(web_stack, "coord1")).json()
    assert r["media_url"].endswith("/api/media/" + __import__("hashlib").sha256(png(11)).hexdigest())
    # the list (its first media in the listing's own query) answers the same
    assert api.get(f"{V2}/requests.json", params={"service_request_id": tid},
                   headers=h(web_stack, "coord1")).json() == [r]
    two = api.post(f"{V2}/requests.json", data=base, headers=h(web_stack, "coord1"),
                   files=[("media", ("a.png", png(13), "image/png")), ("media", ("b.png", png(14), "image/png"))])
    assert two.status_code == 201, two.text
    media = api.get(f"/api/tasks/{two.json()[0]['service_request_id']}", headers=h(web_stack, "coord1")).json()["media"]
    assert len(media) == 2
    bad = api.post(f"{V2}/requests.json", data=base, files={"media": ("p.png", b"plain text, not a photo", "image/png")},
                   headers=h(web_stack, "coord1"))
    assert bad.status_code == 415 and "media" in bad.json()[0]["description"]


def test_the_closed_loop_over_http(api, web_stack, place):
    tid = report(api, web_stack, place, dlat=-0.01 * 0).json()[0]["service_request_id"]
    act = lambda who, action, **body: api.post(f"/api/tasks/{tid}/{action}", json=body, headers=h(web_stack, who))  # noqa: E731
    assert act("rep1", "accept").status_code == 403
    assert act("sup1", "handle", note="x").status_code == 409
    assert act("sup1", "fly").status_code == 422
    assert act("sup1", "accept").json()["state"] == "accepted"
    assert act("sup1", "start").json()["state"] == "in_progress"
    assert act("sup1", "handle").status_code == 422
    assert act("sup1", "handle", note="已下架").json()["feedback"] == "已下架"
    photo = api.post(f"/api/tasks/{tid}/media", files={"file": ("after.png", png(12), "image/png")},
                     headers=h(web_stack, "sup1"))
    assert photo.status_code == 201
    assert act("sup1", "verify").status_code == 403
    assert act("l1sup", "verify").json()["state"] == "verified"
    closed = act("l1sup", "close")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    [r] = api.get(f"{V2}/requests/{tid}.json", headers=h(web_stack, "rep1")).json()
    assert r["status"] == "closed" and r["status_notes"] == "已下架"
    assert act("coord1", "reopen").status_code == 403
    back = act("rep1", "reopen", note="又在卖")
    assert back.status_code == 200 and back.json()["state"] == "assigned"
    t = api.get(f"/api/tasks/{tid}", headers=h(web_stack, "sup1")).json()
    assert [x["action"] for x in t["history"]] == ["report", "assign", "accept", "start", "handle", "media",
                                                  "verify", "close", "reopen"]
    assert t["history"][4]["actor"] == "user:sup1" and t["history"][-1]["note"] == "又在卖"
    assert len(t["media"]) == 1 and t["media"][0]["type"] == "image/png"
    reject = api.post(f"/api/tasks/{tid}/reject", json={"reason": "nonsense"}, headers=h(web_stack, "coord1"))
    assert reject.status_code == 422


def test_the_reporter_reopens_within_7_days_of_closing_and_not_after(api, web_stack, place):
    """As the reporter, over HTTP: a task closed 6 days ago is reopened (back to its assignee, who
    is told); one closed 8 days ago is refused with 409 naming the window, and stays closed."""
    def closed_task(days_ago):
        tid = report(api, web_stack, place, service_code="other", description=f"reopen {days_ago}").json()[0][
            "service_request_id"]
        for who, action, body in (("sup1", "accept", {}), ("sup1", "start", {}), ("sup1", "handle", {"note": "已处理"}),
                                  ("l1sup", "verify", {}), ("l1sup", "close", {})):
            res = api.post(f"/api/tasks/{tid}/{action}", json=body, headers=h(web_stack, who))
            assert res.status_code == 200, res.text
        with web_stack.ctx.db.connection() as conn:
            conn.execute("UPDATE tasks SET closed_at = now() - make_interval(days => %s) WHERE id = %s", (days_ago, tid))
        return tid

    recent, old = closed_task(6), closed_task(8)
    back = api.post(f"/api/tasks/{recent}/reopen", json={"note": "还没修好"}, headers=h(web_stack, "rep1"))
    assert back.status_code == 200, back.text
    assert (back.json()["state"], back.json()["assignee"]) == ("assigned", place.me)
    assert back.json()["history"][-1]["actor"] == "user:rep1" and back.json()["history"][-1]["note"] == "还没修好"
    late = api.post(f"/api/tasks/{old}/reopen", json={"note": "还没修好"}, headers=h(web_stack, "rep1"))
    assert late.status_code == 409 and "7 days" in late.text
    [r] = api.get(f"{V2}/requests/{old}.json", headers=h(web_stack, "rep1")).json()
    assert r["status"] == "closed"
    assert api.get(f"/api/tasks/{old}", headers=h(web_stack, "rep1")).json()["state"] == "closed"


def test_visibility_is_404_for_others(api, web_stack, place):
    tid = report(api, web_stack, place, who="rep1").json()[0]["service_request_id"]
    for who in ("rep2",):
        assert api.get(f"/api/tasks/{tid}", headers=h(web_stack, who)).status_code == 404
        assert api.get(f"{V2}/requests/{tid}.json", headers=h(web_stack, who)).status_code == 404
        assert api.post(f"/api/tasks/{tid}/accept", headers=h(web_stack, who)).status_code == 404
        assert tid not in {x["id"] for x in api.get("/api/tasks", headers=h(web_stack, who)).json()}
        assert tid not in {x["service_request_id"] for x in api.get(f"{V2}/requests.json", headers=h(web_stack, who)).json()}
    for who in ("viewer1", "coord1", "admin1", "sup1", "l1sup", "rep1"):
        assert api.get(f"/api/tasks/{tid}", headers=h(web_stack, who)).status_code == 200, who
    mine = api.get("/api/tasks", params={"state": "assigned", "grid": place.grid, "assignee": place.me},
                   headers=h(web_stack, "sup1")).json()
    assert tid in {x["id"] for x in mine} and all(x["assignee"] == place.me for x in mine)
    assert api.get("/api/tasks", params={"state": "lost"}, headers=h(web_stack, "viewer1")).status_code == 422
    # text PostgreSQL cannot hold is a 4xx, never a 500
    assert api.get("/api/tasks", params={"grid": "a\x00"}, headers=h(web_stack, "viewer1")).status_code == 422
    assert api.get("/api/tasks/T%00", headers=h(web_stack, "viewer1")).status_code in (404, 422)
    assert api.get(f"{V2}/requests.json", params={"service_code": "\x00"},
                   headers=h(web_stack, "viewer1")).status_code == 400
    assert api.post(f"/api/tasks/{tid}/accept", json={"note": "\x00"}, headers=h(web_stack, "sup1")).status_code == 422


def test_reporters_are_rate_limited(api, web_stack, place):
    codes = [report(api, web_stack, place, who="rep3", dlat=0.01 * (i % 2)).status_code for i in range(21)]
    assert codes[:20] == [201] * 20 and codes[20] == 429
    res = report(api, web_stack, place, who="rep3")
    assert res.status_code == 429 and res.json()[0]["code"] == 429
    assert report(api, web_stack, place, who="coord1").status_code == 201   # staff are not limited


def test_assignee_device_gets_the_task_downlink(api, web_stack, place):
    """Create and reassign hand the task to someone: his device receives it on
    gw/<device>/orders at QoS 1, sent by the dispatcher from the outbox."""
    from alerts.dispatcher import Dispatcher
    from tests.alerts.field import Terminal
    from testkit.waiting import wait_for

    ctx = web_stack.ctx
    dev = ctx.registry.person(place.me).device
    l1_dev = place.l1.device
    assert dev and l1_dev
    phones = {d: Terminal(web_stack.settings, d) for d in (dev, l1_dev)}
    d = Dispatcher(web_stack.settings, name="tasks-d1", world_factory=lambda r: ctx.world)
    th = threading.Thread(target=d.run, kwargs={"install_signals": False}, daemon=True)
    th.start()
    try:
        tid = report(api, web_stack, place, who="coord1").json()[0]["service_request_id"]
        wait_for(lambda: any(m.get("id") == tid for m in phones[dev].received), what="the task on the assignee's device")
        msg = next(m for m in phones[dev].received if m.get("id") == tid)
        assert msg["_topic"] == f"{web_stack.settings.topic_root}/{dev}/orders"
        assert {k: msg[k] for k in ("_type", "category", "grid")} == {"_type": "task", "category": "food_safety",
                                                                      "grid": place.grid}
        assert set(msg) >= {"id", "title", "lat", "lon", "deadline"} and msg["deadline"]
        res = api.post(f"/api/tasks/{tid}/reassign", json={"assignee": place.l1.id}, headers=h(web_stack, "coord1"))
        assert res.status_code == 200 and res.json()["assignee"] == place.l1.id
        wait_for(lambda: any(m.get("id") == tid for m in phones[l1_dev].received), what="the reassigned task")
    finally:
        d.stop.set()
        th.join(10)
        for t in phones.values():
            t.disconnect()
