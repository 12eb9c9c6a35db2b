"""`/console`: the coordinators' console. Click the map or search (grid name or id, entity
credit code) -> the grid's responsible people and the k nearest eligible supervisors with
distance and freshness -> issue an order to the recipients the platform's rule picks (the
same choice as `POST /api/orders`, with each pick's reason), or to an edited list, which the
console says makes them explicit (no escalation to the next nearest) -> follow it live;
cancel or close; acknowledge alerts; replay a device's trail. A refusal says why."""
from __future__ import annotations

import time

import dash_leaflet as dl
from dash import ALL, Input, Output, State, ctx as dctx, dcc, html, no_update

from alerts.errors import AlertsError
from dashboard import console_casework, live, tasks_panel
from dashboard.context import WebContext
from dashboard.i18n import (alert_subtitle, alert_title, code, distance, error_text, note_text,
                            person_with_role, pick_reason, t)
from dashboard.mapparts import EMPTY, city_map, click_point, mapfn
from dashboard.wall import kpi_strip
from layers.choropleth import MEASURES


def layout(ctx: WebContext, user, lang: str):
    panels = ctx.hub.recent_panels() or live.panels(ctx)  # an open page keeps the hub's fresh
    can_order = user.can_order
    return html.Div([
        dcc.Store(id="con-lang", data=lang),
        dcc.Store(id="con-point"),
        dcc.Store(id="con-suggested", data=[]),
        html.Div(kpi_strip(panels["kpis"], lang), id="con-kpis", className="gw-kpis"),
        city_map(ctx, "con", entities=True, extra=[dl.LayerGroup(id="con-pick"),
                                    dl.GeoJSON(id="con-entities", data=EMPTY, pointToLayer=mapfn("entityPoint")),
                                    dl.GeoJSON(id="con-trail", data=EMPTY, style={"color": "#facc15", "weight": 3}),
                                    tasks_panel.layer("con")]),
        html.Div([
            html.Section([
                html.Div([html.Span(f"{user.name}（{code('account', user.role, lang)}） "), html.A(t("logout", lang), href="/logout"),
                          " · ", html.A(t("language", lang), href="/console" + ("" if lang == "en" else "?lang=en")),
                          " · ", html.A(t("cq_link", lang), href="/console/complaints" + ("?lang=en" if lang == "en" else "")),
                          " · ", html.A(t("draw_page", lang), href="/console/draws" + ("?lang=en" if lang == "en" else ""))]),
                html.P(t("click_map", lang), className="gw-msg"),
                dcc.Input(id="con-search", placeholder="网格名称/编号 或 统一社会信用代码", debounce=True),
                dcc.Dropdown(id="con-measure", value="none", clearable=False, options=[
                    {"label": t(f"measure_{m}", lang), "value": m} for m in MEASURES]),
            ]),
            # The order comes before the point's details, so the issue button is in view at
            # 1920x1080 once a point is picked (and it sticks to the panel's bottom when long).
            html.Section([
                html.H3(t("issue", lang)),
                html.Div(id="con-where", className="gw-msg"),
                dcc.Input(id="con-title", placeholder=t("order_title", lang)),
                dcc.Textarea(id="con-body", placeholder=t("order_body", lang), rows=2),
                html.Div([
                    dcc.Dropdown(id="con-kind", value="emergency", clearable=False,
                                 options=[{"label": t("emergency", lang), "value": "emergency"},
                                          {"label": t("task", lang), "value": "task"}]),
                    dcc.Dropdown(id="con-priority", value=1, clearable=False,
                                 options=[{"label": f"{t('priority', lang)} {p}", "value": p} for p in (1, 2, 3)]),
                ], className="gw-duty"),
                html.Div(t("recipients", lang), className="gw-msg"),
                dcc.Checklist(id="con-recipients", options=[], value=[]),
                html.Div(id="con-rule", className="gw-notes"),
                html.Div(id="con-edited", className="gw-warn"),
                html.Div([
                    html.Button(t("issue", lang), id="con-issue", disabled=not can_order),
                    html.Div("" if can_order else t("not_allowed", lang), id="con-issue-msg", className="gw-msg"),
                ], className="gw-issue-bar"),
            ]),
            html.Section(id="con-info"),
            console_casework.section(ctx, lang),
            html.Section([html.H3(t("orders", lang)), html.Div(id="con-order-msg", className="gw-msg"),
                          html.Div(console_orders(panels["orders"], lang, user), id="con-order-list")]),
            tasks_panel.section(ctx, user, lang, "con"),
            html.Section([html.H3(t("alerts", lang)), html.Div(id="con-alert-msg", className="gw-msg"),
                          html.Div(console_alerts(panels["alerts"], lang), id="con-alerts")]),
            html.Section([
                html.H3(t("trail", lang)),
                dcc.Input(id="con-trail-device", placeholder="终端编号 device id"),
                dcc.Dropdown(id="con-trail-hours", value=2, clearable=False,
                             options=[{"label": f"{h} h", "value": h} for h in (1, 2, 6, 24)]),
                html.Button("▶", id="con-trail-go", className="secondary"),
            ]),
        ], className="gw-panel"),
    ], className="gw-console")


