"""The REST API against real Redis (demo dataset loaded) and Mosquitto: auth, roles, JSON
errors, nearest order, orders lifecycle, alerts, trails and device ingest."""
import base64
import time

import pytest
from fastapi.testclient import TestClient

from dashboard.auth import set_device_secret
from tests.dashboard.conftest import report
from tests.conftest import loaded


@pytest.fixture(scope="module")
def api(web_stack):
    with TestClient(web_stack.server) as client:
        yield client


def h(stack, name):
    return {"Authorization": f"Bearer {stack.tokens[name]}"}


def supervisors(stack, n=6):
    """The first n level-2 supervisors' (person, device) of the demo, in one township."""
    p = stack.ctx.dataset.people
    sups = p[(p["role"] == "l2_supervisor") & p["device"].notna()].head(n)
    return list(zip(sups["id"], sups["device"]))


def test_health_is_public_and_reports_both(api):
    res = api.get("/api/health")
    assert res.status_code == 200 and res.json() == {"redis": "ok", "mqtt": "ok", "database": "ok"}


@pytest.mark.parametrize("path", ["/api/supervisors", "/api/grids", "/api/orders", "/api/alerts", "/metrics",
                                  "/api/nearest?lat=28.2&lon=117.0"])
def test_everything_else_needs_login(api, path):
    res = api.get(path)
    assert res.status_code == 401 and "error" in res.json()


