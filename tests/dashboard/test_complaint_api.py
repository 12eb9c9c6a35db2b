"""Complaints and cases over HTTP (CONTRACT.md section 11) against real PostgreSQL and Redis:
intake by the hotline and by the public (rate-limited), routing, every step by the right and
the wrong role, sealing, the complainant's data searched for in every role's responses, the
public query (404s, rate limit), on-site checks and cases."""

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.test_api import h

NAME, PHONE, IDNO = "欧阳锋", "13912345678", "36060219900101123X"


@pytest.fixture(scope="module")
def web_overrides():
    return {"complaint_query_per_min": 1000, "complaint_file_per_hour": 1000}


@pytest.fixture(scope="module")
def api(web_stack):
    with TestClient(web_stack.server) as client:
        yield client


@pytest.fixture(scope="module")
def world(web_stack):
    """An entity in a branch; accounts for a level-1 supervisor of that branch (`hq1`) and of
    another branch (`hq2`)."""
    import psycopg
    from psycopg.rows import dict_row

    ctx, acc = web_stack.ctx, web_stack.accounts
    with psycopg.connect(web_stack.settings.database_url, row_factory=dict_row) as conn:
        ent = conn.execute("SELECT uscc, name, lat, lon, grid, level1, branch FROM entities "
                           "WHERE branch IS NOT NULL AND lat IS NOT NULL ORDER BY uscc LIMIT 1").fetchone()
        other = conn.execute("SELECT level1, branch FROM entities WHERE branch IS NOT NULL AND branch <> %s "
                             "ORDER BY uscc LIMIT 1", (ent["branch"],)).fetchone()
        insp = conn.execute("SELECT id, uscc FROM inspections WHERE uscc IS NOT NULL ORDER BY id LIMIT 1").fetchone()
    mine = ctx.registry.responsible(ent["level1"])["l1_supervisor"]
    theirs = ctx.registry.responsible(other["level1"])["l1_supervisor"]
    for name, person in (("hq1", mine.id), ("hq2", theirs.id)):
        if name not in web_stack.tokens:
            acc.add(name, "supervisor", "pw-" + name, person=person)
            web_stack.tokens[name] = acc.new_token(name)
    return type("W", (), {"ent": ent, "handler": mine.id, "other_branch": other["branch"], "insp": insp})


def body(world, **over):
    b = {"channel": "12315", "complainant": {"name": NAME, "phone": PHONE, "id_number": IDNO},
         "respondent": {"uscc": world.ent["uscc"]}, "category": "food",
         "description": f"买到过期面包，请回电 {PHONE}", "amount_yuan": 12.5}
    b.update(over)
    return b


def file(api, stack, world, who="coord1", **over):
    res = api.post("/api/complaints", json=body(world, **over), headers=h(stack, who))
    assert res.status_code == 201, res.text
    return res.json()


def test_categories_are_the_datasets(api, web_stack):
    res = api.get("/api/complaints/categories", headers=h(web_stack, "viewer1"))
    assert res.status_code == 200
    assert {"code": "food", "name": "食品安全"} in res.json() and len(res.json()) == 9


def test_hotline_intake_routes_by_uscc_to_the_branch_and_its_level1_supervisor(api, web_stack, world):
    c = file(api, web_stack, world)
    assert c["state"] == "received" and c["branch"] == world.ent["branch"] and c["handler"] == world.handler
    assert len(c["query_code"]) == 14 and c["query_code"][4] == "-"
    assert c["accept_by"] > c["received_at"][:10] and c["mediate_by"] is None
    for who in ("viewer1", "sup1", "hq1", "rep1"):
        assert api.post("/api/complaints", json=body(world), headers=h(web_stack, who)).status_code == 403


