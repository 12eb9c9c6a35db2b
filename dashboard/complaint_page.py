"""The citizen's page `/complaint` (CONTRACT.md section 11): file a complaint and look up its
progress with the query code and the phone's last four digits. A plain FastAPI page with one
small script of our own (no login, no Dash: the Dash router sends anonymous visitors to
/login); its text comes from dashboard/i18n.py (zh-CN by default, `?lang=en`)."""
from __future__ import annotations

import html
from pathlib import Path

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse

from dashboard.i18n import STRINGS, lang_of, t

ASSETS = Path(__file__).parent / "complaint_assets"
# The keys the script draws with (states, outcomes, channels, field names and messages).
SCRIPT_KEYS = tuple(k for k in STRINGS if k.startswith(("cstate_", "coutcome_", "cchannel_", "cp_", "cq_", "cact_",
                                                         "kstate_", "kact_")))

PAGE = """<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/complaint/complaint.css"></head>
<body class="cp"><header><h1>{title}</h1><p class="cp-intro">{intro}</p>
<nav><button type="button" id="tab-file" class="on">{tab_file}</button><button type="button" id="tab-query">{tab_query}</button></nav></header>
<main>
<form id="file-form" autocomplete="on" novalidate>
<label>{name}<input name="name" id="f-name" required maxlength="50" autocomplete="name"></label>
<label>{phone}<input name="phone" id="f-phone" required inputmode="tel" maxlength="20" autocomplete="tel"></label>
<label>{id_number}<input name="id_number" id="f-id" maxlength="18"></label>
<label>{resp_name}<input name="resp_name" id="f-resp-name" maxlength="200"></label>
<label>{resp_address}<input name="resp_address" id="f-resp-address" maxlength="300"></label>
<label>{resp_uscc}<input name="resp_uscc" id="f-resp-uscc" maxlength="18" autocapitalize="characters"></label>
<button type="button" id="f-here" class="cp-here">{here}</button><span id="f-here-msg" class="cp-msg"></span>
<label>{category}<select name="category" id="f-category" required></select></label>
<label>{description}<textarea name="description" id="f-description" required maxlength="2000" rows="5"></textarea></label>
<label>{amount}<input name="amount" id="f-amount" inputmode="decimal"></label>
<label>{channel}<select name="channel" id="f-channel"><option value="web">{ch_web}</option><option value="wechat">{ch_wechat}</option></select></label>
<button type="submit" id="f-submit">{submit}</button>
<p id="file-msg" class="cp-msg" role="status"></p>
</form>
<form id="query-form" hidden novalidate>
<label>{code}<input name="code" id="q-code" required maxlength="20" autocapitalize="characters"></label>
<label>{last4}<input name="last4" id="q-last4" required inputmode="numeric" maxlength="4"></label>
<button type="submit" id="q-submit">{lookup}</button>
<p id="query-msg" class="cp-msg" role="status"></p>
<dl id="query-result" hidden></dl>
</form>
</main>
<script>window.gwComplaint = {strings};</script>
<script src="/complaint/complaint.js"></script></body></html>"""


def page_html(lang: str) -> str:
    e = lambda k: html.escape(t(k, lang))  # noqa: E731
    strings = orjson.dumps({"lang": lang, "t": {k: t(k, lang) for k in SCRIPT_KEYS}}).decode().replace("</", "<\\/")
    return PAGE.format(
        html_lang="en" if lang == "en" else "zh-CN", title=e("cp_title"), intro=e("cp_intro"),
        tab_file=e("cp_tab_file"), tab_query=e("cp_tab_query"), name=e("cp_name"), phone=e("cp_phone"),
        id_number=e("cp_id_number"), resp_name=e("cp_resp_name"), resp_address=e("cp_resp_address"),
        resp_uscc=e("cp_resp_uscc"), here=e("cp_here"), category=e("cp_category"), description=e("cp_description"),
        amount=e("cp_amount"), channel=e("cp_channel"), ch_web=e("cchannel_web"), ch_wechat=e("cchannel_wechat"),
        submit=e("cp_submit"), code=e("cp_code"), last4=e("cp_last4"), lookup=e("cp_lookup"), strings=strings)


def install_complaint_page(server: FastAPI, ctx) -> None:
    @server.get("/complaint", include_in_schema=False)
    def complaint_page(request: Request) -> HTMLResponse:
        return HTMLResponse(page_html(lang_of(request.url.query)),
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    @server.get("/complaint/complaint.js", include_in_schema=False)
    def complaint_js() -> FileResponse:
        return FileResponse(ASSETS / "complaint.js", media_type="text/javascript")

    @server.get("/complaint/complaint.css", include_in_schema=False)
    def complaint_css() -> FileResponse:
        return FileResponse(ASSETS / "complaint.css", media_type="text/css")
