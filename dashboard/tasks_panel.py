"""Open tasks on the console and the wall (CONTRACT.md section 8): a map layer (overdue ones
flashing, drawn by gridwatch_tasks.js) and a panel, overdue first and counted in its heading,
filterable by category and grid; on the console a coordinator (or admin) picks a task and takes
a manager's step on it: reassign, verify, close, reject (outside remit, unfounded, or merged as a
duplicate of another task).
The data come from casework/task_store.py with the caller's visibility, every few seconds."""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import dash_leaflet as dl
import orjson
from dash import ALL, Input, Output, State, ctx as dctx, dcc, html, no_update

from alerts.errors import AlertsError
from casework import task_store as S
from casework import tasks as T
from dashboard.i18n import error_text, t
from dashboard.mapparts import EMPTY
from gridwatch.db import unless_down

log = logging.getLogger(__name__)

REFRESH_MS = 5000
PANEL_MAX = 200
REASSIGN_ROLES = ("coordinator", "admin")
# the states a manager acts on from the console, and the steps each allows (casework/tasks.py)
STEPS_OF = {state: tuple(a for a in ("reassign", "verify", "close", "reject") if state in T.TRANSITIONS[a].sources)
            for state in T.STATES}
PICKABLE = tuple(s for s, steps in STEPS_OF.items() if steps)


def configured(ctx) -> bool:
    """Tasks live in the records database: without one the pages show no tasks part."""
    try:
        ctx.settings.db_url()
    except RuntimeError:
        return False
    return True


def viewer_of(ctx, user) -> S.Viewer:
    """The store's Viewer for a page's user (a supervisor with his grids), as the API builds it."""
    grids: tuple[str, ...] = ()
    if user.role == "supervisor" and user.person:
        p = ctx.registry.person(user.person)
        grids = tuple(p.grids) if p else ()
    return S.Viewer(user.name, user.role, user.person, grids)


def category_names(ctx) -> dict[str, str]:
    def build():
        with ctx.db.connection() as conn, conn.cursor() as cur:
            return {c["code"]: c["name"] for c in S.categories(cur)}
    return ctx.cached("task-category-names", build)


def compact(ctx, task: dict, now: datetime) -> dict:
    """What a page needs of a task (JSON-ready; times as ISO 8601 with offset)."""
    tz = ZoneInfo(ctx.settings.tz)
    names = category_names(ctx)
    assignee = ctx.registry.person(task["assignee"]) if task.get("assignee") else None
    return {"id": task["id"], "state": task["state"], "category": task["category"],
            "category_name": names.get(task["category"], task["category"]),
            "description": task.get("description") or "", "address": task.get("address") or "",
            "feedback": task.get("feedback") or "",
            "lat": task["lat"], "lon": task["lon"], "grid": task.get("grid"), "level1": task.get("level1"),
            "grid_name": ctx.grid_names.get(task.get("grid") or "", task.get("grid") or ""),
            "assignee": task.get("assignee"), "assignee_name": assignee.name if assignee else "",
            "deadline": task["deadline"].astimezone(tz).isoformat(),
            "reported_at": task["reported_at"].astimezone(tz).isoformat(),
            "overdue": T.overdue(task["state"], task["deadline"], now)}


def open_tasks(ctx, user, category: str | None = None, grid: str | None = None, assignee: str | None = None,
               member: str | None = None, limit: int = PANEL_MAX) -> list[dict]:
    """The open tasks the user may see: overdue first, then by deadline (`member`: those of a
    draw's team he is in without being its assignee)."""
    from datetime import timezone

    now = datetime.now(timezone.utc)
    with ctx.db.connection() as conn:
        rows = S.list_tasks(conn, viewer_of(ctx, user), status="open", category=category or None,
                            grid=grid or None, assignee=assignee, member=member, limit=limit, now=now)
    out = [compact(ctx, r, now) for r in rows]
    out.sort(key=lambda x: (not x["overdue"], x["deadline"]))
    return out


def tasks_geojson(ctx, tasks: list[dict]) -> dict:
    return ctx.to_map({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x["lon"], x["lat"]]},
         "properties": {"id": x["id"], "overdue": x["overdue"], "state": x["state"],
                        "title": f"{x['category_name']} · {x['grid_name']}"}} for x in tasks]})