def test_received_at_of_a_hand_on_is_kept_and_counted_from(api, web_stack, world):
    c = file(api, web_stack, world, received_at="2026-09-29T10:00:00+08:00")
    assert c["received_at"] == "2026-09-29T10:00:00+08:00"
    assert c["accept_by"] == "2026-10-14" and c["provisional"] == []     # across National Day


def test_name_and_address_placed_by_the_point_else_the_command_centres_queue(api, web_stack, world):
    placed = file(api, web_stack, world, respondent={"name": "无名小店", "address": "某路1号",
                                                      "lat": world.ent["lat"], "lon": world.ent["lon"]})
    assert placed["branch"] == world.ent["branch"] and placed["handler"] == world.handler
    unplaced = file(api, web_stack, world, respondent={"name": "网店", "address": "不详"})
    assert unplaced["branch"] is None and unplaced["handler"] is None
    far = file(api, web_stack, world, respondent={"name": "外地店", "address": "北京", "lat": 39.9, "lon": 116.4})
    assert far["branch"] is None
    queue = api.get("/api/complaints?queue=true", headers=h(web_stack, "coord1")).json()
    assert {unplaced["id"], far["id"]} <= {c["id"] for c in queue} and all(c["branch"] is None for c in queue)
    # the command centre's queue is the coordinators' and admins': no branch supervisor acts on it
    assert api.post(f"/api/complaints/{unplaced['id']}/accept", headers=h(web_stack, "hq1")).status_code == 403
    assert api.post(f"/api/complaints/{unplaced['id']}/accept", headers=h(web_stack, "admin1")).status_code == 200


@pytest.mark.parametrize("over,field", [
    ({"channel": "fax"}, "channel"),
    ({"complainant": {"name": "张三"}}, "complainant.phone"),
    ({"complainant": {"name": "张三", "phone": "12345"}}, "complainant.phone"),
    ({"complainant": {"name": "张三", "phone": PHONE, "id_number": "123"}}, "complainant.id_number"),
    ({"respondent": {"name": "x"}}, "respondent"),
    ({"respondent": {"uscc": "91360602MA00000000"}}, "respondent.uscc"),
    ({"category": "nonsense"}, "category"),
    ({"description": ""}, "description"),
    ({"amount_yuan": -1}, "amount_yuan"),
    ({"received_at": "2026-09-29T10:00:00"}, "received_at"),
    ({"received_at": "2099-01-01T10:00:00+08:00"}, "received_at"),
    ({"media": ["not-a-hash"]}, "media"),
    ({"extra": 1}, "extra"),
])
def test_bad_intake_is_422_naming_the_field_and_saves_nothing(api, web_stack, world, over, field):
    before = len(api.get("/api/complaints?limit=1000", headers=h(web_stack, "coord1")).json())
    res = api.post("/api/complaints", json=body(world, **over), headers=h(web_stack, "coord1"))
    assert res.status_code == 422, res.text
    assert res.json()["field"].startswith(field.split(".")[0]) and field.split(".")[-1] in res.json()["field"]
    assert len(api.get("/api/complaints?limit=1000", headers=h(web_stack, "coord1")).json()) == before


def test_the_whole_lifecycle_by_the_right_roles_audited_and_sealed(api, web_stack, world):
    c = file(api, web_stack, world)
    url = f"/api/complaints/{c['id']}"
    # wrong roles: 403; a step not from this state: 409
    for who in ("viewer1", "sup1", "hq2"):
        assert api.post(f"{url}/accept", headers=h(web_stack, who)).status_code == 403
    assert api.post(f"{url}/accept", headers=h(web_stack, "rep1")).status_code == 404
    res = api.post(f"{url}/mediate", headers=h(web_stack, "hq1"))
    assert res.status_code == 409 and "received" in res.json()["reason"]
    res = api.post(f"{url}/accept", headers=h(web_stack, "hq1"))
    assert res.status_code == 200 and res.json()["state"] == "accepted" and res.json()["mediate_by"]
    assert api.post(f"{url}/mediate", headers=h(web_stack, "hq1")).json()["state"] == "mediating"
    assert api.post(f"{url}/agree", headers=h(web_stack, "hq1")).status_code == 422        # terms
    assert api.post(f"{url}/agree", json={"terms": "退款12.5元并赔偿"}, headers=h(web_stack, "coord1")).json()["state"] == "agreed"
    done = api.post(f"{url}/close", headers=h(web_stack, "hq1")).json()
    assert done["state"] == "closed" and len(done["hash"]) == 64 and done["outcome"] == "agreed" and done["founded"]
    assert [s["action"] for s in done["history"]] == ["receive", "accept", "mediate", "agree", "close", "seal"]
    assert done["history"][1]["actor"] == "user:hq1"
    res = api.post(f"{url}/accept", headers=h(web_stack, "admin1"))
    assert res.status_code == 409 and "sealed" in res.json()["message"]


