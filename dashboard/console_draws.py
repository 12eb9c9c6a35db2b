"""`/console/draws`: the double-random draws in the console. Make a draw (the same path as
`POST /api/draws`: dashboard/draw_routes.make_draw), follow its picks to completion (each
pick's task and inspection), publish it; the page warns as the 20-working-day publication
limit nears, counted in working days by the State Council's schedule (casework/workdays.py:
statutory holidays and adjusted working days; provisional through a year with no schedule)."""
from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from dash import Input, Output, State, dcc, html, no_update
from fastapi import HTTPException

from alerts.errors import AlertsError
from casework import draw_store as S
from dashboard.i18n import t

WARN_WORKING_DAYS = 5
RESULT_KEYS = {"pass": "draw_result_pass", "fail": "draw_result_fail", "rectify": "draw_result_rectify"}


def _options(ctx, lang: str) -> dict:
    with ctx.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, name FROM checklists ORDER BY id")
        checklists = [{"label": f"{r['name']} ({r['id']})", "value": r["id"]} for r in cur.fetchall()]
        cur.execute("SELECT DISTINCT category FROM entities WHERE active AND category <> '' ORDER BY 1")
        cats = [{"label": r["category"], "value": r["category"]} for r in cur.fetchall()]
        draws = S.list_draws(conn, 200)
    g = ctx.dataset.grids
    l1 = g[g["level"] == 1]
    grids = [{"label": f"{n} ({i})", "value": i} for i, n in zip(l1["id"], l1["name"])]
    return {"checklists": checklists, "categories": cats, "grids": grids, "draws": draw_options(draws)}


def draw_options(draws: list[dict]) -> list[dict]:
    return [{"label": f"{d['name']} · {d['id']} · {d['count']}" + (" ✓" if d["published_at"] else ""),
             "value": d["id"]} for d in draws]


def layout(ctx, user, lang: str):
    o = _options(ctx, lang)
    form = html.Section([
        html.H3(t("draw_new", lang)),
        dcc.Input(id="drw-name", placeholder=t("draw_name", lang)),
        dcc.Dropdown(id="drw-checklist", options=o["checklists"], placeholder=t("draw_checklist", lang)),
        dcc.Dropdown(id="drw-categories", options=o["categories"], multi=True, placeholder=t("draw_categories", lang)),
        dcc.Dropdown(id="drw-grids", options=o["grids"], multi=True, placeholder=t("draw_grids", lang)),
        html.Div([html.Label(t("draw_ratio", lang)), dcc.Input(id="drw-ratio", type="number", value=0.03, step=0.01),
                  html.Label(t("draw_count", lang)), dcc.Input(id="drw-count", type="number", min=1),
                  html.Label(t("draw_per_entity", lang)), dcc.Input(id="drw-per", type="number", value=2, min=2)],
                 className="gw-duty"),
        dcc.Input(id="drw-seed", placeholder=t("draw_seed", lang)),
        dcc.Dropdown(id="drw-replaces", options=o["draws"], placeholder=t("draw_replaces", lang)),
        dcc.Input(id="drw-reason", placeholder=t("draw_reason", lang)),
        html.Button(t("draw_go", lang), id="drw-go", disabled=not user.can_order),
        html.Div("" if user.can_order else t("not_allowed", lang), id="drw-msg", className="gw-msg"),
    ])
    return html.Div([
        dcc.Store(id="drw-lang", data=lang),
        dcc.Interval(id="drw-tick", interval=15_000),
        html.Div([html.A(t("draw_back", lang), href="/console" + ("?lang=en" if lang == "en" else "")),
                  html.H2(t("draw_page", lang))]),
        form,
        html.Section([
            html.H3(t("draw_list", lang)),
            dcc.Dropdown(id="drw-pick", options=o["draws"], value=o["draws"][0]["value"] if o["draws"] else None),
            html.Div(id="drw-detail"),
            html.Button(t("draw_publish", lang), id="drw-publish", disabled=not user.can_order),
            html.Div(id="drw-publish-msg", className="gw-msg"),
        ]),
    ], className="gw-panel gw-draws")


def _in_thread(fn, *args) -> None:
    threading.Thread(target=fn, args=args, name="draw-tasks", daemon=True).start()


def _error(exc, lang: str) -> str:
    if isinstance(exc, AlertsError):
        field = exc.detail.get("field")
        return "✗ " + (f"{field}: " if field else "") + exc.message
    return "✗ " + str(getattr(exc, "detail", exc))


