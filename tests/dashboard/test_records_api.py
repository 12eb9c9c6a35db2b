"""The records' API against real PostgreSQL, Redis and Mosquitto: the entity register and
evidence files (streamed upload, type judged from the bytes, 413/415, Range downloads)."""
import hashlib
import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.dashboard.test_api import h


@pytest.fixture(scope="module")
def api(web_stack):
    with TestClient(web_stack.server) as client:
        yield client


def png(seed: int = 1, size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, 120)).save(out, "PNG")
    return out.getvalue()


def test_entities_need_login_and_find_by_name_or_code(api, web_stack):
    assert api.get("/api/entities?q=店").status_code == 401
    e = web_stack.ctx.dataset.entities.iloc[7]
    res = api.get("/api/entities", params={"q": e["name"][1:5]}, headers=h(web_stack, "viewer1"))
    assert res.status_code == 200 and any(x["uscc"] == e["uscc"] for x in res.json()) or \
        all(e["name"][1:5] in x["name"] for x in res.json())
    res = api.get("/api/entities", params={"q": e["uscc"][:10]}, headers=h(web_stack, "rep1"))
    assert res.status_code == 200 and res.json()[0]["uscc"].startswith(e["uscc"][:10])
    bad = api.get("/api/entities", params={"limit": 1000}, headers=h(web_stack, "viewer1"))
    assert bad.status_code == 422 and "error" in bad.json()


def test_one_entity_with_grid_people_risk_and_history(api, web_stack):
    import psycopg

    with psycopg.connect(web_stack.settings.database_url) as conn:
        uscc = conn.execute("SELECT uscc FROM inspections GROUP BY uscc ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    res = api.get(f"/api/entities/{uscc}", headers=h(web_stack, "viewer1"))
    body = res.json()
    assert res.status_code == 200 and body["uscc"] == uscc and body["risk"] in ("A", "B", "C", "D")
    assert body["grid"] and body["level1"] and body["grid_name"]
    assert body["responsible"]["l2_supervisor"] or body["responsible"]["l1_supervisor"]
    assert [x["at"] for x in body["history"]] == sorted((x["at"] for x in body["history"]), reverse=True)
    assert {x["type"] for x in body["history"]} >= {"inspection"}
    # the people on the card are named, their phone numbers are not sent
    phones = set(web_stack.ctx.dataset.people["phone"].astype(str))
    assert not any(p in res.text for p in phones)
    missing = api.get("/api/entities/913606000000000000", headers=h(web_stack, "viewer1"))
    assert missing.status_code == 404 and "error" in missing.json()


def test_upload_stores_once_under_its_sha256(api, web_stack):
    data = png(3)
    files = {"file": ("photo.png", data, "image/png")}
    first = api.post("/api/media", files=files, headers=h(web_stack, "sup1"))
    assert first.status_code == 201, first.text
    assert first.json() == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "type": "image/png"}
    again = api.post("/api/media", files=files, headers=h(web_stack, "rep1"))
    assert again.json() == first.json()
    root = web_stack.ctx.media.root
    stored = [p for p in root.rglob("*") if p.is_file()]
    assert [p.name for p in stored].count(first.json()["sha256"]) == 1
    assert not [p for p in stored if p.name.startswith(".upload-")]     # no temporary file left


@pytest.mark.parametrize("name, body, declared, status", [
    ("notes.txt", b"just some text, not an image" * 20, "image/png", 415),   # the header lies
    ("tool.exe", b"MZ\x90\x00" + b"\x00" * 600, "application/octet-stream", 415),
    ("photo.png", None, "image/jpeg", 415),                                    # a PNG declared JPEG
    ("empty.png", b"", "image/png", 415),
])
def test_upload_type_is_judged_from_the_bytes(api, web_stack, name, body, declared, status):
    res = api.post("/api/media", files={"file": (name, png(5) if body is None else body, declared)},
                   headers=h(web_stack, "sup1"))
    assert res.status_code == status and "message" in res.json()


def test_upload_roles_and_shape(api, web_stack):
    res = api.post("/api/media", files={"file": ("p.png", png(6), "image/png")}, headers=h(web_stack, "viewer1"))
    assert res.status_code == 403
    res = api.post("/api/media", data={"x": "1"}, headers=h(web_stack, "sup1"))
    assert res.status_code in (415, 422) and "error" in res.json()


def test_download_needs_login_and_answers_range(api, web_stack):
    data = png(9, size=(300, 200))
    sha = api.post("/api/media", files={"file": ("p.png", data, "image/png")}, headers=h(web_stack, "sup1")).json()["sha256"]
    assert api.get(f"/api/media/{sha}").status_code == 401
    whole = api.get(f"/api/media/{sha}", headers=h(web_stack, "viewer1"))
    assert whole.status_code == 200 and whole.content == data and whole.headers["content-type"] == "image/png"
    part = api.get(f"/api/media/{sha}", headers={**h(web_stack, "viewer1"), "Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == data[10:100]
    assert re.match(r"bytes 10-99/\d+", part.headers["content-range"])
    assert api.get("/api/media/" + "0" * 64, headers=h(web_stack, "viewer1")).status_code == 404


def test_upload_over_the_limit_is_413_and_leaves_nothing(web_stack, tmp_path):
    from dashboard.server import create_server

    small = web_stack.settings.model_copy(update={"media_max_mb": 1, "media_dir": tmp_path / "media"})
    server = create_server(small)
    with TestClient(server) as client:
        big = png(1) + b"\x00" * (2 << 20)
        res = client.post("/api/media", files={"file": ("big.png", big, "image/png")}, headers=h(web_stack, "sup1"))
        assert res.status_code == 413 and "limit" in res.json()["message"]
    assert not [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    server.state.ctx.close()