def test_refuse_fail_and_transfer(api, web_stack, world):
    a = file(api, web_stack, world)
    assert api.post(f"/api/complaints/{a['id']}/refuse", headers=h(web_stack, "hq1")).status_code == 422
    r = api.post(f"/api/complaints/{a['id']}/refuse", json={"reason": "不属于本部门职责"}, headers=h(web_stack, "hq1"))
    assert r.json()["state"] == "refused" and r.json()["reason"] == "不属于本部门职责"
    assert api.post(f"/api/complaints/{a['id']}/transfer", json={"to": "x"}, headers=h(web_stack, "hq1")).status_code == 409
    b = file(api, web_stack, world)
    for step in ("accept", "mediate", "fail"):
        assert api.post(f"/api/complaints/{b['id']}/{step}", headers=h(web_stack, "coord1")).status_code == 200
    assert api.post(f"/api/complaints/{b['id']}/close", headers=h(web_stack, "coord1")).json()["outcome"] == "failed"
    t = file(api, web_stack, world)
    assert api.post(f"/api/complaints/{t['id']}/transfer", headers=h(web_stack, "hq1")).status_code == 422
    moved = api.post(f"/api/complaints/{t['id']}/transfer", json={"to": "月湖区卫生健康委员会"}, headers=h(web_stack, "hq1"))
    assert moved.json()["state"] == "transferred" and moved.json()["transferred_to"] == "月湖区卫生健康委员会"


def test_transfer_with_case_opens_a_case_and_a_complaint_becomes_a_task(api, web_stack, world):
    c = file(api, web_stack, world)
    res = api.post(f"/api/complaints/{c['id']}/task", headers=h(web_stack, "hq1"))
    assert res.status_code == 200 and res.json()["state"] == "received"
    task = api.get(f"/api/tasks/{res.json()['task']}", headers=h(web_stack, "coord1")).json()
    assert task["source"] == "complaint" and task["uscc"] == world.ent["uscc"] and task["category"] == "food_safety"
    assert PHONE not in task["description"]
    assert [t["id"] for t in res.json()["tasks"]] == [task["id"]]
    res = api.post(f"/api/complaints/{c['id']}/transfer", json={"case": True}, headers=h(web_stack, "hq1"))
    assert res.status_code == 200 and res.json()["state"] == "transferred"
    case = api.get(f"/api/cases/{res.json()['case']}", headers=h(web_stack, "viewer1")).json()
    assert case["state"] == "clue" and case["source_type"] == "complaint" and case["source_id"] == c["id"]
    assert case["uscc"] == world.ent["uscc"] and case["branch"] == world.ent["branch"]
    assert res.json()["cases"] == [{"id": case["id"], "state": "clue"}]


def _texts(api, stack, who, cid, code):
    out = [api.get("/api/complaints?limit=1000", headers=h(stack, who)).text,
           api.get(f"/api/complaints/{cid}", headers=h(stack, who)).text,
           api.get(f"/api/public/complaints/{code}?phone_last4={PHONE[-4:]}").text]
    return out


