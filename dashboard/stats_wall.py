"""The wall's casework strip (issue 18): the seed's figures (inspections since 2018 and this
year, complaints, case clues, transfers to the police, cases filed, penalty decisions, this
year) beside today's (open tasks and overdue ones, complaints awaiting acceptance, inspections
today). Refreshed every minute from the statistics' rollups and a few indexed counts; without
a records database the cells say "–". The weak-spot choropleth (the level-2 grids coloured by
their casework.stats.weak score) is an overlay of the map's layers control: its outlines are
the level-2 layer's (one download, kept by the browser), scored only once it is switched on."""
from __future__ import annotations

from datetime import date

import dash_leaflet as dl
from dash import Input, Output, State, dcc, html, no_update

from casework import stats
from dashboard.i18n import t
from dashboard.mapparts import fn
from gridwatch.db import unless_down
from layers.palette import WEAK

REFRESH_MS = 60_000
WEAK_LAYER = "薄弱环节 weak spots"   # its name in the layers control
TODAY_SQL = """
SELECT (SELECT count(*) FROM tasks WHERE state NOT IN ('closed', 'rejected')) AS open_tasks,
       (SELECT count(*) FROM tasks WHERE state NOT IN ('handled', 'verified', 'closed', 'rejected')
                                     AND handled_at IS NULL AND deadline < now()) AS overdue_tasks,
       (SELECT count(*) FROM complaints WHERE state = 'received') AS complaints_waiting,
       (SELECT count(*) FROM inspections WHERE started_at >= (%(d)s::timestamp AT TIME ZONE %(tz)s)) AS inspections_today
"""
CELLS = ("cw_open_tasks", "cw_overdue_tasks", "cw_complaints_waiting", "cw_inspections_today",
         "sum_since_2018", "sum_this_year", "cw_complaints_year", "cw_clues_year", "cw_police_year",
         "cw_filed_year", "cw_penalties_year")


def strip(values: dict | None, lang: str) -> list:
    values = values or {}

    def cell(key):
        v = values.get(key)
        cls = "alert" if key == "cw_overdue_tasks" and v else ""
        return html.Div([html.Div("–" if v is None else f"{v:,}", className="v"), html.Div(t(key, lang), className="k")],
                        className=f"gw-kpi {cls}", id=f"kpi-{key}")
    return [cell(k) for k in CELLS]


def figures(ctx) -> dict:
    from casework.stats import Period

    tz = ctx.settings.tz
    today = stats.today(tz)
    with ctx.db.connection() as conn, conn.cursor() as cur:
        cur.execute(TODAY_SQL, {"d": today, "tz": tz})
        now = cur.fetchone()
        all_time = stats.summary(cur, Period(None, None), tz)
        year = stats.summary(cur, Period(date(today.year, 1, 1), today), tz)
    return {"cw_open_tasks": now["open_tasks"], "cw_overdue_tasks": now["overdue_tasks"],
            "cw_complaints_waiting": now["complaints_waiting"], "cw_inspections_today": now["inspections_today"],
            "sum_since_2018": all_time["inspections"], "sum_this_year": year["inspections"],
            "cw_complaints_year": year["complaints"], "cw_clues_year": year["clues"],
            "cw_police_year": year["transferred_police"], "cw_filed_year": year["cases_filed"],
            "cw_penalties_year": year["penalty_decisions"]}


def component(lang: str):
    return html.Div([html.Div(strip(None, lang), id="wall-casework", className="gw-kpis gw-casework"),
                     dcc.Interval(id="wall-casework-tick", interval=REFRESH_MS)], className="gw-casework-row")


def weak_overlay(prefix: str):
    """The weak-spot choropleth for the map's layers control, off at first and empty until then."""
    return dl.Overlay(dl.GeoJSON(id=f"{prefix}-weak", style=fn("gridStyle"), hideout={"max": 0}, interactive=False),
                      name=WEAK_LAYER, checked=False)


def weak_hideout(ctx, period=None) -> dict:
    """The level-2 grids' weak-spot scores (the last three years against the three before) as
    the grid layer's hideout: how far each is above the expected (score - 1, at least 0)."""
    from casework.stats import default_weak_period, weak
    from layers.choropleth import measure_hideout

    with ctx.db.connection() as conn, conn.cursor() as cur:
        rows = weak(cur, "grid", period or default_weak_period(stats.today(ctx.settings.tz)), top=10_000)
    return measure_hideout({r["key"]: round(max(0.0, r["score"] - 1.0), 3) for r in rows}, WEAK)


def register(app, ctx, session_user) -> None:
    @app.callback(Output("wall-casework", "children"), Input("wall-casework-tick", "n_intervals"),
                  State("wall-lang", "data"))
    def refresh(_n, lang):
        user = session_user(ctx)
        if user is None:
            return strip(None, lang or "zh")
        # no records database (or it is down): the cells say "–"
        return strip(unless_down(figures, ctx), lang or "zh")

    from dashboard.stats_routes import outlines_url

    @app.callback(Output("wall-weak", "url"), Output("wall-weak", "hideout"), Input("wall-layers", "overlays"),
                  prevent_initial_call=True)
    def weak_layer(shown):
        # switched on (again): the scores anew; the outlines are fetched once
        if session_user(ctx) is None or WEAK_LAYER not in (shown or []):
            return no_update, no_update
        scores = unless_down(weak_hideout, ctx)   # None: no records database, no choropleth
        return (outlines_url(ctx), scores) if scores is not None else (no_update, {"max": 0})
