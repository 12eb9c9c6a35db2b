"""`/analytics`: the statistics for the bureau's leaders and the command centre (CONTRACT.md
section 12): the seed's headline figures for the chosen period, trends by month, a choropleth
of any measure per grid (click a grid: its figures and its entities with failed inspections),
the weak spots with their reasons in words, and every table as CSV or XLSX. Plotly charts
(dcc.Graph: plotly.js served by Dash from its own package, maps without tiles); sizes in vw
so the page reads on the wall at 4K as at 1080p."""
from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import dash_leaflet as dl
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update
from fastapi import Request

from casework import stats
from dashboard.context import WebContext
from dashboard.i18n import t
from dashboard.stats_routes import STATS_ROLES, StatsService, outlines_url
from dashboard import stats_text
from dashboard.mapparts import base_layers, fn
from layers.choropleth import measure_hideout
from layers.datum import bounds_to_map
from layers.grids import bounds
from layers.palette import STATUS

log = logging.getLogger(__name__)

HEADLINE = ("inspections", "double_random", "special", "complaints", "clues", "clues_verified",
            "transferred_police", "cases_filed", "penalty_decisions", "tasks_on_time_pct", "mediation_rate")
FONT = dict(family="Noto Sans CJK SC, Noto Sans SC, sans-serif", color="#e5e7eb")
# plotly.js for the page's charts: the "basic" bundle (bar, scatter, pie: what the page draws;
# npm plotly.js-basic-dist-min, the same plotly.js version as the plotly package's full bundle),
# 1.2 MB instead of 4.8 MB, a quarter of the compiling and running before the first chart.
PLOTLY_VERSION = "4.1.1"
PLOTLY_FILE = Path(__file__).with_name("analytics_static") / "vendor" / "plotly-basic.min.js"
PLOTLY_URL = f"/static/analytics/plotly-basic.min.js?v={PLOTLY_VERSION}"
# In every page's <head> (dashboard/ui.py): on /analytics the bundle starts loading with the
# page, not after the layout has come and dcc.Graph has mounted. dcc.Graph takes `window.Plotly`
# when it is set (awaiting it: Promise.resolve) instead of loading the full bundle itself;
# plotly.js replaces window.Plotly with itself when it runs.
PLOTLY_EARLY = f"""<script>
if (location.pathname === "/analytics" && !window.Plotly) {{
  window.Plotly = new Promise(function (done, fail) {{
    var s = document.createElement("script");
    s.src = "{PLOTLY_URL}";
    s.onload = function () {{ done(window.Plotly); }};
    s.onerror = fail;
    document.head.appendChild(s);
  }});
}}
</script>"""


def install_static(server) -> None:
    """GET /static/analytics/plotly-basic.min.js: the vendored bundle, gzipped once, kept by the
    browser (its URL names the version)."""
    from dashboard.bundles import pack, packed_response

    packed = []

    @server.get("/static/analytics/plotly-basic.min.js", include_in_schema=False)
    def plotly_basic(request: Request):
        if not packed:
            packed.append(pack(PLOTLY_FILE.read_bytes()))
        return packed_response(request, packed[0], "text/javascript", "public, max-age=31536000, immutable")


def service(ctx: WebContext) -> StatsService:
    return ctx.cached("stats_service", lambda: StatsService(ctx))


def presets(tz: str) -> dict[str, tuple[str | None, str | None]]:
    today = stats.today(tz)
    return {"all": (None, None), "year": (date(today.year, 1, 1).isoformat(), today.isoformat()),
            "12m": ((today - timedelta(days=364)).isoformat(), today.isoformat())}


MEASURE, WEAK_BY = "failed_inspections", "level1"   # what the page opens on
LAYOUT_IN_THREAD = True   # dashboard/ui.py builds this page's layout (it queries) in a worker thread


def first_figures(svc: StatsService, start, end, lang: str) -> tuple:
    """The page's first content, drawn by the server into its layout (no callback round trips
    before the first paint): cards, trend, choropleth values, exports, weak spots."""
    try:
        return (*figures(svc, start, end, MEASURE, None, lang), weak_list(svc, WEAK_BY, start, end, lang))
    except Exception:  # noqa: BLE001 - the records database down: the frame, and the words why
        log.warning("/analytics: no figures", exc_info=True)
        return html.Div(t("an_unavailable", lang), className="gw-msg"), go.Figure(), {"max": 0}, [], []