def test_the_complainant_is_seen_only_by_the_handling_branch_coordinators_admins(api, web_stack, world):
    c = file(api, web_stack, world)
    api.post(f"/api/complaints/{c['id']}/refuse", json={"reason": f"{NAME}撤回投诉"}, headers=h(web_stack, "hq1"))
    for who in ("coord1", "admin1", "hq1"):
        one = api.get(f"/api/complaints/{c['id']}", headers=h(web_stack, who)).json()
        assert (one["complainant_name"], one["complainant_phone"], one["complainant_id_number"]) == (NAME, PHONE, IDNO)
    for who in ("viewer1", "sup1", "hq2", "rep1"):
        texts = _texts(api, web_stack, who, c["id"], c["query_code"])
        for text in texts:
            for raw in (NAME, PHONE, IDNO, PHONE[3:7] + PHONE[-4:]):
                assert raw not in text, (who, raw, text[:300])
    seen = api.get(f"/api/complaints/{c['id']}", headers=h(web_stack, "viewer1")).json()
    assert seen["complainant_name"] == "欧**" and seen["complainant_phone"] == "139****5678"
    assert seen["complainant_id_number"].startswith("360") and "*" in seen["complainant_id_number"]
    assert "query_code" not in seen and "139****5678" in seen["description"]
    assert api.get("/api/complaints", headers=h(web_stack, "rep1")).status_code == 403
    # the export is masked even for those who see the complainant
    for who in ("coord1", "hq1", "viewer1"):
        export = api.get("/api/complaints?format=csv&limit=1000", headers=h(web_stack, who))
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        assert c["id"] in export.text and "欧**" in export.text and "139****5678" in export.text
        assert NAME not in export.text and PHONE not in export.text and IDNO not in export.text
    # the entity's history names the complaint, never its complainant
    ent = api.get(f"/api/entities/{world.ent['uscc']}", headers=h(web_stack, "viewer1"))
    assert c["id"] in ent.text and NAME not in ent.text and PHONE not in ent.text


def test_the_desks_list_is_the_open_ones_nearest_deadline_first(api, web_stack, world):
    """`open=true&order=due` (what the console's desk opens on): only complaints with a step to
    take, the nearest deadline of the step each is at first, so an old overdue one leads."""
    old = file(api, web_stack, world, received_at="2026-01-05T09:00:00+08:00")     # accept_by long past
    new = file(api, web_stack, world)
    done = file(api, web_stack, world)
    assert api.post(f"/api/complaints/{done['id']}/refuse", json={"reason": "不属于受理范围"},
                    headers=h(web_stack, "coord1")).status_code == 200
    rows = api.get("/api/complaints?open=true&order=due&limit=1000", headers=h(web_stack, "coord1")).json()
    ids = [r["id"] for r in rows]
    assert old["id"] in ids and new["id"] in ids and done["id"] not in ids
    assert ids.index(old["id"]) < ids.index(new["id"])
    assert {r["state"] for r in rows} <= {"received", "accepted", "mediating", "agreed", "failed"}
    due = [r["accept_by"] if r["state"] == "received" else r["mediate_by"]
           if r["state"] in ("accepted", "mediating") else None for r in rows]
    dated = [d for d in due if d is not None]
    assert dated == sorted(dated) and due[:len(dated)] == dated          # the nearest first, none after
    assert next(r for r in rows if r["id"] == old["id"])["overdue"] == ["accept_by"]
    newest = api.get("/api/complaints?limit=1000", headers=h(web_stack, "coord1")).json()
    assert done["id"] in [r["id"] for r in newest]                  # without `open`: all, newest first
    assert [r["received_at"] for r in newest] == sorted((r["received_at"] for r in newest), reverse=True)
    res = api.get("/api/complaints?order=deadline", headers=h(web_stack, "coord1"))
    assert res.status_code == 422


