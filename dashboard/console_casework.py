"""The console's casework of a place (issue 18): the point picked on the map (its level-2 grid)
or the entity found by its credit code -> its open tasks, recent inspections, complaints and
cases, each row with what the caller's role can do there (show the task in the tasks panel,
reassign it; the inspection's record PDF; the complaints desk, to handle or to read).
Complaints pass through casework.complaint_store.present, the same masking as
GET /api/complaints (CONTRACT.md section 11); tasks and inspections the caller's visibility
of task_store and inspections. The grid's rows are found through entities_grid (tasks by
their own grid index)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from dash import ALL, Input, Output, State, ctx as dctx, html, no_update

from casework import cases as K
from casework import complaint_store as CS
from casework import inspections as I
from casework import task_store as TS
from dashboard import tasks_panel
from dashboard.i18n import code, t
from gridwatch.db import unless_down

log = logging.getLogger(__name__)

ROWS = 10
REASSIGN_ROLES = tasks_panel.REASSIGN_ROLES
OPEN_TASKS_OF_ENTITY = ("SELECT id FROM tasks WHERE uscc = %s AND state NOT IN ('closed', 'rejected') "
                        "ORDER BY reported_at DESC LIMIT %s")
INSPECTIONS_OF_GRID = (f"SELECT {I.COLUMNS} FROM inspections WHERE uscc = ANY(SELECT uscc FROM entities WHERE grid = %s) "
                       "ORDER BY started_at DESC, id LIMIT %s")
COMPLAINTS_OF = {
    "entity": f"SELECT {CS.COLUMNS} FROM complaints WHERE respondent_uscc = %s ORDER BY received_at DESC, id LIMIT %s",
    "grid": f"SELECT {CS.COLUMNS} FROM complaints WHERE grid = %s ORDER BY received_at DESC, id LIMIT %s",
}
CASES_OF_GRID = f"SELECT {K.COLUMNS} FROM cases WHERE grid = %s ORDER BY opened_at DESC, id LIMIT %s"


def section(ctx, lang: str):
    if not tasks_panel.configured(ctx):
        return None
    return html.Section([html.H3(t("cc_title", lang)), html.Div(t("cc_pick", lang), className="gw-msg")],
                        id="con-casework", className="gw-casework-desk")


def scope_of(ctx, point: dict | None) -> dict | None:
    """An entity found by search, else the level-2 grid at the point."""
    if not point:
        return None
    e = point.get("entity")
    if e and e.get("uscc"):
        return {"kind": "entity", "key": e["uscc"], "name": e.get("name") or e["uscc"]}
    _l1, l2 = ctx.index.locate_one(point["lat"], point["lon"])
    if not l2:
        return None
    return {"kind": "grid", "key": l2, "name": ctx.grid_names.get(l2, l2)}


def complaint_viewer(ctx, user) -> CS.Viewer:
    """As GET /api/complaints builds it (dashboard/complaint_routes.py)."""
    from dashboard.complaint_routes import jurisdiction_of

    mine, l1 = jurisdiction_of(ctx).branches_of(user.person) if user.role == "supervisor" else ((), ())
    return CS.Viewer(user.name, user.role, user.person, mine, l1)


def casework(ctx, user, scope: dict) -> dict:
    """The place's records as the caller may see them."""
    tv = tasks_panel.viewer_of(ctx, user)
    now = datetime.now(timezone.utc)
    kind, key = scope["kind"], scope["key"]
    out: dict = {"tasks": [], "inspections": [], "complaints": [], "cases": []}
    with ctx.db.connection() as conn:
        if kind == "entity":
            with conn.cursor() as cur:
                cur.execute(OPEN_TASKS_OF_ENTITY, (key, ROWS))
                ids = [r["id"] for r in cur.fetchall()]
            tasks = TS.list_tasks(conn, tv, status="open", ids=ids, limit=ROWS, now=now) if ids else []
            inspections = I.list_inspections(conn, tv, uscc=key, limit=ROWS)
        else:
            tasks = [r for r in TS.list_tasks(conn, tv, status="open", grid=key, limit=ROWS * 5, now=now)
                     if r.get("grid") == key][:ROWS]
            with conn.cursor() as cur:
                cur.execute(INSPECTIONS_OF_GRID, (key, ROWS * 5))
                inspections = [dict(r) for r in cur.fetchall() if I.visible(tv, r)][:ROWS]
        out["tasks"] = [tasks_panel.compact(ctx, r, now) for r in tasks]
        names = _entity_names(conn, {r["uscc"] for r in inspections})
        out["inspections"] = [{**r, "name": names.get(r["uscc"], r["uscc"])} for r in inspections]
        if user.role in CS.STAFF:
            cv = complaint_viewer(ctx, user)
            with conn.cursor() as cur:
                cur.execute(COMPLAINTS_OF[kind], (key, ROWS))
                out["complaints"] = [{**CS.present(r, cv), "_held": bool(cv.held(r.get("branch")))}
                                     for r in cur.fetchall() if cv.sees(r)]
            if kind == "entity":
                rows = K.list_cases(conn, uscc=key, limit=ROWS)
            else:
                with conn.cursor() as cur:
                    cur.execute(CASES_OF_GRID, (key, ROWS))
                    rows = list(cur.fetchall())
            out["cases"] = [{**r, "_held": bool(cv.held(r.get("branch")))} for r in rows]
    return out


def _entity_names(conn, usccs: set) -> dict:
    if not usccs:
        return {}
    with conn.cursor() as cur:
        cur.execute("SELECT uscc, name FROM entities WHERE uscc = ANY(%s)", (sorted(usccs),))
        return {r["uscc"]: r["name"] for r in cur.fetchall()}


# -- what the console shows ----------------------------------------------------------------------