# -- the layer and the panel ----------------------------------------------------------------------

def layer(prefix: str):
    """The map's tasks layer (a marker per open task; gridwatch_tasks.js draws them as DOM icons so
    an overdue one can flash on the canvas-rendered map)."""
    return dl.GeoJSON(id=f"{prefix}-tasks", data=EMPTY, pointToLayer={"variable": "gridwatchTasks.marker"},
                      onEachFeature={"variable": "gridwatchTasks.tooltip"})


TASKS_LAYER = "待办事件 open tasks"   # its name in the layers control


def overlay(prefix: str):
    """The tasks layer as an overlay of the map's layers control, on at first."""
    return dl.Overlay(layer(prefix), name=TASKS_LAYER, checked=True)


def _filters(ctx, prefix: str, lang: str):
    g = ctx.dataset.grids
    grids = [{"label": f"{'▪' if lv == 1 else '·'} {n}", "value": i}
             for i, n, lv in sorted(zip(g["id"], g["name"], g["level"]), key=lambda r: r[0])]
    cats = [{"label": n, "value": c} for c, n in category_names(ctx).items()]
    return html.Div([
        dcc.Dropdown(id=f"{prefix}-tasks-category", options=cats, placeholder=t("tk_all_categories", lang)),
        dcc.Dropdown(id=f"{prefix}-tasks-grid", options=grids, placeholder=t("tk_all_grids", lang)),
    ], className="gw-duty gw-tasks-filters")


def section(ctx, user, lang: str, prefix: str, tag=html.Section):
    """The panel: heading with the overdue count, filters, the list, (console) the reassign bar."""
    if not configured(ctx):
        return None
    can = user.role in REASSIGN_ROLES and prefix == "con"
    head = html.Div([html.Span(t("tk_open_tasks", lang)), " ",
                     html.Span(id=f"{prefix}-tasks-overdue", className="gw-tasks-overdue")],
                    className="gw-tasks-head")
    parts = [dcc.Interval(id=f"{prefix}-tasks-tick", interval=REFRESH_MS), dcc.Store(id=f"{prefix}-tasks-lang", data=lang),
             html.H3(head) if prefix == "con" else html.H2(head), _filters(ctx, prefix, lang)]
    if can:
        parts.append(html.Div([
            dcc.Dropdown(id="con-tasks-pick", placeholder=t("tk_tasks", lang)),
            dcc.Dropdown(id="con-tasks-to", placeholder=t("tk_reassign_to", lang)),
            html.Button(t("tk_reassign", lang), id="con-tasks-reassign", className="secondary"),
            html.Div([
                html.Button(t("tk_verify", lang), id="con-tasks-verify", className="secondary"),
                html.Button(t("tk_close", lang), id="con-tasks-close", className="secondary"),
                dcc.Dropdown(id="con-tasks-reason", placeholder=t("tk_reject_reason", lang),
                             options=[{"label": t(f"tk_why_{r}", lang), "value": r} for r in T.REJECT_REASONS]),
                dcc.Input(id="con-tasks-dup", type="text", placeholder=t("tk_duplicate_of", lang), debounce=False),
                html.Button(t("tk_reject", lang), id="con-tasks-reject", className="secondary"),
            ], className="gw-tasks-steps"),
            html.Div(id="con-tasks-msg", className="gw-msg"),
        ], className="gw-tasks-reassign"))
    parts.append(html.Div(id=f"{prefix}-tasks-list", className="gw-list gw-tasks-list"))
    return tag(parts, id=f"{prefix}-tasks-panel", className="gw-tasks")