def test_public_query_answers_state_dates_branch_only_and_404s(api, web_stack, world):
    c = file(api, web_stack, world)
    code = c["query_code"]
    res = api.get(f"/api/public/complaints/{code}?phone_last4={PHONE[-4:]}")
    assert res.status_code == 200
    got = res.json()
    assert got["state"] == "received" and got["branch"] == world.ent["branch"] and got["accept_by"] == c["accept_by"]
    assert set(got) == {"query_code", "state", "received_at", "accept_by", "mediate_by", "provisional", "accepted_at",
                        "mediation_started_at", "closed_at", "branch", "outcome", "terms", "transferred_to"}
    # typed loosely: lower case, no dashes, O for 0
    loose = code.replace("-", "").lower()
    assert api.get(f"/api/public/complaints/{loose}?phone_last4={PHONE[-4:]}").status_code == 200
    for bad in (f"{code}?phone_last4=0000", f"{code}", f"ZZZZ-ZZZZ-ZZZZ?phone_last4={PHONE[-4:]}",
                f"{code}?phone_last4=abcd"):
        res = api.get(f"/api/public/complaints/{bad}")
        assert res.status_code == 404 and res.json()["error"] == "NotFound"


def test_public_filing_without_login_rate_limited_per_phone_and_address(api, web_stack, world):
    web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])
    b = body(world, channel="web", complainant={"name": "李四", "phone": "13700001111"})
    codes = []
    for _ in range(3):
        res = api.post("/api/public/complaints", json=b)
        assert res.status_code == 201, res.text
        assert set(res.json()) == {"query_code", "state", "branch", "accept_by", "provisional", "received_at"}
        codes.append(res.json()["query_code"])
    res = api.post("/api/public/complaints", json=b)
    assert res.status_code == 429 and "phone" in res.json()["error"]
    assert api.post("/api/public/complaints", json={**b, "channel": "12315"}).status_code == 422
    assert api.post("/api/public/complaints", json={**b, "received_at": "2026-01-01T00:00:00+08:00"}).status_code == 422
    res = api.post("/api/public/complaints", json={**b, "complainant": {"name": "李四"}})
    assert res.status_code == 422 and res.json()["field"] == "complainant.phone"
    res = api.get(f"/api/public/complaints/{codes[0]}?phone_last4=1111")
    assert res.status_code == 200 and res.json()["state"] == "received"


def test_public_rate_limits_per_address(web_stack, world):
    """A stack with the default limits: the 31st query a minute and the 6th filing an hour from
    one address are refused with 429."""
    from dashboard.server import create_server

    settings = web_stack.settings.model_copy(update={"complaint_query_per_min": 30, "complaint_file_per_hour": 5})
    with TestClient(create_server(settings)) as other:
        web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])
        got = [other.get("/api/public/complaints/AAAA-BBBB-CCCC?phone_last4=1234").status_code for _ in range(31)]
        assert got[:30] == [404] * 30 and got[30] == 429
        got = [other.post("/api/public/complaints", json=body(world, channel="web", complainant={
            "name": "王五", "phone": f"1370000{i:04d}"})).status_code for i in range(6)]
        assert got == [201] * 5 + [429]
        web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])