def layout(ctx: WebContext, user, lang: str):
    if user.role not in STATS_ROLES:
        return html.Div(t("an_title", lang) + ": 403", className="gw-an")
    svc = service(ctx)
    start, end = presets(svc.tz)["year"]
    cards, trend, hideout, exports, weak = first_figures(svc, start, end, lang)
    measures = [{"label": t(f"m_{m}", lang), "value": m} for m in stats.MEASURES]
    return html.Div([
        dcc.Store(id="an-lang", data=lang),
        dcc.Store(id="an-width"),
        html.Header([
            html.H1(t("an_title", lang)),
            html.Div([
                html.Label(t("an_period", lang)),
                dcc.RadioItems(id="an-preset", value="year", inline=True, options=[
                    {"label": t("an_this_year", lang), "value": "year"},
                    {"label": t("an_last_12m", lang), "value": "12m"},
                    {"label": t("an_all_time", lang), "value": "all"}]),
                dcc.Input(id="an-from", type="date", value=start),
                html.Span("–"),
                dcc.Input(id="an-to", type="date", value=end),
            ], className="gw-an-period"),
            html.Div(exports, id="an-exports", className="gw-an-exports"),
        ], className="gw-an-head"),
        html.Div(cards, id="an-headline", className="gw-an-cards"),
        html.Div([
            html.Section([
                html.Div([html.H2(t("an_map", lang)),
                          dcc.Dropdown(id="an-measure", value=MEASURE, clearable=False, options=measures)],
                         className="gw-an-bar"),
                choropleth_map(ctx, hideout),
            ], className="gw-an-panel"),
            html.Section([
                html.H2(t("an_trend", lang)),
                dcc.Graph(id="an-trend", figure=trend, config={"displayModeBar": False}, className="gw-an-trend"),
                html.H2(t("an_grid_detail", lang)),
                html.Div(t("an_click_grid", lang), id="an-grid", className="gw-an-grid"),
            ], className="gw-an-panel"),
            html.Section([
                html.Div([html.H2(t("an_weak", lang)),
                          dcc.RadioItems(id="an-weak-by", value=WEAK_BY, inline=True, options=[
                              {"label": t(f"by_{b}", lang), "value": b} for b in stats.WEAK_BY])],
                         className="gw-an-bar"),
                html.Ol(weak, id="an-weak", className="gw-an-weak"),
            ], className="gw-an-panel"),
        ], className="gw-an-body"),
    ], className="gw-an", id="an-root")


def _link(path: str, params: dict, label: str) -> html.A:
    q = urlencode({k: v for k, v in params.items() if v})
    return html.A(label, href=f"{path}?{q}" if q else path, target="_blank", className="gw-an-export")


def headline_cards(s: dict, lang: str) -> list:
    kinds = s.get("inspections_by_kind", {})
    vals = {**s, "double_random": kinds.get("double_random", 0), "special": kinds.get("special", 0)}
    out = []
    for k in HEADLINE:
        v = vals.get(k)
        if k == "tasks_on_time_pct":
            text = "—" if v is None else f"{v:.1f}%"
        elif k == "mediation_rate":
            text = "—" if v is None else f"{100 * v:.1f}%"
        else:
            text = f"{int(v or 0):,}"
        out.append(html.Div([html.Div(text, className="gw-an-num"), html.Div(t(f"sum_{k}", lang), className="gw-an-lbl")],
                            className="gw-an-card", id=f"an-card-{k}"))
    return out


def font_px(width: int | None) -> int:
    """Plotly sizes text in px: as the page's --fs (0.9vw, at least 14 px). The layout's figure
    is drawn for 1920 px; FIT_FONT refits it in the browser to another width."""
    return max(14, round(0.009 * (width or 1920)))