def items(tasks: list[dict], lang: str, can_reassign: bool):
    if not tasks:
        return [html.Div(t("tk_none", lang), className="gw-item gw-msg")]
    out = []
    for x in tasks:
        cls = "gw-item gw-task" + (" gw-task-overdue" if x["overdue"] else "")
        line = f"{x['grid_name']} · {t('tk_assignee', lang)} {x['assignee_name'] or '–'} · {t('tk_state_' + x['state'], lang)}"
        out.append(html.Div([
            html.Span(className="gw-task-countdown", **{"data-deadline": x["deadline"]}),
            html.Div(f"{x['category_name']} · {x['id']}", className="t"),
            html.Div(line, className="s"),
            html.Div((x["address"] or x["description"])[:80], className="s"),
            html.Button(t("tk_pick", lang), id={"type": "con-task-pick", "id": x["id"]}, className="secondary")
            if can_reassign and x["state"] in PICKABLE else None,
        ], className=cls, id=f"task-{x['id']}", **{"data-overdue": "1" if x["overdue"] else "0"}))
    return out


def likely_duplicate(ctx, task: dict) -> str | None:
    """The earlier open task this one may repeat (the report's own duplicate rule: same category,
    within 100 m, reported in the 24 h before it), for a merge as `duplicate_of`."""
    with ctx.db.connection() as conn, conn.cursor() as cur:
        found = S.find_duplicate(cur, task["category"], task["lat"], task["lon"], task["reported_at"])
    return found if found and found != task["id"] else None


def candidates(ctx, task: dict) -> list[dict]:
    """Whom a task may go to: the supervisors holding its level-2 grid or its level-1 grid first,
    then the others (a coordinator may send it anywhere)."""
    near = {task.get("grid"), task.get("level1")}
    sups = [p for p in ctx.registry.people() if p.role in ("l1_supervisor", "l2_supervisor")]
    sups.sort(key=lambda p: (not (near & set(p.grids)), p.id))
    return [{"label": f"{p.name}（{ctx.grid_names.get(p.grids[0], '') if p.grids else ''}）", "value": p.id}
            for p in sups if p.id != task.get("assignee")]