def test_cases_from_clue_to_decision_sealed_and_on_the_entitys_history(api, web_stack, world):
    src = {"inspection": world.insp["id"]}
    assert api.post("/api/cases", json={"source": src, "summary": "x"}, headers=h(web_stack, "viewer1")).status_code == 403
    assert api.post("/api/cases", json={"source": {"order": "1"}, "summary": "x"}, headers=h(web_stack, "coord1")).status_code == 422
    assert api.post("/api/cases", json={"source": {"inspection": "nope"}, "summary": "x"},
                    headers=h(web_stack, "coord1")).json()["field"] == "source.inspection"
    res = api.post("/api/cases", json={"source": src, "summary": "检查发现销售过期食品"}, headers=h(web_stack, "coord1"))
    assert res.status_code == 201, res.text
    k = res.json()
    assert k["state"] == "clue" and k["uscc"] == world.insp["uscc"]
    url = f"/api/cases/{k['id']}"
    assert api.post(f"{url}/file", headers=h(web_stack, "coord1")).status_code == 409
    assert api.post(f"{url}/verify", headers=h(web_stack, "viewer1")).status_code == 403
    assert api.post(f"{url}/verify", headers=h(web_stack, "coord1")).json()["state"] == "verified"
    assert api.post(f"{url}/file", headers=h(web_stack, "coord1")).json()["state"] == "filed"
    assert api.post(f"{url}/drop", json={"reason": "x"}, headers=h(web_stack, "coord1")).status_code == 409
    assert api.post(f"{url}/decide", json={"fine_yuan": 5000}, headers=h(web_stack, "coord1")).json()["field"] == "document_no"
    assert api.post(f"{url}/decide", json={"document_no": "x", "fine_yuan": -1},
                    headers=h(web_stack, "coord1")).json()["field"] == "fine_yuan"
    done = api.post(f"{url}/decide", json={"document_no": "鹰市监处罚〔2026〕999号", "fine_yuan": 5000},
                    headers=h(web_stack, "admin1")).json()
    assert done["state"] == "decided" and done["fine_yuan"] == 5000.0 and len(done["hash"]) == 64
    assert [e["action"] for e in done["history"]] == ["open", "verify", "file", "decide", "seal"]
    assert api.post(f"{url}/drop", json={"reason": "x"}, headers=h(web_stack, "admin1")).status_code == 409
    listed = api.get(f"/api/cases?uscc={k['uscc']}", headers=h(web_stack, "viewer1")).json()
    assert k["id"] in [c["id"] for c in listed]
    hist = api.get(f"/api/entities/{k['uscc']}", headers=h(web_stack, "viewer1")).json()["history"]
    assert any(e["type"] == "case" and e["id"] == k["id"] and e["state"] == "decided" for e in hist)
    other = api.post("/api/cases", json={"source": src, "summary": "另一线索"}, headers=h(web_stack, "coord1")).json()
    res = api.post(f"/api/cases/{other['id']}/transfer_police", json={"reason": "涉嫌犯罪"}, headers=h(web_stack, "coord1"))
    assert res.json()["state"] == "transferred_police"