# The window's width for later figures; the first figure's type refitted to it when the screen is
# not 1920 px wide (as font_px; no server round trip).
FIT_FONT = """function (_id, fig) {
  const w = window.innerWidth, px = Math.max(14, Math.round(0.009 * w));
  const size = fig && fig.layout && fig.layout.font && fig.layout.font.size;
  if (!size || size === px) return [w, window.dash_clientside.no_update];
  const out = JSON.parse(JSON.stringify(fig));
  out.layout.font.size = px;
  return [w, out];
}"""


def _layout_fig(fig: go.Figure, size: int = 14, **kw) -> go.Figure:
    fig.update_layout(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font={**FONT, "size": size},
                      margin=dict(l=40, r=10, t=10, b=30), **kw)
    return fig


def trend_figure(rows: list[dict], measure: str, lang: str, size: int = 14) -> go.Figure:
    fig = go.Figure(go.Bar(x=[r["key"] for r in rows], y=[r["value"] for r in rows], marker_color="#38bdf8",
                           name=t(f"m_{measure}", lang)))
    return _layout_fig(fig, size, xaxis=dict(type="category", gridcolor="#334155"), yaxis=dict(gridcolor="#334155"))


def grid_values(rows: list[dict]) -> dict[str, float]:
    """grid id -> per 1,000 entities (the value itself where the grid has no entities)."""
    return {r["key"]: (r["per_1000_entities"] if r.get("per_1000_entities") is not None else r["value"])
            for r in rows if r["key"]}


def choropleth_map(ctx: WebContext, hideout: dict | None = None) -> dl.Map:
    """Level-2 grids coloured by the measure per 1,000 entities (gridwatch.js gridStyle reads the
    values from the layer's hideout, so a new measure sends numbers, not the geometry). The
    outlines come by their own cached URL, beside the page's callbacks, not inside its layout."""
    b = ctx.cached("bounds", lambda: bounds_to_map(bounds(ctx.dataset.grids), ctx.settings.tile_datum))
    return dl.Map(id="an-leaflet", className="gw-an-map", bounds=b, viewport={"bounds": b}, zoom=10,
                  center=[(b[0][0] + b[1][0]) / 2, (b[0][1] + b[1][1]) / 2], preferCanvas=True, zoomSnap=0.25,
                  attributionControl=bool(ctx.settings.tile_url or ctx.settings.tile_dir),
                  children=base_layers(ctx) + [
                      dl.GeoJSON(id="an-grids", url=outlines_url(ctx), style=fn("gridStyle"), hideout=hideout or {"max": 0},
                                 zoomToBoundsOnClick=False),
                      dl.LayerGroup(id="an-hook", eventHandlers={"add": {"variable": "gridwatchAnalytics.attach"}})])


def weak_items(rows: list[dict], by: str, lang: str, names: dict) -> list:
    return [html.Li([html.Span(stats_text.key_name(r["key"], by, lang, names), className="gw-an-weak-key"),
                     html.Span(f" {r['score']:.2f}", className="gw-an-weak-score"),
                     html.Div(stats_text.weak_reasons(r, lang), className="gw-an-weak-why")],
                    id=f"an-weak-{r['key']}")
            for r in rows]


def grid_detail(svc: StatsService, grid: str, p: stats.Period, lang: str) -> list:
    names = svc.names()
    figures = []
    for m in stats.MEASURES:
        by = "grid" if len(grid) > 9 else "level1"
        rows = {r["key"]: r for r in svc.query(m, by, p)}
        figures.append(html.Tr([html.Td(t(f"m_{m}", lang)), html.Td(f"{rows.get(grid, {}).get('value', 0):,}")]))
    failed = svc.failed_entities(grid, p, limit=20)
    params = {"grid": grid, "from": p.start and p.start.isoformat(), "to": p.end and p.end.isoformat()}
    return [html.H3(names.get(grid, grid)), html.Table(figures, className="gw-an-table"),
            html.H3([t("an_failed_entities", lang), " ",
                     _link("/api/stats/failed_entities.csv", params, "CSV"), " ",
                     _link("/api/stats/failed_entities.xlsx", params, "XLSX")]),
            html.Ul([html.Li(f"{e['name']}（{t('an_failed_times', lang, n=e['failed'])}）") for e in failed]
                    or [html.Li(t("an_none", lang))], id="an-failed")]


