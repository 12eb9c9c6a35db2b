"""Routes of the inspections (CONTRACT.md section 9): checklists, the inspection's lifecycle
(create, answers, media, signatures, seal), reads, the PDF and QR, the public receipt
`/r/{token}` and the terminal's service worker `/sw.js`. Routes parse, say who is calling and
call into casework/inspections.py; its errors carry their own status."""
from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from alerts.errors import Invalid, NotFound
from casework import checklists as C
from casework import inspections as I
from casework.task_store import Viewer
from dashboard.deps import AnyUser

ID = Annotated[str, Path(max_length=64)]
STATIC = FsPath(__file__).with_name("inspect_static")   # not under assets/: Dash would load it on every page
STATIC_TYPES = {".js": "text/javascript", ".wasm": "application/wasm", ".txt": "text/plain; charset=utf-8"}


def _text(v, name):
    if isinstance(v, str) and "\x00" in v:
        raise Invalid(f"{name} holds a NUL character", field=name)
    return v


class Inspections:
    """What the routes share: the caller as a Viewer, times in the bureau's zone, the bureau's
    key and the PDF renderer (both built once per process, on first use)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.tz = ZoneInfo(ctx.settings.tz)

    def viewer(self, user) -> Viewer:
        grids: tuple[str, ...] = ()
        if user.role == "supervisor" and user.person:
            p = self.ctx.registry.person(user.person)
            grids = tuple(p.grids) if p else ()
        return Viewer(user.name, user.role, user.person, grids)

    def key(self):
        from casework.signing import BureauKey

        return self.ctx.cached("bureau-key", lambda: BureauKey.load_or_create(self.ctx.settings.signing_key_path()))

    def renderer(self):
        from casework.inspection_pdf import Renderer

        return self.ctx.cached("inspection-pdf", lambda: Renderer(self.ctx.settings.media_path()))

    def person_role(self, pid):
        p = self.ctx.registry.person(pid)
        return p.role if p else None

    def person_name(self, pid):
        p = self.ctx.registry.person(pid) if pid else None
        return p.name if p else None

    def plain(self, doc):
        if isinstance(doc, dict):
            return {k: self.plain(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [self.plain(v) for v in doc]
        if isinstance(doc, datetime):
            return doc.astimezone(self.tz).isoformat()
        if hasattr(doc, "isoformat"):
            return doc.isoformat()
        return doc

    def view(self, row: dict, base: str) -> dict:
        out = {k: v for k, v in row.items() if k != "receipt_token"}
        out["receipt"] = receipt_url(base, row["receipt_token"]) if row.get("receipt_token") and row.get("sealed_at") else None
        return self.plain(out)

    def pdf(self, insp: dict, base: str) -> bytes:
        from casework.inspection_pdf import document, qr_svg

        with self.ctx.db.connection() as conn, conn.cursor() as cur:
            cl = C.get(cur, insp["checklist"]) or {"items": []}
        url = receipt_url(base, insp["receipt_token"]) if insp.get("sealed_at") else None
        doc = document(insp, cl, tz=self.tz, person_name=self.person_name, receipt_url=url,
                       qr_svg=qr_svg(url) if url else "", media_root=self.ctx.settings.media_path())
        return self.renderer().render(doc, timestamp=insp.get("sealed_at") or insp["started_at"])


def receipt_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/r/{token}"


async def _json(request: Request):
    try:
        return await request.json()
    except ValueError:
        raise Invalid("the body is not JSON", field="body") from None


def install_inspection_routes(api: APIRouter, ctx) -> Inspections:
    ins = Inspections(ctx)

    @api.get("/checklists", tags=["inspections"])
    def get_checklists(_: AnyUser) -> list[dict]:
        """The inspection templates: `[{id, name, categories, items: [{code, section, text, key, required}], rule}]`."""
        with ctx.db.connection() as conn, conn.cursor() as cur:
            return C.all_checklists(cur)

    @api.post("/inspections", tags=["inspections"], status_code=201)
    async def create(user: AnyUser, request: Request):
        """`{id?, uscc, checklist, kind, draw?, task?, inspectors, lat?, lon?}` -> 201 the inspection;
        the same `id` again changes nothing and answers 200 with it."""
        body = await _json(request)
        with ctx.db.connection() as conn:
            row, created = I.create(conn, body, ins.viewer(user), person_role=ins.person_role)
        return JSONResponse(ins.view(row, str(request.base_url)), status_code=201 if created else 200)

    @api.get("/inspections", tags=["inspections"])
    def list_(user: AnyUser, request: Request, uscc: str | None = None, inspector: str | None = None,
              kind: str | None = None, from_: Annotated[datetime | None, Query(alias="from")] = None,
              to: datetime | None = None, limit: Annotated[int, Query(ge=1, le=I.MAX_LIMIT)] = 200) -> list[dict]:
        """Inspections the caller may see, newest first."""
        for n, v in (("uscc", uscc), ("inspector", inspector), ("kind", kind)):
            _text(v, n)
        tz = ins.tz
        start = from_.replace(tzinfo=from_.tzinfo or tz) if from_ else None
        end = to.replace(tzinfo=to.tzinfo or tz) if to else None
        with ctx.db.connection() as conn:
            rows = I.list_inspections(conn, ins.viewer(user), uscc=uscc, inspector=inspector, kind=kind,
                                      start=start, end=end, limit=limit)
        base = str(request.base_url)
        return [ins.view(r, base) for r in rows]

    @api.get("/inspections/{iid}.pdf", tags=["inspections"], response_class=Response)
    def pdf(user: AnyUser, request: Request, iid: ID) -> Response:
        """The record as a PDF (Chinese): entity, inspectors, items and results, notes, photos,
        signatures, hash and the receipt's QR."""
        _text(iid, "id")
        with ctx.db.connection() as conn:
            insp = I.get(conn, iid, ins.viewer(user), history=False)
        return Response(ins.pdf(insp, str(request.base_url)), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="inspection-{iid}.pdf"'})

    @api.get("/inspections/{iid}/qr.svg", tags=["inspections"], response_class=Response)
    def qr(user: AnyUser, request: Request, iid: ID) -> Response:
        """The QR code of the receipt's URL (sealed inspections)."""
        from casework.inspection_pdf import qr_svg

        _text(iid, "id")
        with ctx.db.connection() as conn:
            insp = I.get(conn, iid, ins.viewer(user), history=False)
        if not insp.get("sealed_at"):
            raise NotFound(f"inspection {iid} is not sealed: it has no receipt yet", inspection=iid)
        svg = qr_svg(receipt_url(str(request.base_url), insp["receipt_token"]), scale=8)
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})

    @api.get("/inspections/{iid}", tags=["inspections"])
    def one(user: AnyUser, request: Request, iid: ID) -> dict:
        _text(iid, "id")
        with ctx.db.connection() as conn:
            return ins.view(I.get(conn, iid, ins.viewer(user)), str(request.base_url))

    @api.put("/inspections/{iid}/answers", tags=["inspections"])
    async def answers(user: AnyUser, request: Request, iid: ID) -> dict:
        """`{"<item code>": {"result": "pass"|"fail"|"na", "note"?}}`, merged with earlier answers."""
        _text(iid, "id")
        body = await _json(request)
        with ctx.db.connection() as conn:
            return ins.view(I.put_answers(conn, iid, body, ins.viewer(user)), str(request.base_url))

    @api.put("/inspections/{iid}/notes", tags=["inspections"])
    async def notes(user: AnyUser, request: Request, iid: ID) -> dict:
        """`{"notes": "..."}`: the inspector's description of the scene (replaces the earlier one)."""
        _text(iid, "id")
        body = await _json(request)
        if not isinstance(body, dict):
            raise Invalid("the body is {notes}", field="body")
        with ctx.db.connection() as conn:
            return ins.view(I.put_notes(conn, iid, body.get("notes"), ins.viewer(user)), str(request.base_url))

    @api.post("/inspections/{iid}/media", tags=["inspections"])
    async def media(user: AnyUser, request: Request, iid: ID) -> JSONResponse:
        """multipart `file`, optional `item`, `taken_at`, `lat`, `lon` -> `{sha256, size, type}`; the
        same file for the same item again changes nothing (200)."""
        from dashboard.uploads import receive_file

        _text(iid, "id")
        item = _text(request.query_params.get("item", ""), "item")
        with ctx.db.connection() as conn:      # 404/403/409 before any bytes are stored
            I.check_media_target(conn, iid, ins.viewer(user), item)
        stored, fields = await receive_file(request, ctx.media)
        for k, v in fields.items():
            _text(v, k)
        item = fields.get("item", item) or ""

        def num(name, lim):
            try:
                v = float(fields[name]) if fields.get(name) else None
            except ValueError:
                raise Invalid(f"{name} is a number", field=name) from None
            if v is not None and not -lim <= v <= lim:
                raise Invalid(f"{name} lies in [-{lim}, {lim}]", field=name)
            return v

        taken = None
        if fields.get("taken_at"):
            try:
                taken = datetime.fromisoformat(fields["taken_at"])
            except ValueError:
                raise Invalid("taken_at is an ISO 8601 time", field="taken_at") from None
            taken = taken if taken.tzinfo else taken.replace(tzinfo=ins.tz)
        try:
            with ctx.db.connection() as conn:
                new = I.add_media(conn, iid, stored, ins.viewer(user), item=item, taken_at=taken,
                                  lat=num("lat", 90), lon=num("lon", 180))
        except Exception:
            if stored.new:      # a refused upload leaves no file that no record has
                ctx.media.path(stored.sha256).unlink(missing_ok=True)
            raise
        if new and stored.type.startswith("image/"):     # the PDF's print copy, made beside the request
            import asyncio

            from casework.inspection_pdf import thumbnail

            asyncio.get_running_loop().run_in_executor(None, thumbnail, ctx.settings.media_path(), stored.sha256)
        return JSONResponse(stored.to_dict(), status_code=201 if new else 200)

    @api.post("/inspections/{iid}/signatures", tags=["inspections"], status_code=201)
    async def signatures(user: AnyUser, request: Request, iid: ID) -> dict:
        """`{party, name, person?, image (PNG or SVG data URL), strokes?}` or
        `{party: "entity", refused: true, witness, note}`."""
        _text(iid, "id")
        body = await _json(request)
        with ctx.db.connection() as conn:
            entry = I.add_signature(conn, iid, body, ins.viewer(user), ctx.media, person_name=ins.person_name)
        return entry

    @api.post("/inspections/{iid}/seal", tags=["inspections"])
    def seal(user: AnyUser, request: Request, iid: ID) -> dict:
        """-> `{result, hash, sealed_at, receipt}`; 422 naming what is missing; after it any change is 409."""
        _text(iid, "id")
        with ctx.db.connection() as conn:
            s = I.seal(conn, iid, ins.viewer(user), key=ins.key(), tz=ins.tz)
        out = {"result": s["result"], "hash": s["hash"], "sealed_at": s["sealed_at"],
               "receipt": receipt_url(str(request.base_url), s["receipt_token"]),
               "rectify_by": s["rectify_by"], "failed_items": s["failed_items"],
               "signature": {"algorithm": "Ed25519", "key_id": s["key_id"], "signature": s["signature"]}}
        return ins.plain(out)

    return ins


