"""The Dash side of the web process: one Dash app on the FastAPI server, a router from the URL
to the wall, console and terminal pages, and the WebSocket gate (logged-in users only)."""
from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, Input, Output, State, dcc, html
from fastapi import FastAPI

from dashboard import console, terminal, wall
from dashboard.auth import SESSION_COOKIE
from dashboard.context import WebContext
from dashboard.i18n import lang_of

ASSETS = Path(__file__).parent / "assets"


def session_user(ctx: WebContext):
    """The user of the current Dash callback (HTTP or WebSocket), from the session cookie."""
    cookies = dash.ctx.cookies or {}
    return ctx.accounts.user_of_session(cookies.get(SESSION_COOKIE))


_gate_installed = False


def _install_websocket_gate() -> None:
    """Dash keeps hooks process-wide, so the gate is registered once and finds the serving
    app's context through the app itself."""
    global _gate_installed
    if _gate_installed:
        return
    _gate_installed = True

    @dash.hooks.websocket_connect()
    def only_logged_in(websocket):
        ctx = dash.get_app().server.state.ctx
        user = ctx.accounts.user_of_session(websocket.cookies.get(SESSION_COOKIE))
        return True if user else (4001, "login required")


def install_dash(server: FastAPI, ctx: WebContext) -> Dash:
    _install_websocket_gate()
    app = Dash(
        __name__, server=server, backend="fastapi", title="gridwatch",
        assets_folder=str(ASSETS), suppress_callback_exceptions=True,
        websocket_callbacks=True, websocket_batch_delay=0, update_title=None,
        compress=True,
    )
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")])

    @app.callback(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
    def route(path, search):
        user = session_user(ctx)
        lang = lang_of(search)
        if user is None:
            return dcc.Location(id="to-login", href=f"/login?next={path or '/'}")
        if path == "/console":
            return console.layout(ctx, user, lang)
        if path == "/terminal":
            return terminal.layout(ctx, user, lang)
        return wall.layout(ctx, user, lang)

    wall.register(app, ctx)
    console.register(app, ctx, session_user)
    terminal.register(app, ctx, session_user)
    return app
