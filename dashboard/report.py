"""`/report`: the reporters' phone page (the WeChat official-account page of the seed: a plain
mobile page a WeChat menu can open). A category, the point (the phone's location, movable on a
small map), a description, photos and a voice note go to POST /api/open311/v2/requests.json;
below, his reports with each step, the feedback and a reopen button within 7 days of closing.

The page is plain HTML with its own script (dashboard/report_assets/report.js) and Leaflet
vendored beside it, not Dash: it must open fast in a phone's in-app browser, and a file input
and MediaRecorder are browser work anyway. `GET /api/report/point` turns a point between the
tiles' datum and WGS-84 and names its grid, so the script holds no datum code. Phones in China
report GCJ-02 through WeChat's location API (`wx.getLocation({type: "gcj02"})`, when the page is
opened from the official account with its JS-SDK): the script sends such a point as
`datum=gcj02` and files the WGS-84 point it gets back."""
from __future__ import annotations

import html
from pathlib import Path

import orjson

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from dashboard.deps import AnyUser, Lat, Lon
from dashboard.i18n import t
from layers.datum import bounds_to_map, from_map_point
from layers.grids import bounds, grids_geojson

ASSETS = Path(__file__).parent / "report_assets"
STATIC = "/static/report/"
TILE_ROUTE = "/tiles/{z}/{x}/{y}"

PAGE = """<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<title>{title}</title>
<link rel="stylesheet" href="{static}vendor/leaflet/leaflet.css">
<link rel="stylesheet" href="{static}report.css">
</head><body class="rp" data-tiles="{tiles}" data-attribution="{attribution}" data-account="{account}" data-bounds="{bounds}">
<header class="rp-head"><b>{title}</b><span>{who} · <a href="/report{other_lang}">{language}</a> · <a href="/logout">{logout}</a></span></header>
<form id="rp-form" class="rp-form" novalidate>
  <label for="rp-category">{l_category}</label>
  <select id="rp-category" name="service_code" required><option value="">{l_pick}</option></select>
  <label>{l_point}</label>
  <div id="rp-map" class="rp-map"></div>
  <div class="rp-row"><span id="rp-where" class="rp-msg">{l_locating}</span>
    <button type="button" id="rp-locate" class="rp-secondary">{l_locate}</button></div>
  <label for="rp-desc">{l_desc}</label>
  <textarea id="rp-desc" name="description" rows="4" maxlength="2000" placeholder="{l_desc_hint}"></textarea>
  <div class="rp-row"><label class="rp-file rp-secondary">{l_photo}
    <input id="rp-photos" type="file" accept="image/*" capture="environment" multiple></label>
    <button type="button" id="rp-record" class="rp-secondary">{l_voice}</button></div>
  <div id="rp-attached" class="rp-attached"></div>
  <button type="submit" id="rp-submit">{l_submit}</button>
  <div id="rp-msg" class="rp-msg" role="status"></div>
</form>
<h3>{l_mine}</h3>
<div id="rp-list" class="rp-list"></div>
<script src="/static/i18n.js"></script>
<script src="{static}vendor/leaflet/leaflet.js"></script>
<script src="{static}report.js"></script>
</body></html>"""


def page_html(ctx, user, lang: str) -> str:
    s = ctx.settings
    tiles = TILE_ROUTE if s.tile_dir else (s.tile_url or "")
    p = ctx.registry.person(user.person) if user.person else None
    e = html.escape
    b = ctx.cached("bounds", lambda: bounds_to_map(bounds(ctx.dataset.grids), s.tile_datum))
    return PAGE.format(bounds=e(orjson.dumps(b).decode()),
        html_lang="en" if lang == "en" else "zh-CN", static=STATIC, tiles=e(tiles),
        attribution=e(s.tile_attribution or ""), account=e(user.name), title=e(t("rp_title", lang)),
        who=e(p.name if p else user.name), other_lang="" if lang == "en" else "?lang=en",
        language=e(t("language", lang)), logout=e(t("logout", lang)),
        **{k: e(t("rp_" + k, lang)) for k in (
            "l_category", "l_pick", "l_point", "l_locating", "l_locate", "l_desc", "l_desc_hint", "l_photo",
            "l_voice", "l_submit", "l_mine")})


POINT_DATUMS = ("wgs84", "map", "gcj02")


def point_view(ctx, lat: float, lon: float, datum: str) -> dict:
    """A point given in WGS-84 (`datum=wgs84`), as read from the map (`datum=map`) or in GCJ-02
    (`datum=gcj02`: WeChat's location API): both forms, its level-2 grid (id, name, outline on
    the map) or null outside the jurisdiction."""
    if datum == "map":
        lat, lon = ctx.from_map(lat, lon)
    elif datum == "gcj02":
        lat, lon = from_map_point(lat, lon, "gcj02")
    mlat, mlon = ctx.to_map_point(lat, lon)
    _l1, l2 = ctx.index.locate_one(lat, lon)
    grid = None
    if l2 is not None:
        g = ctx.dataset.grids
        outline = ctx.cached(f"report-outline-{l2}", lambda: ctx.to_map(grids_geojson(g[g["id"] == l2], level=2)))
        grid = {"id": l2, "name": ctx.grid_names.get(l2, l2), "outline": outline}
    return {"lat": lat, "lon": lon, "map": {"lat": mlat, "lon": mlon}, "grid": grid}


def install_report_routes(api: APIRouter, ctx) -> None:
    @api.get("/report/point", tags=["tasks"])
    def report_point(_: AnyUser, lat: Lat, lon: Lon, datum: str = "wgs84") -> dict:
        """The report page's point (`datum`: wgs84, map or gcj02): WGS-84 and map forms, and the
        level-2 grid it lies in."""
        if datum not in POINT_DATUMS:
            raise HTTPException(422, f"datum is {', '.join(POINT_DATUMS)}")
        return point_view(ctx, lat, lon, datum)


def install_report(server: FastAPI, ctx) -> None:
    """The page, its point helper and its static files (the login gate covers /report and /api;
    /static/ is public: code, not data)."""
    files = {p.relative_to(ASSETS).as_posix(): p for p in ASSETS.rglob("*") if p.is_file()}
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

    @server.get("/report", include_in_schema=False)
    def report_page(request: Request) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        if user is None:
            return RedirectResponse("/login?next=/report", status_code=303)
        lang = "en" if request.query_params.get("lang") == "en" else "zh"
        return HTMLResponse(page_html(ctx, user, lang), headers={"Cache-Control": "no-store"})

    @server.get(STATIC + "{path:path}", include_in_schema=False)
    def report_static(path: str) -> FileResponse:
        f = files.get(path)
        if f is None:
            raise HTTPException(404, f"no file {path}")
        return FileResponse(f, media_type=types.get(f.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "no-cache"})