def test_pages_redirect_anonymous_users_to_login(api):
    res = api.get("/console", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login?next=/console")


def test_login_sets_a_session_that_opens_the_api(web_stack):
    with TestClient(web_stack.server) as c:
        bad = c.post("/login", data={"username": "coord1", "password": "nope"}, follow_redirects=False)
        assert bad.status_code == 303 and "error=" in bad.headers["location"]
        ok = c.post("/login", data={"username": "coord1", "password": "pw-coord1", "next": "/console"},
                    follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/console"
        assert c.get("/api/me").json()["role"] == "coordinator"
        # An open redirect through ?next= is refused.
        ok = c.post("/login", data={"username": "coord1", "password": "pw-coord1", "next": "//evil.example"},
                    follow_redirects=False)
        assert ok.headers["location"] == "/"


def test_unknown_api_route_is_json_404(api, web_stack):
    res = api.get("/api/nothing/here", headers=h(web_stack, "viewer1"))
    assert res.status_code == 404 and res.json()["error"].startswith("no route")


@pytest.mark.parametrize("query", ["lat=999&lon=117", "lat=abc&lon=117", "lat=28.2", "lat=28.2&lon=117&k=0",
                                   "lat=28.2&lon=117&status=dancing"])
def test_bad_nearest_queries_are_422_json(api, web_stack, query):
    res = api.get(f"/api/nearest?{query}", headers=h(web_stack, "viewer1"))
    assert res.status_code == 422 and "error" in res.json()


def test_openapi_lists_the_contract_routes(api, web_stack):
    assert api.get("/api/openapi.json").status_code == 401
    paths = api.get("/api/openapi.json", headers=h(web_stack, "viewer1")).json()["paths"]
    for route in ("/api/health", "/api/supervisors", "/api/nearest", "/api/grids", "/api/grids/locate",
                  "/api/orders", "/api/orders/{order_id}", "/api/orders/{order_id}/cancel",
                  "/api/orders/{order_id}/close", "/api/alerts", "/api/alerts/{alert_id}/ack",
                  "/api/devices/{device}/trail", "/api/ingest/owntracks", "/api/ingest/osmand"):
        assert route in paths, route


def test_locate_names_both_grids_and_the_responsible_people(api, web_stack):
    g = web_stack.ctx.dataset.grids
    l2 = g[g["level"] == 2].iloc[0]
    pt = l2.geometry.representative_point()
    res = api.get(f"/api/grids/locate?lat={pt.y}&lon={pt.x}", headers=h(web_stack, "viewer1")).json()
    assert res["level2"]["id"] == l2["id"] and res["level1"]["id"] == l2["parent"]
    assert res["level2"]["responsible"]["l2_supervisor"]["role"] == "l2_supervisor"
    out = api.get("/api/grids/locate?lat=40&lon=116", headers=h(web_stack, "viewer1"))
    assert out.status_code == 404


def test_nearest_and_supervisors_reflect_live_positions(api, web_stack):
    (p1, d1), (p2, d2), (p3, d3) = supervisors(web_stack, 3)
    report(web_stack.ctx, d1, 28.2600, 117.0700)
    report(web_stack.ctx, d2, 28.2650, 117.0700)
    report(web_stack.ctx, d3, 28.2610, 117.0700, st="off_duty")
    near = api.get("/api/nearest?lat=28.2601&lon=117.0700&k=5", headers=h(web_stack, "viewer1")).json()
    devices = [n["device"] for n in near]
    assert devices.index(d1) < devices.index(d2) and d3 not in devices
    assert all(a["distance_m"] <= b["distance_m"] for a, b in zip(near, near[1:]))
    busy = api.get("/api/nearest?lat=28.2601&lon=117.07&k=5&status=off_duty", headers=h(web_stack, "viewer1")).json()
    assert [n["device"] for n in busy][:1] == [d3]
    rows = api.get("/api/supervisors?status=off_duty", headers=h(web_stack, "viewer1")).json()
    assert {r["device"] for r in rows} >= {d3} and all(r["status"] == "off_duty" for r in rows)
    row = next(r for r in api.get("/api/supervisors", headers=h(web_stack, "viewer1")).json() if r["device"] == d1)
    assert row["fresh"] == "live" and row["person"] == p1 and abs(row["lat"] - 28.26) < 1e-6


def test_viewer_cannot_issue_an_order_but_a_coordinator_can(api, web_stack):
    (_, d1), (_, d2) = supervisors(web_stack, 2)
    report(web_stack.ctx, d1, 28.2600, 117.0700)
    report(web_stack.ctx, d2, 28.2650, 117.0700)
    body = {"lat": 28.2601, "lon": 117.07, "title": "食品安全投诉", "body": "现场核查", "priority": 1,
            "kind": "emergency", "k": 2}
    assert api.post("/api/orders", json=body, headers=h(web_stack, "viewer1")).status_code == 403
    res = api.post("/api/orders", json=body, headers=h(web_stack, "coord1"))
    assert res.status_code == 201, res.text
    order = res.json()
    assert order["state"] == "open" and {d1, d2} <= {r["device"] for r in order["recipients"]}
    got = api.get(f"/api/orders/{order['id']}", headers=h(web_stack, "viewer1")).json()
    assert got["audit"] and got["audit"][0]["event"] == "issued"
    assert order["id"] in {o["id"] for o in api.get("/api/orders?state=open", headers=h(web_stack, "viewer1")).json()}
    # Cancel: a repeat is a harmless no-op; closing a cancelled order is 409 with a reason.
    assert api.post(f"/api/orders/{order['id']}/cancel", headers=h(web_stack, "viewer1")).status_code == 403
    assert api.post(f"/api/orders/{order['id']}/cancel", headers=h(web_stack, "coord1")).json()["state"] == "cancelled"
    assert api.post(f"/api/orders/{order['id']}/cancel", headers=h(web_stack, "coord1")).json()["state"] == "cancelled"
    closed = api.post(f"/api/orders/{order['id']}/close", headers=h(web_stack, "coord1"))
    assert closed.status_code == 409 and "error" in closed.json()
    assert api.get("/api/orders/nope", headers=h(web_stack, "viewer1")).status_code == 404


@pytest.mark.parametrize("body", [{}, {"lat": 28.2, "lon": 117.0}, {"lat": 95, "lon": 117, "title": "x"},
                                  {"lat": 28.2, "lon": 117, "title": "x", "priority": 9},
                                  {"lat": 28.2, "lon": 117, "title": "x", "kind": "party"}])
def test_bad_order_bodies_are_422(api, web_stack, body):
    res = api.post("/api/orders", json=body, headers=h(web_stack, "coord1"))
    assert res.status_code == 422 and "error" in res.json()


def test_trail_in_time_order_as_geojson_and_csv(api, web_stack):
    (_, d1), = supervisors(web_stack, 1)
    now = time.time()
    for i, dt in enumerate((-30, -10, -20)):  # the last is a late fix: kept in the trail
        report(web_stack.ctx, d1, 28.25 + i * 0.001, 117.05, tst=now + dt)
    gj = api.get(f"/api/devices/{d1}/trail?from={now - 60}&to={now}", headers=h(web_stack, "viewer1")).json()
    tst = [f["properties"]["tst"] for f in gj["features"]]
    assert len(tst) >= 3 and tst == sorted(tst)
    csv = api.get(f"/api/devices/{d1}/trail?from={now - 60}&to={now}&format=csv", headers=h(web_stack, "viewer1"))
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("tst,lat,lon")
    assert api.get("/api/devices/ghost/trail", headers=h(web_stack, "viewer1")).status_code == 404


def test_owntracks_http_ingest_binds_the_device_to_its_credentials(api, web_stack):
    (_, d1), (_, d2) = supervisors(web_stack, 12)[8:10]  # devices no other test moves
    secret = set_device_secret(web_stack.r, d1)
    body = {"_type": "location", "lat": 28.2333, "lon": 117.0111, "tst": int(time.time())}
    assert api.post("/api/ingest/owntracks", json=body).status_code == 401
    bad = base64.b64encode(f"{d1}:wrong".encode()).decode()
    assert api.post("/api/ingest/owntracks", json=body, headers={"Authorization": f"Basic {bad}"}).status_code == 401
    # d2's name with d1's secret is refused: a device cannot act as another.
    spoof = base64.b64encode(f"{d2}:{secret}".encode()).decode()
    assert api.post("/api/ingest/owntracks", json=body, headers={"Authorization": f"Basic {spoof}"}).status_code == 401
    good = base64.b64encode(f"someone/{d1}:{secret}".encode()).decode()
    res = api.post("/api/ingest/owntracks", json=body, headers={"Authorization": f"Basic {good}"})
    assert res.status_code == 200 and res.json() == []
    assert abs(web_stack.ctx.store.device(d1).lat - 28.2333) < 1e-6
    res = api.post("/api/ingest/owntracks", content=b"{not json", headers={"Authorization": f"Basic {good}"})
    assert res.status_code in (400, 422) and res.json()["dropped"]


def test_osmand_ingest(api, web_stack):
    (_, d1), = supervisors(web_stack, 12)[10:11]
    secret = set_device_secret(web_stack.r, d1)
    q = f"id={d1}&lat=28.2444&lon=117.0222&timestamp={int(time.time())}&batt=77&key={secret}"
    assert api.get(f"/api/ingest/osmand?{q}").status_code == 200
    s = web_stack.ctx.store.device(d1)
    assert abs(s.lat - 28.2444) < 1e-6 and s.batt == 77
    assert api.get(f"/api/ingest/osmand?id={d1}&lat=28.2&lon=117&timestamp=1&key=bad").status_code == 401


def test_alerts_list_and_ack(api, web_stack):
    (_, d1), = supervisors(web_stack, 1)
    report(web_stack.ctx, d1, 28.25, 117.05)
    web_stack.ctx.alerts.sos(d1, "device:" + d1, lat=28.25, lon=117.05)
    open_ = api.get("/api/alerts?state=open", headers=h(web_stack, "viewer1")).json()
    sos = next(a for a in open_ if a["kind"] == "sos" and a["device"] == d1)
    res = api.post(f"/api/alerts/{sos['id']}/ack", headers=h(web_stack, "viewer1"))
    assert res.status_code == 200 and res.json()["state"] == "acknowledged"
    assert api.post("/api/alerts/nope/ack", headers=h(web_stack, "viewer1")).status_code == 404
    assert api.get("/api/alerts?state=weird", headers=h(web_stack, "viewer1")).status_code == 422


def test_metrics_in_prometheus_text(api, web_stack):
    res = api.get("/metrics", headers=h(web_stack, "viewer1"))
    assert res.status_code == 200 and "gridwatch_ingest_messages_total" in res.text
    assert 'gridwatch_live_devices{presence="live"}' in res.text


def test_choropleth_measures_count_per_level2_grid(web_stack):
    from dashboard import live

    ent = live.choropleth(web_stack.ctx, "entities")
    e = web_stack.ctx.dataset.entities
    assert sum(ent["values"].values()) == int(e["grid"].notna().sum()) and ent["max"] > 0
    (_, d1), = supervisors(web_stack, 12)[11:12]
    report(web_stack.ctx, d1, 28.2612, 117.0688)
    sup = live.choropleth(web_stack.ctx, "supervisors_live")
    l2 = web_stack.ctx.store.device(d1).l2
    assert l2 and sup["values"][l2] >= 1
    assert live.choropleth(web_stack.ctx, "none")["values"] == {}


def test_audit_exports_per_order_and_per_day(api, web_stack):
    import csv
    import io
    from datetime import datetime
    from zoneinfo import ZoneInfo

    (_, d1), = supervisors(web_stack, 1)
    report(web_stack.ctx, d1, 28.2600, 117.0700)
    body = {"lat": 28.2601, "lon": 117.07, "title": "审计导出", "kind": "task", "recipients": [d1]}
    order = api.post("/api/orders", json=body, headers=h(web_stack, "coord1")).json()
    api.post(f"/api/orders/{order['id']}/close", headers=h(web_stack, "coord1"))
    rows = api.get(f"/api/orders/{order['id']}/audit", headers=h(web_stack, "viewer1")).json()
    events = [r["event"] for r in rows]
    assert events[0] == "issued" and "closed" in events and all(r["actor"] for r in rows)
    text = api.get(f"/api/orders/{order['id']}/audit?format=csv", headers=h(web_stack, "viewer1")).text
    assert len(list(csv.DictReader(io.StringIO(text)))) == len(rows)
    today = datetime.now(ZoneInfo(web_stack.settings.timezone)).date().isoformat()
    day = api.get(f"/api/audit?day={today}", headers=h(web_stack, "viewer1")).json()
    assert {r["id"] for r in rows} <= {r["id"] for r in day}
    assert api.get("/api/audit?day=yesterday", headers=h(web_stack, "viewer1")).status_code == 422
    assert api.get("/api/orders/nope/audit", headers=h(web_stack, "viewer1")).status_code == 404


@pytest.mark.parametrize("day", ["0", "1970-01-01", "1900-05-05"])
def test_audit_day_before_the_epoch_in_shanghai_is_empty_not_500(api, web_stack, day):
    res = api.get(f"/api/audit?day={day}", headers=h(web_stack, "viewer1"))
    assert res.status_code == 200 and res.json() == []


def test_console_shows_the_entities_of_the_grid_at_a_point(web_stack):
    from dashboard import live

    e = web_stack.ctx.dataset.entities
    one = e[e["grid"].notna()].iloc[0]
    fc = live.entities_at(web_stack.ctx, float(one["lat"]), float(one["lon"]))
    assert one["uscc"] in {f["properties"]["uscc"] for f in fc["features"]}
    assert len(fc["features"]) == min(int((e["grid"] == one["grid"]).sum()), 5000)
    assert live.entities_at(web_stack.ctx, 40.0, 116.0)["features"] == []


def test_a_web_process_follows_a_newly_loaded_dataset(api, web_stack, demo_data):
    """After `gridwatch load` renames a grid, the web process serves the new name once it has
    looked (page layouts and the live hub look every few seconds), without a restart."""
    import dataclasses

    from geodata.store import save_dataset

    ctx = web_stack.ctx
    ds = loaded(demo_data)
    gid = ds.grids["id"].iloc[0]
    old_name = ctx.grid_names[gid]
    assert ctx.follow_dataset(force=True) is False  # nothing new yet
    grids = ds.grids.copy()
    grids.loc[grids["id"] == gid, "name"] = "改名测试村"
    try:
        save_dataset(web_stack.r, dataclasses.replace(ds, grids=grids))
        assert ctx.follow_dataset(force=True) is True
        assert ctx.grid_names[gid] == "改名测试村"
        names = {f["properties"]["id"]: f["properties"]["name"]
                 for f in api.get("/api/grids", headers=h(web_stack, "viewer1")).json()["features"]}
        assert names[gid] == "改名测试村"
    finally:
        save_dataset(web_stack.r, ds)
        ctx.follow_dataset(force=True)
    assert ctx.grid_names[gid] == old_name


def test_nearest_means_the_same_people_in_the_api_the_console_and_an_order(api, web_stack):
    """One answer to "who counts as a supervisor" (geodata.roles.SUPERVISOR_ROLES): an
    assistant in the field is one, a coordinator's or an informant's phone is not."""
    from dashboard.live import point_info
    from telemetry.protocols import Fix

    store, now = web_stack.ctx.store, time.time()
    pipe = store.batch()
    for i, role in enumerate(("assistant", "coordinator", "informant")):
        store.queue_fix(pipe, Fix(f"role-{role}", now - 1, 28.3700 + i * 1e-4, 117.2100), now, f"p-{role}", role,
                        None, None)
    store.execute(pipe)
    near = api.get("/api/nearest?lat=28.37&lon=117.21&k=2", headers=h(web_stack, "viewer1")).json()
    assert [n["device"] for n in near][:1] == ["role-assistant"]
    assert not {"role-coordinator", "role-informant"} & {n["device"] for n in near}
    console = point_info(web_stack.ctx, 28.37, 117.21, k=2)
    assert [n["device"] for n in console["nearest"]] == [n["device"] for n in near]


def test_the_page_draws_with_the_servers_tables_and_the_assets_keep_no_copy(api, web_stack):
    """Marker colours and engaged states: one table (layers/palette.py) embedded in the page;
    the scripts and the stylesheet read it instead of holding their own."""
    import json
    import re

    from alerts.states import ENGAGED
    from dashboard.ui import ASSETS
    from layers.palette import ACCENT, ENTITY, PRESENCE, STATUS, browser_tables

    page = api.get("/", headers=h(web_stack, "viewer1"))
    assert page.status_code == 200
    tables = json.loads(re.search(r"window\.gridwatchTables = (\{.*?\});</script>", page.text).group(1))
    assert tables == browser_tables() and set(tables["engaged"]) == ENGAGED
    assert f"--sos: {STATUS['sos']};" in page.text
    assert "window.gridwatchTables" in api.get("/login").text  # the login page's buttons use the colours too
    marker = {*PRESENCE.values(), STATUS["sos"], STATUS["busy"], ACCENT, ENTITY}
    for asset in [*ASSETS.glob("*.js"), *ASSETS.glob("*.css")]:
        text = asset.read_text().lower()
        assert not {c for c in marker if c in text}, asset.name
        assert not any(f'"{s}"' in text for s in ENGAGED), asset.name  # no list of engaged states


def test_grids_are_exact_by_default_and_simplified_on_request(api, web_stack):
    """Integrators get the boundaries as loaded; the map's ~80 m outlines only when asked."""
    import shapely
    from shapely.geometry import shape

    g = web_stack.ctx.dataset.grids
    row = g[g["level"] == 2].iloc[0]
    def vertices(params):
        res = api.get(f"/api/grids?level=2{params}", headers=h(web_stack, "viewer1"))
        assert res.status_code == 200
        f = next(f for f in res.json()["features"] if f["properties"]["id"] == row["id"])
        return shape(f["geometry"])
    exact, simple = vertices(""), vertices("&simplified=true")
    assert shapely.get_num_coordinates(exact) == shapely.get_num_coordinates(row.geometry)
    assert exact.symmetric_difference(row.geometry).area < 1e-12
    assert shapely.get_num_coordinates(simple) < shapely.get_num_coordinates(exact)
    assert "simplified" in str(api.get("/api/openapi.json", headers=h(web_stack, "viewer1")).json()["paths"]["/api/grids"])


def test_a_mistaken_sos_is_cancelled_by_its_supervisor_and_kept(api, web_stack):
    (person, device), (other, _) = supervisors(web_stack, 12)[10:12]
    ctx = web_stack.ctx
    report(ctx, device, 28.25, 117.05)
    for pid in (person, other):
        web_stack.accounts.add(pid, "supervisor", "pw", person=pid)
    sos = ctx.alerts.sos(device, f"device:{device}")
    aid = sos["alert"]["id"]
    # another supervisor and a viewer may not; the one who raised it may
    for who in (other, "viewer1"):
        tok = web_stack.accounts.new_token(who) if who == other else web_stack.tokens[who]
        res = api.post(f"/api/alerts/{aid}/cancel", headers={"Authorization": f"Bearer {tok}"})
        assert res.status_code == 403 and res.json()["error"]
    tok = web_stack.accounts.new_token(person)
    res = api.post(f"/api/alerts/{aid}/cancel", headers={"Authorization": f"Bearer {tok}"})
    assert res.status_code == 200, res.text
    a = res.json()
    assert a["state"] == "cleared" and a["cancelled_by"] == f"user:{person}"
    # kept: still listed, its audit entries all there, the last naming him
    assert any(x["id"] == aid for x in api.get("/api/alerts?state=cleared", headers=h(web_stack, "viewer1")).json())
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from alerts import audit

    today = datetime.now(ZoneInfo(ctx.settings.timezone)).date()
    entries = [e.row() for e in audit.read_day(web_stack.r, today, ctx.settings.timezone)]
    entries = [e for e in entries if e.get("alert") == aid]
    assert [e["event"] for e in entries][:1] == ["raised"] and entries[-1]["actor"] == f"user:{person}"
    assert entries[-1]["data"].get("cancelled_by") == f"user:{person}"
    if sos["order"]:
        assert ctx.orders.get(sos["order"], with_audit=False)["state"] == "cancelled"
    # a repeat changes nothing; a non-SOS alert cannot be cancelled
    assert api.post(f"/api/alerts/{aid}/cancel", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    assert api.post("/api/alerts/nope/cancel", headers=h(web_stack, "coord1")).status_code == 404


def test_the_console_says_why_the_server_refuses(web_stack):
    """Issue, cancel, close and alert acknowledgement: the reason in the page's language,
    never an error's class name."""
    from alerts.errors import AlertsError
    from dashboard import live
    from dashboard.auth import User
    from dashboard.i18n import error_text

    ctx = web_stack.ctx
    coord = User("coord1", "coordinator")
    with pytest.raises(AlertsError) as e:
        live.issue_order(ctx, coord, 28.24, 117.04, "", "", "task", 2, None)
    assert error_text(e.value, "zh") == "✗ 指令内容不完整：标题"
    assert "Invalid" not in error_text(e.value, "en") and "title" in error_text(e.value, "en")
    with pytest.raises(AlertsError) as e:
        live.issue_order(ctx, coord, 28.24, 117.04, "t", "", "task", 2, ["nobody"])
    assert error_text(e.value, "zh") == "✗ 未知接收人：nobody"
    from alerts.choice import Note
    from alerts.errors import Invalid
    nobody = Invalid("no recipient for this order", reasons=[Note("outside", "point is outside every level-2 grid")])
    assert error_text(nobody, "zh") == "✗ 此处没有可派的接收人：该点不在任何二级网格内：无网格责任人"
    (_, device), = supervisors(web_stack, 14)[13:14]
    report(ctx, device, 28.241, 117.041)
    o = ctx.orders.issue({"lat": 28.241, "lon": 117.041, "title": "t", "recipients": [device]}, "user:coord1")
    assert live.order_action(ctx, coord, o["id"], "cancel", "zh") == f"✓ 指令 {o['id']} 已撤销"
    assert live.order_action(ctx, coord, o["id"], "close", "zh") == f"✗ 指令 {o['id']} 当前已撤销，不能办结"
    assert live.order_action(ctx, coord, o["id"], "cancel", "en") == f"Order {o['id']} is cancelled already"
    assert live.order_action(ctx, coord, "nope", "close", "zh") == "✗ 未找到 nope"
    sos = ctx.alerts.sos(device, f"device:{device}")
    aid = sos["alert"]["id"]
    assert live.ack_alert(ctx, coord, aid, "zh") == "✓ 告警已确认"
    assert live.ack_alert(ctx, coord, aid, "zh") == "该告警已由 coord1 确认"
    assert live.ack_alert(ctx, coord, "nope", "zh") == "✗ 未找到 nope"
    ctx.alerts.cancel_sos(aid, "user:coord1")


def test_the_pages_words_for_the_domains_codes():
    from dashboard.i18n import STRINGS, alert_subtitle, code, distance, person_with_role

    assert distance(55129, "zh") == "55.1 公里" and distance(850, "zh") == "850 米"
    assert distance(55129, "en") == "55.1 km"
    assert person_with_role("张琳娟", "l1_supervisor", "zh") == "张琳娟（一级网格监管员）"
    assert f"{code('status', 'on_duty', 'zh')} · {code('fresh', 'live', 'zh')}" == "在岗 · 在线"
    row = {"kind": "offline", "who": "张三", "grid": "白露街道", "at": "10:00:00"}
    assert alert_subtitle(row, "zh") == "张三 在岗时离线 · 白露街道 · 10:00:00"
    # What the dispatcher really stores: a cause, and an English title for the logs.
    row = {**row, "cause": "will", "text": "dev-s2-1 offline while on duty"}
    assert alert_subtitle(row, "zh") == "张三 在岗时离线 · 白露街道 · 10:00:00"
    for kind in ("sos", "offline", "left_grid", "low_battery", "escalation", "task_overdue", "not_a_kind_yet"):
        words = alert_subtitle({"kind": kind, "who": "张三", "cause": "anything", "text": "English title"}, "zh")
        assert "English" not in words and "张三" in words or kind == "escalation", (kind, words)
    from alerts.states import ORDER_STATES, RECIPIENT_STATES
    from alerts.alerts import KINDS
    for prefix, values in (("order", ORDER_STATES), ("state", RECIPIENT_STATES), ("kind", KINDS),
                           ("role", ("l1_supervisor", "l2_supervisor", "assistant", "informant", "coordinator",
                                     "duty_officer"))):
        assert all(f"{prefix}_{v}" in STRINGS for v in values), prefix


def test_the_words_table_names_each_key_once():
    """A key written twice in STRINGS silently keeps the last: the table is merged from several
    features' blocks, so a second meaning for a key would go unnoticed."""
    import ast
    import collections
    from pathlib import Path

    import dashboard.i18n as i18n

    tree = ast.parse(Path(i18n.__file__).read_text(encoding="utf-8"))
    table = next(n.value for n in tree.body if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "STRINGS")
    keys = collections.Counter(k.value for k in table.keys)
    assert [k for k, n in keys.items() if n > 1] == []
    assert len(keys) == len(i18n.STRINGS)


def test_a_nul_byte_in_the_path_or_query_is_a_422_not_a_server_error(api, web_stack):
    # no PostgreSQL text column can hold a NUL: found by schemathesis as a 500 of /api/entities
    for path in ("/api/entities?q=ab%00c", "/api/public/complaints/AB%00CD?phone_last4=1234"):
        res = api.get(path, headers=h(web_stack, "viewer1"))
        assert res.status_code == 422 and "NUL" in res.json()["error"], path
    # GeoReport v2 says a bad request there is a 400 in its own error shape
    res = api.get("/api/open311/v2/requests.json?status=open%00", headers=h(web_stack, "viewer1"))
    assert res.status_code == 400 and "NUL" in res.json()[0]["description"]
    assert api.get("/api/entities?q=ab", headers=h(web_stack, "viewer1")).status_code == 200


def test_a_second_lifespan_of_the_same_server_leaves_it_whole(api, web_stack):
    # a nested start and stop (a second test client) once closed the records pool for good:
    # every later records request was a 503 "pool already closed"
    with TestClient(web_stack.server) as other:
        assert other.get("/api/entities?q=ab", headers=h(web_stack, "viewer1")).status_code == 200
    assert api.get("/api/entities?q=ab", headers=h(web_stack, "viewer1")).status_code == 200
    health = api.get("/api/health").json()
    assert health["database"] == "ok" and health["mqtt"] == "ok", health