def register(app, ctx, session_user) -> None:
    for prefix in ("wall", "con"):
        @app.callback(Output(f"{prefix}-tasks-list", "children"), Output(f"{prefix}-tasks", "data"),
                      Output(f"{prefix}-tasks-overdue", "children"), Output(f"{prefix}-tasks-overdue", "className"),
                      Input(f"{prefix}-tasks-tick", "n_intervals"), Input(f"{prefix}-tasks-category", "value"),
                      Input(f"{prefix}-tasks-grid", "value"), State(f"{prefix}-tasks-lang", "data"),
                      State(f"{prefix}-tasks", "data"))
        def refresh(_n, category, grid, lang, shown, prefix=prefix):
            user = session_user(ctx)
            if user is None:
                return no_update, no_update, no_update, no_update
            tasks = unless_down(open_tasks, ctx, user, category, grid)
            if tasks is None:  # the records database down: the wall keeps its last list
                log.warning("open tasks unavailable: the records database is down")
                return no_update, no_update, no_update, no_update
            # nothing changed since the last tick: the page redraws nothing (the countdowns run in
            # the browser); a wall ticks every few seconds for weeks
            version = hashlib.sha256(orjson.dumps([category, grid, tasks], default=str)).hexdigest()[:16]
            if (shown or {}).get("version") == version:
                return no_update, no_update, no_update, no_update
            n = sum(x["overdue"] for x in tasks)
            can = prefix == "con" and user.role in REASSIGN_ROLES
            return (items(tasks, lang, can), {**tasks_geojson(ctx, tasks), "version": version},
                    t("tk_overdue_n", lang, n=n) if n else "", "gw-tasks-overdue" + (" gw-on" if n else ""))

    @app.callback(Output("con-tasks-pick", "options"), Input("con-tasks-tick", "n_intervals"),
                  State("con-tasks-lang", "data"))
    def pick_options(_n, lang):
        user = session_user(ctx)
        if user is None or user.role not in REASSIGN_ROLES:
            return no_update
        return [{"label": f"{x['id']} · {x['category_name']} · {x['grid_name']}", "value": x["id"]}
                for x in open_tasks(ctx, user) if x["state"] in PICKABLE]

    @app.callback(Output("con-tasks-pick", "value"), Input({"type": "con-task-pick", "id": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def picked(clicks):
        return dctx.triggered_id["id"] if dctx.triggered_id and any(clicks) else no_update

    step_buttons = ("reassign", "verify", "close", "reject")

    @app.callback(Output("con-tasks-to", "options"), Output("con-tasks-to", "value"), Output("con-tasks-dup", "value"),
                  *[Output(f"con-tasks-{a}", "disabled") for a in step_buttons],
                  Input("con-tasks-pick", "value"), Input("con-tasks-msg", "children"))
    def to_options(task_id, _msg):
        # only the steps the picked task's state allows are offered; a likely duplicate is proposed
        none = ([], None, "", *[True] * len(step_buttons))
        user = session_user(ctx)
        if not task_id or user is None:
            return none
        try:
            with ctx.db.connection() as conn:
                task = S.get(conn, task_id, viewer_of(ctx, user))
        except AlertsError:
            return none
        allowed = STEPS_OF.get(task["state"], ())
        disabled = [a not in allowed for a in step_buttons]
        if dctx.triggered_id == "con-tasks-msg" and "reassign" in allowed:
            return (no_update, no_update, no_update, *disabled)     # after a step: what is being chosen stays
        return (candidates(ctx, task) if "reassign" in allowed else [], None,
                (likely_duplicate(ctx, task) or "") if "reject" in allowed else "", *disabled)

    @app.callback(Output("con-tasks-msg", "children"), Output("con-tasks-tick", "n_intervals"),
                  *[Input(f"con-tasks-{a}", "n_clicks") for a in step_buttons], State("con-tasks-pick", "value"),
                  State("con-tasks-to", "value"), State("con-tasks-reason", "value"), State("con-tasks-dup", "value"),
                  State("con-tasks-lang", "data"), State("con-tasks-tick", "n_intervals"),
                  prevent_initial_call=True)
    def step(_r, _v, _c, _j, task_id, person, reason, dup, lang, n):
        user = session_user(ctx)
        action = (dctx.triggered_id or "").removeprefix("con-tasks-")
        if action not in step_buttons:
            return no_update, no_update
        if user is None or user.role not in REASSIGN_ROLES:
            return "✗ " + t("err_forbidden", lang), no_update
        if not task_id:
            return "✗ " + t("tk_pick_first", lang), no_update
        if action == "reassign":
            if not person:
                return "✗ " + t("tk_reassign_to", lang), no_update
            return reassign_task(ctx, user, task_id, person, lang), (n or 0) + 1
        if action == "reject" and not reason:
            return "✗ " + t("tk_reject_reason", lang), no_update
        fields = {"reason": reason, "duplicate_of": (dup or "").strip() or None} if action == "reject" else {}
        return act_task(ctx, user, task_id, action, lang, **fields), (n or 0) + 1


def act_task(ctx, user, task_id: str, action: str, lang: str, **fields) -> str:
    """A manager's step from the console, the same as POST /api/tasks/{id}/{action} (audit in the
    step's transaction, the assignee's downlink when it hands the task on, the answered alert
    cleared); returns the line the page shows."""
    from casework.task_escalation import clear_answered
    from dashboard.task_routes import level1_supervisor_of, notify_assignee

    try:
        with ctx.db.connection() as conn:
            task = S.act(conn, task_id, action, viewer_of(ctx, user),
                         level1_supervisor=lambda row: level1_supervisor_of(ctx, row), **fields)
    except AlertsError as exc:
        return error_text(exc, lang)
    if action in T.ASSIGNING:
        notify_assignee(ctx, task, category_names(ctx).get(task["category"], task["category"]))
    clear_answered(ctx.alerts, task_id, action, f"user:{user.name}")
    if action == "reassign":
        p = ctx.registry.person(fields["assignee"])
        return t("tk_reassigned", lang, id=task_id, who=p.name if p else fields["assignee"])
    return t("tk_stepped", lang, id=task_id, act=t(f"tk_act_{action}", lang))


def reassign_task(ctx, user, task_id: str, person: str, lang: str) -> str:
    """The console's reassign: the same step as POST /api/tasks/{id}/reassign (audit, the new
    assignee's downlink, the not-accepted alert cleared)."""
    return act_task(ctx, user, task_id, "reassign", lang, assignee=person)
