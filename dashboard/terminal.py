"""`/terminal`: the supervisor's phone page. Current and past orders with big buttons for
acknowledge, en route, on scene, completed and decline; an SOS button that must be held for
1.5 s (gridwatch_terminal.js), and a button to cancel a mistaken SOS; on/off duty; and, while
on duty, the browser's location shared through the same ingest pipeline as the terminals."""
from __future__ import annotations

import asyncio
import time

from dash import ALL, Input, Output, State, ctx as dctx, dcc, html, set_props

from dashboard import live, terminal_tasks
from dashboard.context import WebContext
from dashboard.i18n import t

ACTIONS = ("acknowledged", "en_route", "on_scene", "completed", "declined")


def order_cards(orders: list[dict], lang: str):
    if not orders:
        return [html.P(t("no_orders", lang), className="gw-msg")]
    cards = []
    for o in orders:
        allowed = set(o.get("next_states", ()))
        buttons = [html.Button(t(a, lang), id={"type": "term-act", "order": o["id"], "state": a},
                               disabled=a not in allowed, className="danger" if a == "declined" else "")
                   for a in ACTIONS]
        cards.append(html.Div([
            html.Div([html.B(o["title"]), html.Span(f" · {t('state_' + o['my_state'], lang)}", className="gw-msg")]),
            html.Div(o.get("body", "")),
            html.Div(f"{o['id']} · {o['grid_name']} · {time.strftime('%H:%M', time.localtime(o['issued_at']))}",
                     className="gw-msg"),
            html.A(t("map_link", lang), href=f"geo:{o['lat']},{o['lon']}"),
            html.Div(buttons, className="gw-actions") if allowed else None,
        ], className="gw-order", id=f"term-order-{o['id']}"))
    return cards


def layout(ctx: WebContext, user, lang: str):
    if user.person is None:
        return html.Div([html.P("此页面供网格监管员使用 This page is for supervisors."), html.A(t("logout", lang), href="/logout")],
                        className="gw-terminal")
    me = live.terminal_state(ctx, user)
    sos_on = live.my_active_sos(ctx, user) is not None
    return html.Div([
        dcc.Store(id="term-sos-fire"),
        dcc.Store(id="term-lang", data=lang),
        dcc.Store(id="term-duty", data=me["status"]),
        dcc.Store(id="term-position"),
        html.Header([html.B(me["name"]), html.Span([html.A(t("language", lang), href="/terminal" + ("" if lang == "en" else "?lang=en")),
                                                    " · ", html.A(t("logout", lang), href="/logout")])]),
        html.Div([html.Button(t("duty_on", lang), id="term-on", className="secondary"),
                  html.Button(t("duty_off", lang), id="term-off", className="secondary"),
                  html.Span(t("duty_" + me["status"], lang), id="term-status", className="gw-msg")], className="gw-duty"),
        html.Button([html.Div(className="gw-hold"), html.Span(t("sos_button", lang)), html.Br(),
                     html.Small(t("sos_hold", lang))], id="term-sos", className="gw-sos-btn"),
        html.Button(t("sos_cancel", lang), id="term-sos-cancel", className="secondary",
                    style=_shown(sos_on)),
        html.Div(id="term-msg", className="gw-msg"),
        html.H3(t("my_orders", lang)),
        html.Div(order_cards(me["orders"], lang), id="term-orders"),
        terminal_tasks.section(ctx, user, lang),
    ], className="gw-terminal")


def _shown(on: bool) -> dict:
    return {"width": "100%"} if on else {"display": "none"}


def register(app, ctx: WebContext, session_user) -> None:
    # The browser's location goes to the ingest route for this user's device while on duty.
    app.clientside_callback(
        """function(duty) {
            if (window._gwWatch !== undefined) { navigator.geolocation.clearWatch(window._gwWatch); window._gwWatch = undefined; }
            if (duty !== "on_duty" || !navigator.geolocation) return window.dash_clientside.no_update;
            window._gwWatch = navigator.geolocation.watchPosition(function(p) {
                fetch("/api/terminal/position", {method: "POST", credentials: "same-origin",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({lat: p.coords.latitude, lon: p.coords.longitude,
                                          acc: p.coords.accuracy, tst: Math.floor(p.timestamp / 1000)})});
            }, function() {}, {enableHighAccuracy: true, maximumAge: 10000});
            return window.dash_clientside.no_update;
        }""",
        Output("term-position", "data"), Input("term-duty", "data"),
    )

    @app.callback(Output("term-orders", "children"), Output("term-msg", "children"),
                  Input({"type": "term-act", "order": ALL, "state": ALL}, "n_clicks"),
                  State("term-lang", "data"), prevent_initial_call=True)
    def act(clicks, lang):
        user = session_user(ctx)
        trig = dctx.triggered_id
        msg = ""
        if user and trig and any(clicks):
            msg = live.terminal_transition(ctx, user, trig["order"], trig["state"])
        return order_cards(live.terminal_state(ctx, user)["orders"], lang), msg

    # term-sos-fire is set by gridwatch_terminal.js once the SOS button has been held.
    @app.callback(Output("term-duty", "data"), Output("term-status", "children"),
                  Output("term-sos-cancel", "style"),
                  Input("term-on", "n_clicks"), Input("term-off", "n_clicks"), Input("term-sos-fire", "data"),
                  State("term-lang", "data"), prevent_initial_call=True)
    def status(_on, _off, _sos, lang):
        user = session_user(ctx)
        st = {"term-on": "on_duty", "term-off": "off_duty", "term-sos-fire": "sos"}[dctx.triggered_id]
        live.terminal_status(ctx, user, st)
        text = t("sos_sent", lang) if st == "sos" else t("duty_" + st, lang)
        return ("on_duty" if st == "sos" else st), text, _shown(live.my_active_sos(ctx, user) is not None)

    @app.callback(Output("term-status", "children", allow_duplicate=True),
                  Output("term-sos-cancel", "style", allow_duplicate=True),
                  Input("term-sos-cancel", "n_clicks"), State("term-lang", "data"), prevent_initial_call=True)
    def cancel_sos(_n, lang):
        user = session_user(ctx)
        msg = live.terminal_cancel_sos(ctx, user, lang)
        return msg, _shown(live.my_active_sos(ctx, user) is not None)


async def stream(ctx: WebContext, user, lang: str, alive=lambda: True) -> None:
    """Re-renders the supervisor's orders whenever orders change."""
    if user.person is None:
        return
    last = None
    tasks = terminal_tasks.Follower(ctx, user)
    async for _ in live.follow_orders(ctx, alive):
        await tasks.step()
        orders = (await asyncio.to_thread(live.terminal_state, ctx, user))["orders"]
        # Re-render only on a change: a button must not be swapped under the user's finger.
        mine = [(o["id"], o["my_state"], o["escalates_in_s"] is None) for o in orders]
        if mine != last:
            last = mine
            set_props("term-orders", {"children": order_cards(orders, lang)})