def detail(ctx, draw_id: str, lang: str, today=None):
    """The draw's header (counts, progress, the publication limit) and its picks."""
    tz = ZoneInfo(ctx.settings.tz)
    with ctx.db.connection() as conn:
        d = S.get(conn, draw_id, tz=ctx.settings.tz)
        today = today or datetime.now(tz).date()
        with conn.cursor() as cur:
            cur.execute("SELECT uscc, name FROM entities WHERE uscc = ANY(%s)", ([p["uscc"] for p in d["picks"]],))
            names = {r["uscc"]: r["name"] for r in cur.fetchall()}
            cal = S.calendar_between(cur, today, d["publish_by"])
    done = sum(1 for p in d["picks"] if p.get("result"))
    total = len(d["picks"])
    warn = None
    if d["published_at"] is None:
        left = S.working_days_between(cal, today, d["publish_by"])
        if left < 0:
            warn = t("draw_overdue", lang, date=d["publish_by"].isoformat())
        elif left <= WARN_WORKING_DAYS:
            warn = t("draw_due_soon", lang, n=left, date=d["publish_by"].isoformat())
    people = ctx.person_names
    head = [html.Div(t("draw_progress", lang, done=done, total=total), id="drw-progress",
                     **{"data-done": done, "data-total": total}),
            html.Div(t("draw_summary", lang, population=d["population_size"], risk=d["risk_population"],
                       picks=total, risk_picks=d["risk_picks"], pool=d["inspector_pool_size"], seed=d["seed"]),
                     className="gw-msg"),
            html.Div(t("draw_published", lang, date=d["published_at"].astimezone(tz).date().isoformat())
                     if d["published_at"] else t("draw_publish_by", lang, date=d["publish_by"].isoformat())
                     + (t("draw_publish_provisional", lang) if d["publish_by_provisional"] else ""),
                     className="gw-msg", id="drw-publish-by")]
    if d["tasks_pending"]:
        head.append(html.Div(t("draw_tasks_pending", lang), className="gw-msg", id="drw-tasks-pending"))
    if d["published_at"]:
        head.append(html.A(t("draw_public_link", lang), href=f"/public/draws/{d['id']}", target="_blank"))
    if warn:
        head.append(html.Div(warn, className="gw-warn", id="drw-warn"))
    if d.get("replaces") or d.get("replaced_by"):
        head.append(html.Div(" · ".join(x for x in (
            t("draw_public_replaces", lang) + d["replaces"] if d.get("replaces") else "",
            t("draw_public_replaced_by", lang) + d["replaced_by"] if d.get("replaced_by") else "") if x),
            className="gw-warn"))
    shown = d["picks"][:500]
    table = html.Table([html.Tr([html.Th("#"), html.Th(t("draw_public_entity", lang)), html.Th(t("draw_inspectors", lang)),
                                 html.Th(t("draw_task", lang)), html.Th(t("draw_public_result", lang))])] + [
        html.Tr([html.Td(i), html.Td(f"{names.get(p['uscc'], '')} {p['uscc']}"),
                 html.Td("、".join(people.get(x, x) for x in p["inspectors"])),
                 html.Td(f"{p.get('task') or ''} · {p.get('task_state') or ''}"),
                 html.Td(t(RESULT_KEYS[p["result"]], lang) if p.get("result") in RESULT_KEYS else t("draw_result_open", lang))])
        for i, p in enumerate(shown, start=1)], className="gw-table")
    more = [html.Div(t("draw_more", lang, n=total - len(shown)), className="gw-msg")] if total > len(shown) else []
    return html.Div(head + [table] + more)


def register(app, ctx, session_user) -> None:
    @app.callback(Output("drw-msg", "children"), Output("drw-pick", "options"), Output("drw-pick", "value"),
                  Input("drw-go", "n_clicks"),
                  State("drw-name", "value"), State("drw-checklist", "value"), State("drw-categories", "value"),
                  State("drw-grids", "value"), State("drw-ratio", "value"), State("drw-count", "value"),
                  State("drw-per", "value"), State("drw-seed", "value"), State("drw-replaces", "value"),
                  State("drw-reason", "value"), State("drw-lang", "data"), prevent_initial_call=True)
    def make(_n, name, checklist, cats, grids, ratio, count, per, seed, replaces, reason, lang):
        from dashboard.draw_routes import make_draw

        user = session_user(ctx)
        if user is None or not user.can_order:
            return t("not_allowed", lang), no_update, no_update
        body = {"name": name, "checklist": checklist, "population": {"categories": cats or [], "grids": grids or []},
                "per_entity": per if per is not None else 2, "seed": seed or None,
                "replaces": replaces or None, "reason": reason or None}
        if count:
            body["count"] = count
        else:
            body["ratio"] = ratio
        try:
            # the tasks (thousands for a city-wide draw) are made after the answer, in a thread;
            # a crash meanwhile leaves them to the dispatcher's repair (draw_store.make_pending)
            d = make_draw(ctx, user, body, send=_in_thread)
        except (AlertsError, HTTPException) as exc:
            return _error(exc, lang), no_update, no_update
        with ctx.db.connection() as conn:
            opts = draw_options(S.list_draws(conn, 200))
        return (html.Span(t("draw_made", lang, id=d["id"], n=len(d["picks"])), id="drw-made",
                          **{"data-draw": d["id"]}), opts, d["id"])

    @app.callback(Output("drw-detail", "children"), Input("drw-pick", "value"), Input("drw-tick", "n_intervals"),
                  Input("drw-publish-msg", "children"), State("drw-lang", "data"))
    def show(draw_id, _tick, _published, lang):
        if not draw_id or session_user(ctx) is None:
            return ""
        try:
            return detail(ctx, draw_id, lang)
        except AlertsError as exc:
            return _error(exc, lang)

    @app.callback(Output("drw-publish-msg", "children"), Input("drw-publish", "n_clicks"), State("drw-pick", "value"),
                  State("drw-lang", "data"), prevent_initial_call=True)
    def publish(_n, draw_id, lang):
        user = session_user(ctx)
        if user is None or not user.can_order:
            return t("not_allowed", lang)
        if not draw_id:
            return "✗ " + t("draw_none", lang)
        try:
            with ctx.db.connection() as conn:
                d = S.publish(conn, draw_id, f"user:{user.name}")
        except AlertsError as exc:
            return _error(exc, lang)
        return t("draw_done_publish", lang, id=d["id"], hash=d["hash"][:12])