def test_pages_public_and_staff(api, web_stack, world):
    res = api.get("/complaint", follow_redirects=False)
    assert res.status_code == 200 and "投诉举报与进度查询" in res.text and 'lang="zh-CN"' in res.text
    assert "Complaints and progress" in api.get("/complaint?lang=en").text
    assert api.get("/complaint/complaint.js").status_code == 200
    res = api.get("/console/complaints", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login")
    res = api.get("/console/complaints", headers=h(web_stack, "rep1"))
    assert res.status_code == 403
    res = api.get("/console/complaints", headers=h(web_stack, "hq1"))
    assert res.status_code == 200 and "intake-form" not in res.text
    assert "intake-form" in api.get("/console/complaints", headers=h(web_stack, "coord1")).text


def test_the_agreements_terms_are_stored_and_shown_masked_to_the_citizen_and_the_console(api, web_stack, world):
    c = file(api, web_stack, world)
    url = f"/api/complaints/{c['id']}"
    for step in ("accept", "mediate"):
        assert api.post(f"{url}/{step}", headers=h(web_stack, "hq1")).status_code == 200
    terms = f"商家退款12.5元，由{NAME}（{PHONE}）到店领取"
    res = api.post(f"{url}/agree", json={"terms": f"  {terms} "}, headers=h(web_stack, "hq1"))
    assert res.status_code == 200 and res.json()["terms"] == terms
    assert api.get(url, headers=h(web_stack, "hq1")).json()["terms"] == terms            # the handler reads them as given
    seen = api.get(url, headers=h(web_stack, "viewer1")).json()["terms"]
    assert NAME not in seen and PHONE not in seen and "139****5678" in seen and "商家退款12.5元" in seen
    export = api.get("/api/complaints?format=csv&limit=1000", headers=h(web_stack, "coord1")).text
    assert export.splitlines()[0].split(",").count("terms") == 1 and PHONE not in export
    out = api.get(f"/api/public/complaints/{c['query_code']}?phone_last4={PHONE[-4:]}").json()
    assert out["outcome"] == "agreed" and "商家退款12.5元" in out["terms"] and "139****5678" in out["terms"]
    assert NAME not in out["terms"] and PHONE not in out["terms"]
    assert api.post(f"{url}/close", headers=h(web_stack, "hq1")).json()["terms"] == terms    # sealed with them
    # a complaint not (yet) agreed has none
    other = file(api, web_stack, world)
    assert api.get(f"/api/public/complaints/{other['query_code']}?phone_last4={PHONE[-4:]}").json()["terms"] is None


def test_the_public_querys_fast_path_answers_as_the_route_does(api, web_stack, world):
    """With the lifespan running, dashboard/public_query.py answers ahead of the framework; a
    client without the lifespan (another loop) reaches the route. Same statuses and bodies;
    what the fast path does not take (repeated or other parameters, over-long values) is the
    route's (422)."""
    c = file(api, web_stack, world)
    web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])
    route = TestClient(web_stack.server)            # no `with`: no lifespan, the route answers
    code = c["query_code"]
    cases = [f"{code}?phone_last4={PHONE[-4:]}", code.replace("-", "").lower() + f"?phone_last4={PHONE[-4:]}",
             f"{code}?phone_last4=0000", code, f"{code}?phone_last4=", f"ZZZZ-ZZZZ-ZZZZ?phone_last4={PHONE[-4:]}",
             f"{code}?phone_last4=123456789", f"{code}?phone_last4=1&phone_last4={PHONE[-4:]}", "x" * 41,
             f"{code}?phone_last4={PHONE[-4:]}&x=1", "categories"]
    for case in cases:
        fast, slow = api.get(f"/api/public/complaints/{case}"), route.get(f"/api/public/complaints/{case}")
        assert (fast.status_code, fast.json()) == (slow.status_code, slow.json()), case
        assert fast.headers["content-type"].startswith("application/json")
    assert web_stack.server.state.public_query._pool is not None      # the fast path was taken
    assert api.get(f"/api/public/complaints/{code}?phone_last4=123456789").status_code == 422
    assert api.post(f"/api/public/complaints/{code}?phone_last4={PHONE[-4:]}").status_code in (404, 405)


async def _ask_all(app, paths: list[str], client: str | list[str]) -> list[tuple[int, dict]]:
    """Every path at once into the app's ASGI interface, in the loop of its lifespan (where the
    fast path serves), from `client` (one address, or one per path): each answer's (status, JSON
    body), in order."""
    import asyncio

    import orjson

    async def one(path: str, client: str):
        p, _, q = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": p, "raw_path": p.encode(), "query_string": q.encode(), "root_path": "",
                 "headers": [(b"host", b"testserver")], "client": (client, 50000), "server": ("testserver", 80)}
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))

    clients = [client] * len(paths) if isinstance(client, str) else client
    return await asyncio.gather(*(one(p, c) for p, c in zip(paths, clients, strict=True)))


