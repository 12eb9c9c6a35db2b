"""Inspections over HTTP (CONTRACT.md section 9) against real PostgreSQL, Redis and Mosquitto:
the whole flow from create to seal, idempotent create and upload, the 422/403/409 cases, the
bureau's signature, the PDF's text (pdftotext) and QR (zxing-cpp), the public receipt."""
import base64
import io
import re
import subprocess
import uuid

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.dashboard.test_api import h
from tests.dashboard.test_records_api import png


@pytest.fixture(scope="module")
def web_overrides():
    return {"media_max_mb": 1}


@pytest.fixture(scope="module")
def api(web_stack):
    with TestClient(web_stack.server) as client:
        yield client


@pytest.fixture(scope="module")
def team(web_stack):
    """sup1 (a level-2 supervisor) and sup2, another level-2 supervisor with an account; a food
    retailer of the register; an assistant (not an inspector)."""
    ctx, acc = web_stack.ctx, web_stack.accounts
    me = acc.get("sup1").person
    other = next(p for p in ctx.registry.people("l2_supervisor") if p.id != me)
    if "sup2" not in web_stack.tokens:
        acc.add("sup2", "supervisor", "pw-sup2", person=other.id)
        web_stack.tokens["sup2"] = acc.new_token("sup2")
    e = ctx.dataset.entities
    ent = e[(e["category"] == "food_retail") & e["grid"].notna()].iloc[3]
    assistant = next(iter(ctx.registry.people("assistant")))
    return type("T", (), {"me": me, "other": other.id, "uscc": ent["uscc"], "name": ent["name"],
                          "assistant": assistant.id})


def sig_png(seed=1) -> str:
    return "data:image/png;base64," + base64.b64encode(png(seed, (120, 40))).decode()


SVG = ('data:image/svg+xml;base64,' + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><path d="M10 30 L190 30" '
    b'stroke="black" fill="none"/></svg>').decode())
STROKES = [{"penColor": "black", "points": [{"x": 10, "y": 30, "time": 1700000000000, "pressure": 0.5},
                                            {"x": 90, "y": 35, "time": 1700000000016, "pressure": 0.6}]}]


def new(api, stack, team, who="sup1", **extra):
    body = {"id": str(uuid.uuid4()), "uscc": team.uscc, "checklist": "food_sales", "kind": "double_random",
            "inspectors": [team.me, team.other], "lat": 28.2, "lon": 117.0, **extra}
    return api.post("/api/inspections", json=body, headers=h(stack, who)), body


def audit_count(stack, iid) -> int:
    from gridwatch.db import connect

    with connect(stack.settings.db_url()) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM audit WHERE record_type = 'inspection' AND record_id = %s", (iid,))
        return cur.fetchone()["n"]


def required_answers(api, stack):
    [cl] = [c for c in api.get("/api/checklists", headers=h(stack, "sup1")).json() if c["id"] == "food_sales"]
    return cl, {i["code"]: {"result": "pass"} for i in cl["items"] if i["required"]}


def test_checklists_route(api, web_stack):
    assert api.get("/api/checklists").status_code == 401
    res = api.get("/api/checklists", headers=h(web_stack, "viewer1"))
    assert res.status_code == 200
    lists = {c["id"]: c for c in res.json()}
    assert {"food_sales", "catering", "pharmacy", "special_equipment", "industrial_products"} <= set(lists)
    item = lists["food_sales"]["items"][0]
    assert set(item) == {"code", "section", "text", "key", "required"} and item["section"] == "食品销售者资质"
    assert lists["food_sales"]["categories"] == ["food_retail"]