RECEIPT = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>现场检查结果告知</title>
<link rel="stylesheet" href="/assets/gridwatch.css"><link rel="stylesheet" href="/assets/gridwatch_inspect.css">{head}
</head><body class="gw-receipt">
<h1>现场检查结果告知</h1>
<table class="gw-receipt-table">{rows}</table>
{failed}
<h2>核验</h2>
<p>本记录的哈希（SHA-256）：<code class="gw-hash">{hash}</code></p>
<p>市场监督管理局对该哈希的签名（Ed25519）：<code class="gw-hash">{signature}</code></p>
<p>局公钥（Ed25519，密钥编号 {key_id}）：<code class="gw-hash">{public}</code></p>
<pre class="gw-hash">{public_pem}</pre>
<p class="gw-msg">用上面的局公钥验证签名（Ed25519，签名对象为哈希的 64 位十六进制文本），即可确认本记录由本局签发；
例如 <code>openssl pkeyutl -verify -pubin -inkey 局公钥.pem -rawin -in 哈希.txt -sigfile 签名.bin</code>。</p>
</body></html>"""


def install_inspection_pages(server: FastAPI, ctx, ins: Inspections) -> None:
    @server.get("/r/{token}", include_in_schema=False)
    def receipt(token: Annotated[str, Path(max_length=64)]) -> HTMLResponse:
        """The result sheet for the entity's representative: public, no phone or id numbers."""
        from casework.inspection_pdf import KIND_ZH, RESULT_ZH

        if "\x00" in token:
            return HTMLResponse("<p>未找到该检查记录</p>", status_code=404)
        with ctx.db.connection() as conn:
            insp = I.by_token(conn, token)
            cl = None
            if insp is not None:
                with conn.cursor() as cur:
                    cl = C.get(cur, insp["checklist"])
        if insp is None:
            return HTMLResponse("<!doctype html><meta charset=utf-8><p>未找到该检查记录 No such receipt</p>",
                                status_code=404)
        e = html.escape
        local = lambda v: v.astimezone(ins.tz).strftime("%Y-%m-%d %H:%M") if v else ""  # noqa: E731
        names = "、".join(ins.person_name(p) or "检查人员" for p in insp["inspectors"])
        rows = [("被检查单位", insp["entity_name"]), ("统一社会信用代码", insp["uscc"]),
                ("检查类型", KIND_ZH.get(insp["kind"], insp["kind"])), ("检查时间", local(insp["started_at"])),
                ("检查结果", RESULT_ZH.get(insp["result"], insp["result"])), ("检查人员", names)]
        if insp.get("rectify_by"):
            rows.append(("整改期限", str(insp["rectify_by"])))
        text = {i["code"]: i["text"] for i in (cl or {}).get("items", [])}
        failed = ""
        if insp["failed_items"]:
            failed = "<h2>不符合项</h2><ul>" + "".join(
                f"<li>{e(c)} {e(text.get(c, ''))}" + (f"（{e(insp['answers'].get(c, {}).get('note') or '')}）"
                                                       if insp["answers"].get(c, {}).get("note") else "") + "</li>"
                for c in insp["failed_items"]) + "</ul>"
        key = ins.key()
        sig = insp.get("signature") or {}
        from layers.palette import head_html

        return HTMLResponse(RECEIPT.format(
            head=head_html(), rows="".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows), failed=failed,
            hash=e(insp["hash"]), signature=e(sig.get("signature") or ""), key_id=e(sig.get("key_id") or key.key_id),
            public=e(key.public_b64), public_pem=e(key.public_pem)),
            headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

    @server.get("/sw.js", include_in_schema=False)
    def service_worker() -> Response:
        """The terminal's service worker, at the root scope (it caches the page's assets)."""
        return Response((STATIC / "sw.js").read_bytes(), media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})

    files = {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file() and p.name != "sw.js"}

    @server.get("/static/inspect/{name:path}", include_in_schema=False)
    def inspect_static(name: str) -> Response:
        """The terminal's vendored libraries (the QR decoder and its .wasm, signature_pad)."""
        path = files.get(name)
        if path is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response(path.read_bytes(), media_type=STATIC_TYPES.get(path.suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache"})