def _info(ctx: WebContext, lat: float, lon: float, lang: str):
    """The point's details, the recipient options (the rule's picks ticked, the other nearest
    not) with their reasons, the picks' devices, and the rule with what it left out."""
    info = live.point_info(ctx, lat, lon)
    rows = []
    for level_key in ("level1", "level2"):
        g = info.get(level_key)
        if g:
            people = "，".join(person_with_role(p["name"], p["role"], lang) for p in g["people"])
            rows.append(html.Div([html.B(f"{t(level_key, lang)}: {g['name']}"), html.Div(people, className="gw-msg")]))
    table = html.Table([html.Tr([html.Th(t("supervisor", lang)), html.Th(t("distance", lang)), html.Th(t("state", lang))])] + [
        html.Tr([html.Td(person_with_role(n["name"], n["role"], lang)), html.Td(distance(n["distance_m"], lang)),
                 html.Td(f"{code('status', n['status'], lang)} · {code('fresh', n['fresh'], lang)}")])
        for n in info["nearest"]], className="gw-table")
    grid_name = (info.get("level2") or {}).get("name", "")
    options = [{"label": html.Span([c["name"], " · ", html.Span(pick_reason(c, lang, grid_name), className="gw-reason")]),
                "value": c["device"]} for c in info["suggested"]]
    picked = [c["device"] for c in info["suggested"]]
    options += [{"label": html.Span([n["name"], " · ", html.Span(t("pick_extra", lang, distance=distance(n["distance_m"], lang)),
                                                                  className="gw-reason")]), "value": n["device"]}
                for n in info["nearest"] if n["device"] not in picked]
    notes = [note_text(n, lang, ctx.person_names, ctx.grid_names) for n in info["notes"]]
    rule = [html.Div(t("suggested_rule", lang, k=info["k"]))] + [html.Div("· " + n) for n in notes]
    where = f"{lat:.5f}, {lon:.5f}" + (f" · {grid_name}" if grid_name else "")
    details = [html.H3(where)] + rows + [html.H3(t("nearest", lang)), table]
    return details, options, picked, rule, where


def register(app, ctx: WebContext, session_user) -> None:
    @app.callback(Output("con-point", "data"), Output("con-map", "viewport"),
                  Input("con-map", "clickData"), Input("con-search", "value"), prevent_initial_call=True)
    def pick(click, query):
        if dctx.triggered_id == "con-map" and click:
            return click_point(ctx, click) or no_update, no_update
        if query:
            hit = live.search(ctx, query.strip())
            if not hit:
                return no_update, no_update
            # A search hit centres the map on it (an entity close enough to see it among its neighbours).
            lat, lon = ctx.to_map_point(hit["lat"], hit["lon"])
            return hit, {"center": [lat, lon], "zoom": hit.get("zoom", 14), "transition": "flyTo"}
        return no_update, no_update

    @app.callback(Output("con-info", "children"), Output("con-recipients", "options"),
                  Output("con-recipients", "value"), Output("con-suggested", "data"), Output("con-rule", "children"),
                  Output("con-where", "children"), Output("con-pick", "children"), Output("con-entities", "data"),
                  Input("con-point", "data"), State("con-lang", "data"), prevent_initial_call=True)
    def show_point(point, lang):
        children, options, picked, rule, where = _info(ctx, point["lat"], point["lon"], lang)
        if point.get("entity"):
            children = [entity_card(point["entity"], lang)] + children
        marker = dl.CircleMarker(center=list(ctx.to_map_point(point["lat"], point["lon"])), radius=10, color="#facc15")
        return (children, options, picked, picked, rule, where, [marker],
                live.entities_at(ctx, point["lat"], point["lon"]))

    # Before he issues, the coordinator learns what editing the list means.
    @app.callback(Output("con-edited", "children"), Input("con-recipients", "value"),
                  State("con-suggested", "data"), State("con-lang", "data"), prevent_initial_call=True)
    def edited(value, suggested, lang):
        return "" if set(value or ()) == set(suggested or ()) else t("edited_warning", lang)

    @app.callback(Output("con-issue-msg", "children"), Input("con-issue", "n_clicks"),
                  State("con-point", "data"), State("con-title", "value"), State("con-body", "value"),
                  State("con-kind", "value"), State("con-priority", "value"), State("con-recipients", "value"),
                  State("con-suggested", "data"), State("con-lang", "data"), prevent_initial_call=True)
    def issue(_n, point, title, body, kind, priority, recipients, suggested, lang):
        user = session_user(ctx)
        if user is None or not user.can_order:
            return t("not_allowed", lang)
        if not point:
            return t("no_point", lang)
        unchanged = set(recipients or ()) == set(suggested or ())
        if not unchanged and not recipients:
            return "✗ " + t("none_picked", lang)
        try:
            # Unchanged: the platform chooses, as POST /api/orders does, and the order escalates.
            order = live.issue_order(ctx, user, point["lat"], point["lon"], title or "", body or "",
                                     kind, priority, None if unchanged else list(recipients))
        except AlertsError as exc:
            return error_text(exc, lang, ctx.person_names, ctx.grid_names)
        who = "、".join(ctx.person_names.get(r.get("person") or "", r["device"]) for r in order["recipients"])
        return html.Span([t("issued", lang, order=order["id"], who=who), " ",
                          t("issued_auto" if unchanged else "issued_explicit", lang)],
                         id="con-issued", **{"data-order": order["id"]})

    @app.callback(Output("con-grid-l2", "hideout"), Input("con-measure", "value"), prevent_initial_call=True)
    def measure(m):
        return live.choropleth(ctx, m if m in MEASURES else "none")

    @app.callback(Output("con-trail", "data"), Input("con-trail-go", "n_clicks"),
                  State("con-trail-device", "value"), State("con-trail-hours", "value"), prevent_initial_call=True)
    def trail(_n, device, hours):
        if not device:
            return no_update
        now = time.time()
        return live.trail_geojson(ctx, device.strip(), now - hours * 3600, now)

    @app.callback(Output("con-alerts", "children", allow_duplicate=True), Output("con-alert-msg", "children"),
                  Input({"type": "alert-ack", "id": ALL}, "n_clicks"), State("con-lang", "data"),
                  prevent_initial_call=True)
    def ack_alert(clicks, lang):
        user = session_user(ctx)
        msg = no_update
        if dctx.triggered_id and any(clicks):
            msg = live.ack_alert(ctx, user, dctx.triggered_id["id"], lang) if user else t("err_forbidden", lang)
        return console_alerts(live.panels(ctx)["alerts"], lang), msg

    @app.callback(Output("con-order-list", "children", allow_duplicate=True), Output("con-order-msg", "children"),
                  Input({"type": "order-act", "id": ALL, "act": ALL}, "n_clicks"), State("con-lang", "data"),
                  prevent_initial_call=True)
    def order_action(clicks, lang):
        user = session_user(ctx)
        trig = dctx.triggered_id
        msg = no_update
        if trig and any(clicks):
            msg = live.order_action(ctx, user, trig["id"], trig["act"], lang) if user and user.can_order \
                else "✗ " + t("err_forbidden", lang)
        return console_orders(live.panels(ctx)["orders"], lang, user), msg