def test_whole_flow_from_create_to_seal(api, web_stack, team, tmp_path):
    stack = web_stack
    res, body = new(api, stack, team)
    assert res.status_code == 201, res.text
    insp = res.json()
    iid = insp["id"]
    assert insp["uscc"] == team.uscc and insp["inspectors"] == [team.me, team.other] and insp["sealed_at"] is None
    assert insp["started_at"].endswith("+08:00") and insp["grid"] and insp["category"] == "food_retail"
    n = audit_count(stack, iid)
    again = api.post("/api/inspections", json={**body, "lat": 1.0}, headers=h(stack, "sup1"))
    assert again.status_code == 200 and again.json()["lat"] == 28.2 and audit_count(stack, iid) == n

    cl, answers = required_answers(api, stack)
    first, rest = dict(list(answers.items())[:3]), dict(list(answers.items())[3:])
    general = next(i["code"] for i in cl["items"] if not i["key"] and i["required"])
    r1 = api.put(f"/api/inspections/{iid}/answers", json=first, headers=h(stack, "sup1"))
    assert r1.status_code == 200 and r1.json()["answers"] == first
    rest[general] = {"result": "fail", "note": "防蝇设施缺失"}
    r2 = api.put(f"/api/inspections/{iid}/answers", json=rest, headers=h(stack, "sup2"))
    assert r2.status_code == 200 and r2.json()["answers"] == {**first, **rest}     # merged

    photo = png(7, (640, 480))
    up = api.post(f"/api/inspections/{iid}/media", files={"file": ("p.png", photo, "image/png")},
                  data={"item": general, "taken_at": "2026-10-01T10:00:00+08:00", "lat": "28.2", "lon": "117.0"},
                  headers=h(stack, "sup1"))
    assert up.status_code == 201, up.text
    sha = up.json()["sha256"]
    n = audit_count(stack, iid)
    dup = api.post(f"/api/inspections/{iid}/media", files={"file": ("p.png", photo, "image/png")},
                   data={"item": general}, headers=h(stack, "sup1"))
    assert dup.status_code == 200 and dup.json()["sha256"] == sha and audit_count(stack, iid) == n
    whole = api.post(f"/api/inspections/{iid}/media", files={"file": ("w.png", png(8), "image/png")},
                     headers=h(stack, "sup1"))
    assert whole.status_code == 201

    early = api.post(f"/api/inspections/{iid}/seal", headers=h(stack, "sup1"))
    assert early.status_code == 422
    missing = early.json()["missing"]
    assert f"signature of inspector {team.me}" in missing and f"signature of inspector {team.other}" in missing
    assert any("entity" in m for m in missing)

    s1 = api.post(f"/api/inspections/{iid}/signatures", headers=h(stack, "sup1"),
                  json={"party": "inspector", "person": team.me, "image": sig_png(1), "strokes": STROKES})
    assert s1.status_code == 201, s1.text
    assert s1.json()["sha256"] and s1.json()["strokes_sha256"]
    s2 = api.post(f"/api/inspections/{iid}/signatures", headers=h(stack, "sup2"),
                  json={"party": "inspector", "person": team.other, "image": SVG})
    assert s2.status_code == 201 and s2.json()["type"] == "image/svg+xml"
    s3 = api.post(f"/api/inspections/{iid}/signatures", headers=h(stack, "sup1"),
                  json={"party": "entity", "name": "王店长", "image": sig_png(2), "strokes": STROKES})
    assert s3.status_code == 201
    got = api.get(f"/api/inspections/{iid}", headers=h(stack, "sup1")).json()
    strokes = api.get(f"/api/media/{s1.json()['strokes_sha256']}", headers=h(stack, "sup1")).json()
    assert strokes == STROKES and got["receipt"] is None

    sealed = api.post(f"/api/inspections/{iid}/seal", headers=h(stack, "sup1"))
    assert sealed.status_code == 200, sealed.text
    out = sealed.json()
    assert out["result"] == "rectify" and out["failed_items"] == [general] and out["rectify_by"]
    assert re.fullmatch(r"[0-9a-f]{64}", out["hash"]) and out["sealed_at"].endswith("+08:00")
    token = out["receipt"].rsplit("/r/", 1)[1]
    assert out["receipt"].startswith("http") and len(base64.urlsafe_b64decode(token + "==")) >= 16

    # after sealing: every change is 409, reads show the seal
    for call in (lambda: api.put(f"/api/inspections/{iid}/answers", json=first, headers=h(stack, "sup1")),
                 lambda: api.post(f"/api/inspections/{iid}/media", files={"file": ("q.png", png(9), "image/png")},
                                  headers=h(stack, "sup1")),
                 lambda: api.post(f"/api/inspections/{iid}/signatures", headers=h(stack, "sup1"),
                                  json={"party": "entity", "refused": True, "witness": "x"}),
                 lambda: api.post(f"/api/inspections/{iid}/seal", headers=h(stack, "sup1"))):
        assert call().status_code == 409
    one = api.get(f"/api/inspections/{iid}", headers=h(stack, "coord1")).json()
    assert one["hash"] == out["hash"] and one["receipt"] == out["receipt"] and one["result"] == "rectify"
    shas = {m["sha256"] for m in one["media"]}
    assert {sha, whole.json()["sha256"], s1.json()["sha256"], s1.json()["strokes_sha256"], s2.json()["sha256"]} <= shas
    listed = api.get("/api/inspections", params={"uscc": team.uscc, "kind": "double_random"},
                     headers=h(stack, "admin1")).json()
    assert iid in [x["id"] for x in listed]
    assert iid in [x["id"] for x in api.get("/api/inspections", params={"inspector": team.other},
                                            headers=h(stack, "sup2")).json()]

    # no role's view of it holds a phone number of anyone on it (inspectors, the grid's people)
    phones = [stack.ctx.registry.person(p).phone for p in (team.me, team.other)]
    for who in ("coord1", "admin1", "viewer1", "sup1", "sup2"):
        for path in (f"/api/inspections/{iid}", f"/api/inspections?uscc={team.uscc}"):
            text = api.get(path, headers=h(stack, who)).text
            assert all(ph not in text for ph in phones), (who, path)

    # the chain holds, the hash covers the media, the bureau's signature verifies
    from casework.seal import verify
    from casework.signing import BureauKey, verify as verify_sig
    from gridwatch.db import connect

    with connect(stack.settings.db_url()) as conn:
        assert verify(conn).ok
    key = BureauKey.load_or_create(stack.settings.signing_key_path())
    assert verify_sig(key.public_b64, out["hash"], out["signature"]["signature"])
    assert not verify_sig(key.public_b64, "0" * 64, out["signature"]["signature"])

    # the public receipt: no login, the result, the hash, the public key; no phone numbers
    rec = api.get(f"/r/{token}")
    assert rec.status_code == 200 and team.name in rec.text and out["hash"] in rec.text
    assert "基本符合" in rec.text and key.public_b64 in rec.text and "防蝇设施缺失" in rec.text
    for p in (team.me, team.other):
        phone = stack.ctx.registry.person(p).phone
        assert phone and phone not in rec.text
    assert api.get("/r/" + "x" * 32).status_code == 404

    # the PDF: its text holds the entity and the hash; its QR decodes to the receipt
    pdf = api.get(f"/api/inspections/{iid}.pdf", headers=h(stack, "coord1"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "r.pdf").write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s", "", text)
    assert team.name in flat and out["hash"] in flat and "防蝇设施缺失" in flat
    subprocess.run(["pdftoppm", "-r", "110", "-png", "-f", "1", "-l", "1", str(tmp_path / "r.pdf"), str(tmp_path / "p")],
                   check=True)
    import zxingcpp

    page = Image.open(next(tmp_path.glob("p*.png")))
    assert [b.text for b in zxingcpp.read_barcodes(page)] == [out["receipt"]]

    svg = api.get(f"/api/inspections/{iid}/qr.svg", headers=h(stack, "sup1"))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    import typst

    raster = typst.compile(b'#set page(width: 8cm, height: 8cm, margin: 0.5cm)\n#image(bytes(sys.inputs.svg), '
                           b'format: "svg", width: 100%)', format="png", ppi=150, sys_inputs={"svg": svg.text})
    assert [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(raster)))] == [out["receipt"]]