def figures(svc: StatsService, start, end, measure, width, lang) -> tuple:
    """The headline cards, the trend, the choropleth's hideout and the export links of a period."""
    try:
        p = stats.period(start or None, end or None)
        stats.check(measure, None)
    except stats.StatsError as exc:
        return html.Div(str(exc), className="gw-msg"), no_update, no_update, no_update
    s = svc.summary(p)
    trend = svc.query(measure, "month", p)
    per_grid = svc.query(measure, "grid", p)
    params = {"from": start, "to": end}
    exports = [html.Span(t("an_export", lang) + "：")]
    for label, path, extra in ((t("an_title", lang), "/api/stats/summary", {}),
                               (t(f"m_{measure}", lang), "/api/stats", {"measure": measure, "by": "grid"}),
                               (t("an_trend", lang), "/api/stats", {"measure": measure, "by": "month"}),
                               (t("an_weak", lang), "/api/stats/weak", {"by": "level1"})):
        exports += [html.Span(label + " "), _link(path + ".csv", {**params, **extra}, "CSV"), " ",
                    _link(path + ".xlsx", {**params, **extra}, "XLSX"), " · "]
    return (headline_cards(s, lang), trend_figure(trend, measure, lang, font_px(width)),
            measure_hideout(grid_values(per_grid), STATUS["sos"]), exports[:-1])


def weak_list(svc: StatsService, by, start, end, lang) -> list:
    try:
        p = svc.weak_period(start or None, end or None)
    except stats.StatsError as exc:
        return [html.Li(str(exc))]
    names = svc.names() | {k: t(f"cat_{k}", lang) for k in stats_text.ENTITY_CATEGORIES}
    return weak_items(svc.weak(by, p, 8), by, lang, names)


def register(app, ctx: WebContext, session_user) -> None:
    # The callbacks are coroutines that query in a worker thread: Dash's FastAPI backend runs a
    # plain callback on the event loop, so the page's callbacks (and every bundle and request of
    # the other pages) waited for each other's queries.
    app.clientside_callback(FIT_FONT, Output("an-width", "data"), Output("an-trend", "figure", allow_duplicate=True),
                            Input("an-root", "id"), State("an-trend", "figure"), prevent_initial_call="initial_duplicate")

    @app.callback(Output("an-from", "value"), Output("an-to", "value"), Input("an-preset", "value"),
                  prevent_initial_call=True)
    def preset(value):
        a, b = presets(service(ctx).tz).get(value, (None, None))
        return a or "", b or ""

    @app.callback(Output("an-headline", "children"), Output("an-trend", "figure"), Output("an-grids", "hideout"),
                  Output("an-exports", "children"),
                  Input("an-from", "value"), Input("an-to", "value"), Input("an-measure", "value"),
                  State("an-width", "data"), State("an-lang", "data"), prevent_initial_call=True)
    async def refresh(start, end, measure, width, lang):
        user = session_user(ctx)
        if user is None or user.role not in STATS_ROLES:
            return no_update, no_update, no_update, no_update
        return await asyncio.to_thread(figures, service(ctx), start, end, measure, width, lang)

    @app.callback(Output("an-weak", "children"), Input("an-weak-by", "value"), Input("an-from", "value"),
                  Input("an-to", "value"), State("an-lang", "data"), prevent_initial_call=True)
    async def weak(by, start, end, lang):
        user = session_user(ctx)
        if user is None or user.role not in STATS_ROLES:
            return no_update
        return await asyncio.to_thread(weak_list, service(ctx), by, start, end, lang)

    @app.callback(Output("an-grid", "children"), Input("an-grids", "clickData"),
                  State("an-from", "value"), State("an-to", "value"), State("an-lang", "data"),
                  prevent_initial_call=True)
    async def click(data, start, end, lang):
        user = session_user(ctx)
        if not data or user is None or user.role not in STATS_ROLES:
            return no_update
        grid = (data.get("properties") or {}).get("id")
        if not grid:
            return no_update
        try:
            p = stats.period(start or None, end or None)
        except stats.StatsError as exc:
            return str(exc)
        return await asyncio.to_thread(grid_detail, service(ctx), grid, p, lang)