def _link(text: str, href: str, lang: str, **kw):
    return html.A(text, href=href + ("?lang=en" if lang == "en" else ""), className="gw-cc-act", **kw)


def _when(v, tz) -> str:
    return v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else str(v or "")


def render(ctx, user, scope: dict, data: dict, lang: str) -> list:
    tz = ZoneInfo(ctx.settings.tz)
    title = t("cc_of_entity" if scope["kind"] == "entity" else "cc_of_grid", lang, name=scope["name"])
    blocks = [html.H3(title, id="con-cc-scope", **{"data-kind": scope["kind"], "data-key": scope["key"]})]

    def block(key, rows):
        head = html.H4(f"{t('cc_' + key, lang)}（{len(rows)}）")
        body = rows or [html.Div(t("cc_none", lang), className="gw-msg")]
        blocks.append(html.Div([head, *body], id=f"con-cc-{key}", className="gw-cc-block"))

    task_rows = []
    for x in data["tasks"]:
        acts = [html.Button(t("cc_show_task", lang), id={"type": "con-cc-task", "id": x["id"], "grid": x["grid"] or ""},
                            className="secondary")]
        if user.role in REASSIGN_ROLES and x["state"] in ("reported", "assigned"):
            acts.append(html.Button(t("tk_reassign", lang), id={"type": "con-cc-reassign", "id": x["id"]},
                                    className="secondary"))
        task_rows.append(html.Div([
            html.Div(f"{x['category_name']} · {x['id']}", className="t"),
            html.Div(f"{t('tk_state_' + x['state'], lang)} · {t('tk_assignee', lang)} {x['assignee_name'] or '–'}"
                     + (" · ⚠ " + t("cc_overdue", lang) if x["overdue"] else ""), className="s"),
            html.Div(acts, className="gw-duty")], className="gw-item gw-cc-row", id=f"con-cc-task-{x['id']}",
            **{"data-state": x["state"]}))
    block("tasks", task_rows)

    insp_rows = []
    for r in data["inspections"]:
        result = r.get("result") or "open"
        acts = [_link(t("cc_pdf", lang), f"/api/inspections/{r['id']}.pdf", lang, target="_blank")] if r.get("sealed_at") else []
        insp_rows.append(html.Div([
            html.Div(f"{r['name']} · {code('wc_result', result, lang)}", className="t"),
            html.Div(f"{_when(r['started_at'], tz)} · {code('ins_kind', r['kind'], lang)}", className="s"),
            html.Div(acts, className="gw-duty")], className=f"gw-item gw-cc-row gw-cc-{result}",
            id=f"con-cc-insp-{r['id']}", **{"data-result": result}))
    block("inspections", insp_rows)

    cmp_rows = []
    for c in data["complaints"]:
        verb = "cc_handle" if c["_held"] and c["state"] in CS.C.OPEN else "cc_view"
        cmp_rows.append(html.Div([
            html.Div(f"{c.get('respondent_name') or c.get('respondent_uscc') or ''} · {code('cstate', c['state'], lang)}",
                     className="t"),
            html.Div(f"{_when(c['received_at'], tz)} · {t('cc_complainant', lang)} {c['complainant_name']} "
                     f"{c['complainant_phone']}", className="s gw-cc-complainant"),
            html.Div((c.get("description") or "")[:80], className="s"),
            html.Div([_link(t(verb, lang), "/console/complaints", lang)], className="gw-duty")],
            className="gw-item gw-cc-row", id=f"con-cc-cmp-{c['id']}", **{"data-state": c["state"]}))
    block("complaints", cmp_rows)

    case_rows = []
    for k in data["cases"]:
        verb = "cc_handle" if k["_held"] and k["state"] in ("clue", "verified", "filed") else "cc_view"
        case_rows.append(html.Div([
            html.Div(f"{k['id']} · {code('kstate', k['state'], lang)}", className="t"),
            html.Div(f"{_when(k['opened_at'], tz)} · {(k.get('summary') or '')[:60]}", className="s"),
            html.Div([_link(t(verb, lang), "/console/complaints", lang)], className="gw-duty")],
            className="gw-item gw-cc-row", id=f"con-cc-case-{k['id']}", **{"data-state": k["state"]}))
    block("cases", case_rows)
    return blocks


def register(app, ctx, session_user) -> None:
    @app.callback(Output("con-casework", "children"), Input("con-point", "data"), State("con-lang", "data"),
                  prevent_initial_call=True)
    def show(point, lang):
        lang = lang or "zh"
        user = session_user(ctx)
        scope = scope_of(ctx, point)
        if user is None or scope is None:
            return [html.H3(t("cc_title", lang)), html.Div(t("cc_pick", lang), className="gw-msg")]
        data = unless_down(casework, ctx, user, scope)
        if data is None:  # the records database down: say so, the console goes on
            log.warning("console casework unavailable: the records database is down")
            return [html.H3(t("cc_title", lang)), html.Div(t("cc_unavailable", lang), className="gw-warn")]
        return render(ctx, user, scope, data, lang)

    # "show in the tasks panel": the panel filtered to the task's grid
    @app.callback(Output("con-tasks-grid", "value"), Input({"type": "con-cc-task", "id": ALL, "grid": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def show_task(clicks):
        trig = dctx.triggered_id
        return trig["grid"] or None if trig and any(clicks) else no_update

    # a coordinator's reassign: the tasks panel's picker, set to this task
    @app.callback(Output("con-tasks-pick", "value", allow_duplicate=True),
                  Input({"type": "con-cc-reassign", "id": ALL}, "n_clicks"), prevent_initial_call=True)
    def reassign(clicks):
        trig = dctx.triggered_id
        return trig["id"] if trig and any(clicks) else no_update