def test_refusal_with_witness_and_the_rule_for_key_items(api, web_stack, team):
    res, _ = new(api, web_stack, team, kind="routine", inspectors=[team.me])
    iid = res.json()["id"]
    cl, answers = required_answers(api, web_stack)
    key = next(i["code"] for i in cl["items"] if i["key"] and i["required"])
    api.put(f"/api/inspections/{iid}/answers", json={**answers, key: {"result": "fail"}}, headers=h(web_stack, "sup1"))
    api.post(f"/api/inspections/{iid}/signatures", headers=h(web_stack, "sup1"),
             json={"party": "inspector", "person": team.me, "image": sig_png(3)})
    no_witness = api.post(f"/api/inspections/{iid}/signatures", headers=h(web_stack, "sup1"),
                          json={"party": "entity", "refused": True, "note": "拒签"})
    assert no_witness.status_code == 422 and no_witness.json()["field"] == "witness"
    ok = api.post(f"/api/inspections/{iid}/signatures", headers=h(web_stack, "sup1"),
                  json={"party": "entity", "refused": True, "witness": "社区网格员 赵六", "note": "负责人拒绝签字"})
    assert ok.status_code == 201 and ok.json()["refused"] is True
    sealed = api.post(f"/api/inspections/{iid}/seal", headers=h(web_stack, "sup1")).json()
    assert sealed["result"] == "fail" and sealed["failed_items"] == [key]


