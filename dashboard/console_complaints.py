"""The console's complaints desk `/console/complaints` (CONTRACT.md section 11): the queue of the
caller's branch (or the command centre's), opening on those with a step to take, the nearest
deadline first, with the buttons of each step the complaint is at, and the hotline's intake
form above them (coordinators, admins). A plain page over /api/complaints with a
script of our own, linked from the console; the server decides every step (403/409 shown)."""
from __future__ import annotations

import html

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from casework import complaints as C
from dashboard.complaint_page import ASSETS, SCRIPT_KEYS
from dashboard.complaint_routes import jurisdiction_of
from dashboard.i18n import lang_of, t

STAFF = ("viewer", "coordinator", "admin", "supervisor")
# which buttons a state shows (the transition table decides; this only avoids useless buttons)
BUTTONS = {"received": ["accept", "refuse", "transfer", "case", "task"], "accepted": ["mediate", "transfer", "case", "task"],
           "mediating": ["agree", "fail", "task"], "agreed": ["close"], "failed": ["close"]}
CASE_BUTTONS = {"clue": ["verify", "transfer_police", "drop"], "verified": ["file", "transfer_police", "drop"],
                "filed": ["decide"]}

PAGE = """<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<link rel="stylesheet" href="/console/complaints.css"></head>
<body class="cq"><header><h1>{title}</h1><a href="/console">← /console</a>
<label>{state}<select id="cq-state"><option value="open" selected>{open}</option><option value="">{all}</option>{state_options}</select></label>
<label><input type="checkbox" id="cq-queue"> {queue}</label>
<label{branch_hidden}><input type="checkbox" id="cq-all-branches"> {all_branches}</label>
<button type="button" id="cq-refresh">{refresh}</button> <span id="cq-me">{me}</span></header>
<main>{intake}<p id="cq-msg" role="status"></p><p id="cq-count"></p>
<div class="cq-scroll"><table id="cq-table"><thead><tr><th>{h_id}</th><th>{h_received}</th><th>{h_complainant}</th><th>{h_respondent}</th>
<th>{h_category}</th><th>{h_state}</th><th>{h_deadline}</th><th>{h_branch}</th><th>{h_actions}</th></tr></thead>
<tbody></tbody></table></div>
<section id="kq"><h2>{cases}</h2><table id="kq-table"><thead><tr><th>{h_id}</th><th>{h_source}</th>
<th>{h_respondent}</th><th>{h_summary}</th><th>{h_state}</th><th>{h_branch}</th><th>{h_actions}</th></tr></thead>
<tbody></tbody></table></section>
</main><script>window.gwComplaint = {strings};</script><script src="/console/complaints.js"></script></body></html>"""

INTAKE = """<details id="cq-intake" open><summary>{title}</summary><form id="intake-form">
<label>{channel}<select id="i-channel">{channels}</select></label>
<label>{name}<input id="i-name" required></label><label>{phone}<input id="i-phone" required></label>
<label>{id_number}<input id="i-id"></label><label>{resp_uscc}<input id="i-uscc"></label>
<label>{resp_name}<input id="i-resp-name"></label><label>{resp_address}<input id="i-resp-address"></label>
<label>{category}<select id="i-category"></select></label>
<label>{description}<textarea id="i-description" rows="3" required></textarea></label>
<button type="submit" id="i-submit">{submit}</button><span id="i-msg" role="status"></span></form></details>"""


def install_console_complaints(server: FastAPI, ctx) -> None:
    @server.get("/console/complaints", include_in_schema=False)
    def desk(request: Request) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        if user is None or user.role not in STAFF:
            raise HTTPException(403, "the complaints desk is for the bureau's staff")
        lang = lang_of(request.url.query)
        e = lambda k: html.escape(t(k, lang))  # noqa: E731
        intake = ""
        if user.role in ("coordinator", "admin"):
            intake = INTAKE.format(
                title=e("cq_intake"), channel=e("cp_channel"), name=e("cq_i_name"), phone=e("cq_i_phone"),
                id_number=e("cp_id_number"), resp_uscc=e("cp_resp_uscc"), resp_name=e("cp_resp_name"),
                resp_address=e("cp_resp_address"), category=e("cp_category"), description=e("cp_description"),
                submit=e("cp_submit"),
                channels="".join(f'<option value="{c}">{e("cchannel_" + c)}</option>' for c in C.CHANNELS))
        # a supervisor's desk opens on his branch (the one whose complaints he handles)
        branch = None
        if user.role == "supervisor":
            mine, l1 = jurisdiction_of(ctx).branches_of(user.person)
            branch = (l1 or mine or (None,))[0]
        strings = {"lang": lang, "t": {k: t(k, lang) for k in SCRIPT_KEYS}, "buttons": BUTTONS, "case_buttons": CASE_BUTTONS,
                   "role": user.role, "branch": branch}
        return HTMLResponse(PAGE.format(
            html_lang="en" if lang == "en" else "zh-CN", title=e("cq_title"), state=e("cq_state"), all=e("cq_all"), open=e("cq_open"),
            state_options="".join(f'<option value="{s}">{e("cstate_" + s)}</option>' for s in C.STATES),
            queue=e("cq_queue"), all_branches=e("cq_all_branches"), branch_hidden="" if branch else " hidden", refresh=e("cq_refresh"), me=html.escape(f"{user.name} · {user.role}"),
            h_id=e("cq_id"), h_received=e("cq_received"), h_complainant=e("cq_complainant"),
            h_respondent=e("cq_respondent"), h_category=e("cq_category"), h_state=e("cq_state"),
            h_deadline=e("cq_deadline"), h_branch=e("cq_branch"), h_actions=e("cq_actions"), intake=intake,
            cases=e("cq_cases"), h_source=e("cq_source"), h_summary=e("cq_summary"),
            strings=orjson.dumps(strings).decode().replace("</", "<\\/")),
            headers={"Cache-Control": "no-store"})

    @server.get("/console/complaints.js", include_in_schema=False)
    def desk_js() -> FileResponse:
        return FileResponse(ASSETS / "console_complaints.js", media_type="text/javascript")

    @server.get("/console/complaints.css", include_in_schema=False)
    def desk_css() -> FileResponse:
        return FileResponse(ASSETS / "console_complaints.css", media_type="text/css")