def test_concurrent_public_queries_go_together_and_each_gets_its_own_answer(api, web_stack, world):
    """Queries that arrive together are counted in one Redis transaction and looked up in one
    statement (dashboard/public_query.py `Batches`): each still gets the answer the route gives it
    alone, right digits, wrong digits, a code typed loosely, a code that cannot be, unknown codes."""
    mine = [file(api, web_stack, world)["query_code"] for _ in range(3)]
    web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])
    last4 = PHONE[-4:]
    paths = [f"/api/public/complaints/{q}" for c in mine for q in (
        f"{c}?phone_last4={last4}", f"{c}?phone_last4=0000", c.replace("-", "").lower() + f"?phone_last4={last4}",
        f"{c}?phone_last4=12a4", c, f"{c[:-1]}{'Y' if c[-1] == 'Z' else 'Z'}?phone_last4={last4}")] + ["/api/public/complaints/!!?phone_last4=1234"]
    paths = paths * 4
    route = TestClient(web_stack.server)            # no lifespan: the route, one query at a time
    expected = [(res.status_code, res.json()) for res in (route.get(p) for p in paths)]
    query = web_stack.server.state.public_query
    runs, items = query._lookups.runs, query._lookups.items
    got = api.portal.call(_ask_all, web_stack.server, paths, "10.9.8.7")
    assert got == expected
    assert [s for s, _ in got].count(200) == 2 * 3 * 4
    looked_up = query._lookups.items - items
    assert looked_up == len(paths) and query._lookups.runs - runs < looked_up     # they went together


def test_queries_counted_together_are_limited_as_one_by_one(web_stack, world):
    """35 queries from one address and 5 from another, all at once and interleaved, with a limit
    of 30 a minute: 30 and 5 answered, 5 refused with 429, as 40 INCRs one by one would have it."""
    from dashboard.server import create_server

    settings = web_stack.settings.model_copy(update={"complaint_query_per_min": 30})
    with TestClient(create_server(settings)) as other:
        path = "/api/public/complaints/AAAA-BBBB-CCCC?phone_last4=1234"
        other.portal.call(_ask_all, other.app, [path], "10.0.0.9")     # its clients made: the 40 go together
        web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])
        runs = other.app.state.public_query._counts.runs
        clients = ["10.0.0.1"] * 35
        for i in range(5):
            clients.insert(7 * i + 3, "10.0.0.2")
        got = other.portal.call(_ask_all, other.app, [path] * 40, clients)
        a = [s for (s, _), c in zip(got, clients) if c == "10.0.0.1"]
        b = [s for (s, _), c in zip(got, clients) if c == "10.0.0.2"]
        assert sorted(a) == [404] * 30 + [429] * 5 and b == [404] * 5
        assert other.app.state.public_query._counts.runs - runs < 40
        web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])


def test_web_with_two_workers_shares_the_rate_limit_and_stops_on_sigterm(web_stack):
    """`gridwatch web --workers 2`: both processes answer on one port, built from the command's
    own settings (flags, not only the environment); the per-address counter is Redis's, so the
    limit holds whichever worker answers; SIGTERM stops them all."""
    import signal
    import subprocess
    import sys

    import httpx

    from gridwatch.services import free_port
    from testkit.waiting import wait_for_web

    s, port = web_stack.settings, free_port()
    cmd = [sys.executable, "-m", "gridwatch.cli", "--redis-url", s.redis_url, "--mqtt-url", s.mqtt_url,
           "--database-url", s.database_url, "--data", str(s.data), "--var-dir", str(s.var_dir),
           "--http", f"127.0.0.1:{port}", "--complaint-query-per-min", "5", "web", "--workers", "2"]
    web = subprocess.Popen(cmd)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_web(base, web, timeout=120, healthy=True)
        kids = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True).stdout.split()
        assert len(kids) >= 2
        web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])
        got = [httpx.get(f"{base}/api/public/complaints/AAAA-BBBB-CCCC?phone_last4=1234").status_code   # a new
               for _ in range(8)]                                                                       # connection each
        assert got == [404] * 5 + [429] * 3
    finally:
        web.send_signal(signal.SIGTERM)
        assert web.wait(30) == 0
        web_stack.r.delete(*web_stack.r.keys("gw:complaints:rate:*") or ["x"])