def test_access_and_bad_input(api, web_stack, team):
    stack = web_stack
    not_sup, _ = new(api, stack, team, inspectors=[team.me, team.assistant])
    assert not_sup.status_code == 422 and not_sup.json()["field"] == "inspectors"
    one_for_double, _ = new(api, stack, team, inspectors=[team.me])
    assert one_for_double.status_code == 422
    assert new(api, stack, team, who="coord1")[0].status_code == 403
    assert new(api, stack, team, inspectors=[team.other], kind="routine")[0].status_code == 403
    assert new(api, stack, team, uscc="9" * 18)[0].json()["field"] == "uscc"
    assert new(api, stack, team, checklist="nope")[0].json()["field"] == "checklist"
    assert new(api, stack, team, id="not-a-uuid")[0].json()["field"] == "id"
    assert new(api, stack, team, draw="D-none")[0].json()["field"] == "draw"

    res, _ = new(api, stack, team)
    iid = res.json()["id"]
    bad = api.put(f"/api/inspections/{iid}/answers", json={"FS-1.1": {"result": "pass"}, "ZZ-9": {"result": "pass"}},
                  headers=h(stack, "sup1"))
    assert bad.status_code == 422 and bad.json()["unknown"] == ["ZZ-9"]
    assert api.put(f"/api/inspections/{iid}/answers", json={"FS-1.1": {"result": "maybe"}},
                   headers=h(stack, "sup1")).status_code == 422
    assert api.get(f"/api/inspections/{iid}", headers=h(stack, "sup1")).json()["answers"] == {}   # nothing half-saved
    assert api.put(f"/api/inspections/{iid}/answers", json={"FS-1.1": {"result": "pass"}},
                   headers=h(stack, "coord1")).status_code == 403
    assert api.get(f"/api/inspections/{iid}", headers=h(stack, "coord1")).status_code == 200
    assert api.get(f"/api/inspections/{iid}", headers=h(stack, "rep1")).status_code == 404
    assert api.get("/api/inspections", headers=h(stack, "rep1")).json() == []

    for image in ("data:image/png;base64," + base64.b64encode(b"GIF89a not a png").decode(),
                  "data:image/svg+xml;base64," + base64.b64encode(b"<html><body/></html>").decode(),
                  "data:image/svg+xml," + '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "y">]><svg/>',
                  "https://example.org/sig.png", 42):
        r = api.post(f"/api/inspections/{iid}/signatures", headers=h(stack, "sup1"),
                     json={"party": "inspector", "person": team.me, "image": image})
        assert r.status_code == 422 and r.json()["field"] == "image", (image, r.text)
    wrong = api.post(f"/api/inspections/{iid}/signatures", headers=h(stack, "sup1"),
                     json={"party": "inspector", "person": team.assistant, "image": sig_png()})
    assert wrong.status_code == 422 and wrong.json()["field"] == "person"
    assert api.get(f"/api/inspections/{iid}", headers=h(stack, "sup1")).json()["signatures"] == []

    on_item = api.post(f"/api/inspections/{iid}/media", files={"file": ("p.png", png(5), "image/png")},
                       data={"item": "ZZ-9"}, headers=h(stack, "sup1"))
    assert on_item.status_code == 422
    big = Image.frombytes("RGB", (900, 900), bytes(range(256)) * (900 * 900 * 3 // 256) + b"\0" * (900 * 900 * 3 % 256))
    buf = io.BytesIO()
    big.save(buf, "PNG", compress_level=0)
    assert len(buf.getvalue()) > 1024 * 1024
    assert api.post(f"/api/inspections/{iid}/media", files={"file": ("b.png", buf.getvalue(), "image/png")},
                    headers=h(stack, "sup1")).status_code == 413
    assert api.post(f"/api/inspections/{iid}/media", files={"file": ("t.txt", b"hello", "text/plain")},
                    headers=h(stack, "sup1")).status_code == 415
    assert api.get(f"/api/inspections/{iid}", headers=h(stack, "sup1")).json()["media"] == []
    assert api.get(f"/api/inspections/{iid}/qr.svg", headers=h(stack, "sup1")).status_code == 404