async def stream(ctx: WebContext, user, lang: str, alive=lambda: True) -> None:
    page = live.Changes()
    async for kind, payload in live.follow(ctx, alive):
        if kind == "delta":
            continue  # deltas reach the map by /api/live/deltas, outside Dash
        if kind == "coverage":
            page.set("con-coverage", payload, lambda p: {"data": p["fc"]})
        else:
            page.set("con-kpis", payload["kpis"], lambda k: {"children": kpi_strip(k, lang)})
            page.set("con-order-list", payload["orders"], lambda o: {"children": console_orders(o, lang, user)})
            page.set("con-alerts", payload["alerts"], lambda a: {"children": console_alerts(a, lang)})
            page.set("con-orders", payload["orders_layer"], lambda d: {"data": d})


def entity_card(e: dict, lang: str):
    """A market entity found by its credit code: what the inspector needs at the door."""
    rows = [("name", e.get("name")), ("kind", f"{e.get('kind') or ''} · {e.get('category') or ''}"),
            ("uscc", e.get("uscc")), ("address", e.get("address"))]
    return html.Div([html.H3(t("entity", lang))] + [
        html.Div([html.B(t(f"entity_{k}", lang) + ": "), html.Span(v or "", id=f"con-entity-{k}")]) for k, v in rows],
        id="con-entity", className="gw-item")


def console_orders(orders: list[dict], lang: str, user):
    if not orders:
        return html.Div(t("no_orders", lang), className="gw-msg")
    out = []
    for o in orders:
        acts = [] if not (user and user.can_order) else [
            html.Button(t("close", lang), id={"type": "order-act", "id": o["id"], "act": "close"}, className="secondary"),
            html.Button(t("cancel", lang), id={"type": "order-act", "id": o["id"], "act": "cancel"}, className="danger"),
        ]
        out.append(html.Div([html.Div(o["title"], className="t"), html.Div(o["subtitle"], className="s"),
                             html.Div([html.Span(f"{r['name']} · {t('state_' + r['state'], lang)}", className=f"gw-rcpt {r['state']}" + (" engaged" if r["engaged"] else ""))
                                       for r in o["recipients"]]), html.Div(acts, className="gw-duty")],
                            className="gw-item", id=f"con-order-{o['id']}"))
    return out


def console_alerts(alerts: list[dict], lang: str):
    if not alerts:
        return html.Div(t("no_alerts", lang), className="gw-msg")
    return [html.Div([html.Div(alert_title(a, lang), className="t"), html.Div(alert_subtitle(a, lang), className="s"),
                      html.Button(t("ack_alert", lang), id={"type": "alert-ack", "id": a["id"]}, className="secondary")],
                     className=f"gw-item {a['kind']}") for a in alerts]
