"""The Dash side of the web process: one Dash app on the FastAPI server, a router from the URL
to the wall, console and terminal pages, and the WebSocket gate (logged-in users only)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import dash
from dash import Dash, Input, Output, State, dcc, html
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.middleware.gzip import GZipMiddleware

from dashboard import (analytics, console, console_casework, console_draws, mapparts, stats_wall, tasks_panel, terminal,
                       terminal_tasks, wall, wall_casework)
from dashboard.auth import SESSION_COOKIE
from dashboard.bundles import BundleCache
from dashboard.context import WebContext
from dashboard.i18n import browser_script, lang_of
from layers.palette import head_html

ASSETS = Path(__file__).parent / "assets"
GZIP_LEVEL = 5     # the answers' compression, per answer on the event loop (the bundles: once, level 9)


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


I18N_SCRIPT = "/static/i18n.js"


def install_dash(server: FastAPI, ctx: WebContext) -> Dash:
    _install_websocket_gate()

    # The pages' scripts take their words from the same table as the server (dashboard/i18n.py).
    @server.get(I18N_SCRIPT, include_in_schema=False)
    def i18n_script() -> Response:
        return Response(browser_script(), media_type="text/javascript",
                        headers={"Cache-Control": "no-cache"})

    app = Dash(
        __name__, server=server, backend="fastapi", title="gridwatch", external_scripts=[I18N_SCRIPT],
        assets_folder=str(ASSETS), suppress_callback_exceptions=True,
        # Callbacks go over HTTP (they carry the session cookie); only the persistent streams
        # that push live updates use the WebSocket (websocket=True on each).
        websocket_callbacks=False, websocket_batch_delay=0, update_title=None,
        # compressed below at a lower level: Dash's compress=True adds Starlette's GZipMiddleware
        # at level 9, which took 205 ms of the event loop for a 2.9 MB draw (level 5: 39 ms,
        # 10 % larger)
        compress=False,
    )
    server.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=GZIP_LEVEL)
    # in front of the compression: the bundles gzipped once, not per request on the event loop
    server.add_middleware(BundleCache)
    # Colours and engaged states for the page's scripts and stylesheet, from layers/palette.py
    # (after the stylesheets, before the scripts).
    app.index_string = app.index_string.replace("{%css%}", "{%css%}" + head_html() + analytics.PLOTLY_EARLY, 1)
    # The stream trigger must be in the first layout: Dash starts persistent WebSocket
    # callbacks only for components present from the start.
    app.layout = html.Div([dcc.Location(id="url"), dcc.Store(id="stream"), html.Div(id="page")])

    pages = {"/console": console, "/terminal": terminal, "/console/draws": console_draws, "/analytics": analytics}

    @app.callback(Output("page", "children"), Output("stream", "data"),
                  Input("url", "pathname"), State("url", "search"))
    async def route(path, search):
        user = session_user(ctx)
        lang = lang_of(search)
        if user is None:
            return dcc.Location(id="to-login", href=f"/login?next={path or '/'}"), None
        page = pages.get(path, wall)
        ctx.follow_dataset()  # a page built after `gridwatch load` shows the new grids and people
        # The WebSocket carries no cookies: the stream learns who it serves from a signed token.
        opts = {"page": page.__name__.rsplit(".", 1)[-1], "lang": lang, "token": ctx.accounts.stream_token(user)}
        # Dash's FastAPI backend runs callbacks on the event loop: a layout that queries the
        # records database (/analytics draws its first figures) is built in a worker thread.
        if getattr(page, "LAYOUT_IN_THREAD", False):
            return await asyncio.to_thread(page.layout, ctx, user, lang), opts
        return page.layout(ctx, user, lang), opts

    streams = {"wall": wall.stream, "console": console.stream, "terminal": terminal.stream}

    @app.callback(Input("stream", "data"), persistent=True, websocket=True)
    async def stream(opts):
        user = ctx.accounts.user_of_stream_token((opts or {}).get("token"))
        if user is None or opts.get("page") not in streams:
            return
        ws = dash.ctx.websocket
        # Ends with the page: the hub stops feeding a stream whose WebSocket has closed.
        await streams[opts["page"]](ctx, user, opts.get("lang", "zh"),
                                    alive=lambda: ws is None or not ws.is_shutdown)

    mapparts.register(app, ctx)
    console.register(app, ctx, session_user)
    console_draws.register(app, ctx, session_user)
    terminal.register(app, ctx, session_user)
    terminal_tasks.register(app, ctx, session_user)
    tasks_panel.register(app, ctx, session_user)
    analytics.register(app, ctx, session_user)
    stats_wall.register(app, ctx, session_user)
    wall_casework.register(app, ctx, session_user)
    console_casework.register(app, ctx, session_user)
    # Dash sets its "set up" flag before it walks the assets folder, on the first request:
    # a page requested meanwhile (uvicorn serves in threads) got an index without the
    # /assets/ scripts, dash-leaflet found no window.gridwatch functions and the renderer
    # hung. Set up once here, with every callback registered, before anything is served.
    app._setup_server()
    return app
