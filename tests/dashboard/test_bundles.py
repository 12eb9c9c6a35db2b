"""dashboard/bundles.py: a bundle is gzipped once and answered from memory, 304 on its ETag;
other paths and other statuses pass through untouched."""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from dashboard.bundles import BundleCache

BODY = "window.x = 1;\n" * 2000


def app_and_calls():
    app = FastAPI()
    calls = []

    @app.get("/_dash-component-suites/pkg/{name}")
    def bundle(name: str):
        calls.append(name)
        if name == "missing.js":
            return PlainTextResponse("no", status_code=404)
        return PlainTextResponse(BODY, media_type="text/javascript", headers={"Cache-Control": "public, max-age=60"})

    @app.get("/api/thing")
    def thing():
        calls.append("thing")
        return {"ok": True}

    app.add_middleware(BundleCache)
    return app, calls


def test_a_bundle_is_packed_once_and_revalidated_by_its_etag():
    app, calls = app_and_calls()
    c = TestClient(app)
    r = c.get("/_dash-component-suites/pkg/a.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.text == BODY and r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == "public, max-age=60" and r.headers["etag"].startswith('"')
    assert int(r.headers["content-length"]) < len(BODY) / 10
    again = c.get("/_dash-component-suites/pkg/a.js", headers={"Accept-Encoding": "identity"})
    assert again.text == BODY and "content-encoding" not in again.headers
    same = c.get("/_dash-component-suites/pkg/a.js", headers={"If-None-Match": r.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    assert calls == ["a.js"]                      # served from memory after the first


def test_other_paths_and_statuses_pass_through():
    app, calls = app_and_calls()
    c = TestClient(app)
    assert c.get("/_dash-component-suites/pkg/missing.js").status_code == 404
    assert c.get("/_dash-component-suites/pkg/missing.js").status_code == 404
    assert c.get("/api/thing").json() == {"ok": True}
    assert calls == ["missing.js", "missing.js", "thing"]
