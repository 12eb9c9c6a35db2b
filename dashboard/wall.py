"""`/`: the command-centre wall. Read-only, dark, fills the screen: KPI strip, the map, the alert
ticker and open orders with each recipient's state and the countdown to escalation. SOS and
escalations raise a flashing banner. After the first render, supervisor deltas arrive by
server-sent events (/api/live/deltas, applied by gridwatch.js outside Dash) and the panels by
Dash's WebSocket, each pushed only when it changed."""
from __future__ import annotations

import asyncio

from dash import dcc, html, set_props

from dashboard import live, stats_wall, tasks_panel, wall_casework
from dashboard.context import WebContext
from dashboard.i18n import alert_subtitle, alert_text, alert_title, duration, t
from dashboard.mapparts import city_map


def kpi_strip(k: dict, lang: str) -> list:
    def cell(key, value, cls=""):
        return html.Div([html.Div(value, className="v"), html.Div(t(key, lang), className="k")],
                        className=f"gw-kpi {cls}", id=f"kpi-{key}")

    ack = k.get("median_ack_s")
    return [
        html.Div([t("title", lang), html.Small(k.get("clock", ""))], className="gw-title"),
        cell("live", k.get("live", 0), "live"),
        cell("stale", k.get("stale", 0), "stale"),
        cell("offline", k.get("offline", 0), "offline"),
        cell("on_duty", k.get("on_duty", 0)),
        cell("open_orders", k.get("open_orders", 0)),
        cell("median_ack", "–" if ack is None else duration(round(ack), lang)),
        cell("open_alerts", k.get("open_alerts", 0), "alert" if k.get("open_alerts") else ""),
        cell("uncovered", "–" if k.get("uncovered_pct") is None else f"{k['uncovered_pct']:.1f}%"),
    ]


def alert_items(alerts: list[dict], lang: str) -> list:
    if not alerts:
        return [html.Div(t("no_alerts", lang), className="gw-item gw-msg")]
    return [html.Div([html.Div(alert_title(a, lang), className="t"), html.Div(alert_subtitle(a, lang), className="s")],
                     className=f"gw-item {a['kind']}", id=f"alert-{a['id']}") for a in alerts]


def order_items(orders: list[dict], lang: str) -> list:
    if not orders:
        return [html.Div(t("no_orders", lang), className="gw-item gw-msg")]
    out = []
    for o in orders:
        countdown = (html.Span(t("seconds", lang, v=f"{o['escalates_in_s']:.0f}"), className="gw-countdown")
                     if o.get("escalates_in_s") is not None else None)
        out.append(html.Div([
            countdown,
            html.Div(o["title"], className="t"),
            html.Div(o["subtitle"], className="s"),
            html.Div([html.Span(f"{r['name']} · {t('state_' + r['state'], lang)}", className=f"gw-rcpt {r['state']}" + (" engaged" if r["engaged"] else ""),
                                id=f"rcpt-{o['id']}-{r['device']}") for r in o["recipients"]]),
        ], className=f"gw-item {o.get('kind', '')}", id=f"order-{o['id']}"))
    return out


def banner(panels: dict, lang: str) -> tuple[str, str]:
    sos = [a for a in panels["alerts"] if a["kind"] == "sos"]
    esc = [a for a in panels["alerts"] if a["kind"] == "escalation"]
    if sos:
        return f"⚠ {t('sos_banner', lang)}: " + "；".join(a["who"] for a in sos[:3]), "gw-banner gw-on"
    if esc:
        return f"⚠ {t('escalation_banner', lang)}: " + "；".join(alert_text(a, lang) for a in esc[:3]), "gw-banner gw-on"
    return "", "gw-banner"


def legend(ctx: WebContext, lang: str):
    """What the map's colours and marks mean, for a duty officer arriving for a shift. The
    swatches are drawn by gridwatch.js with the markers' own style functions (one rule for
    both); the words and thresholds come from here."""
    s = ctx.settings
    return html.Div([
        html.B(t("legend", lang)),
        html.Div(id="wall-legend-items", **{"data-stale": duration(s.stale_s, lang),
                                             "data-offline": duration(s.offline_s, lang)}),
    ], id="wall-legend", className="gw-legend")


def layout(ctx: WebContext, user, lang: str):
    panels = ctx.hub.recent_panels() or live.panels(ctx)  # an open page keeps the hub's fresh
    text, cls = banner(panels, lang)
    return html.Div([
        dcc.Store(id="wall-lang", data=lang),
        html.Div(text, id="wall-banner", className=cls),
        # the sound switch sits beside the KPIs, never over them
        html.Div([
            html.Div(kpi_strip(panels["kpis"], lang), id="wall-kpis", className="gw-kpis"),
            html.Button(t("sound_short", lang), id="wall-sound", className="gw-sound", title=t("sound", lang),
                        **{"aria-pressed": "false"}),
            stats_wall.component(lang),
        ], className="gw-kpibar"),
        # the casework layers are overlays of the map's layers control like the others
        city_map(ctx, "wall", overlays=[tasks_panel.overlay("wall"), *wall_casework.overlays("wall"),
                                        stats_wall.weak_overlay("wall")]),
        legend(ctx, lang),
        html.Div([
            html.H2(t("alerts", lang)), html.Div(alert_items(panels["alerts"], lang), id="wall-alerts", className="gw-list"),
            html.H2(t("orders", lang)), html.Div(order_items(panels["orders"], lang), id="wall-order-list", className="gw-list"),
            tasks_panel.section(ctx, user, lang, "wall", tag=html.Div),
        ], className="gw-side"),
    ], className="gw-wall")




async def stream(ctx: WebContext, user, lang: str, alive=lambda: True) -> None:
    """Pushes to one open wall until its WebSocket closes."""
    set_props("wall-orders", {"data": await asyncio.to_thread(live.orders_layer, ctx)})
    page = live.Changes()
    async for kind, payload in live.follow(ctx, alive):
        if kind == "delta":
            continue  # deltas reach the map by /api/live/deltas, outside Dash
        if kind == "coverage":
            page.set("wall-coverage", payload, lambda p: {"data": p["fc"]})
        else:  # the panels, about once a second, or at once on an order/alert change
            page.set("wall-banner", banner(payload, lang), lambda b: {"children": b[0], "className": b[1]})
            page.set("wall-kpis", payload["kpis"], lambda k: {"children": kpi_strip(k, lang)})
            page.set("wall-alerts", payload["alerts"], lambda a: {"children": alert_items(a, lang)})
            page.set("wall-order-list", payload["orders"], lambda o: {"children": order_items(o, lang)})
            page.set("wall-orders", payload["orders_layer"], lambda d: {"data": d})
