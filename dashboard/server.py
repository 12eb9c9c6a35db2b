"""The web process: one FastAPI server carrying the REST API, the login page, /metrics and the
Dash pages (Dash 4 on its FastAPI backend, live updates over its WebSocket callbacks).

`create_server(settings)` builds everything from the settings; `uvicorn` serves the result.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
from urllib.parse import quote, unquote

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboard.auth import SESSION_COOKIE, SESSION_MAX_AGE_S, login_throttled, record_login_failure
from dashboard.context import WebContext
from dashboard.deps import database_down_body
from gridwatch.settings import Settings
from layers.palette import head_html

# Paths anyone may fetch: the login page, health, device ingest (its own credentials), and
# Dash's static bundles (code, not data).
PUBLIC_PREFIXES = ("/login", "/api/health", "/api/ingest/", "/_dash-component-suites/",
                   "/assets/", "/_favicon.ico", "/static/", "/r/", "/sw.js", "/complaint", "/api/public/", "/public/")
PAGES = ("/", "/console", "/terminal", "/report")
OPEN311 = "/api/open311/"


def _error(status: int, reason: str, **extra) -> JSONResponse:
    return JSONResponse({"error": reason, **extra}, status_code=status)


class AuthMiddleware:
    """Attaches `request.state.user` from a bearer token or session cookie; refuses anonymous
    requests (401 JSON for the API and Dash's endpoints, a redirect to /login for pages).

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware runs every request through an extra
    task and a pair of streams, which cost as much as a small route itself under load."""

    def __init__(self, app, ctx: WebContext):
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # WebSockets: Dash's gate checks the stream's signed token
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = scope["path"]
        # a NUL byte fits no text column (PostgreSQL refuses it): a 422 naming it, never a 500
        if "\x00" in path or "\x00" in unquote(scope.get("query_string", b"").decode("latin-1")):
            reason = "a NUL byte (%00) is not allowed in the path or the query"
            if path.startswith(OPEN311):  # GeoReport's shape and status for a bad request
                response = JSONResponse([{"code": 400, "description": reason}], status_code=400)
            else:
                response = _error(422, reason)
            await response(scope, receive, send)
            return
        user = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            user = self.ctx.accounts.user_of_token(auth[7:].strip())
        if user is None:
            user = self.ctx.accounts.user_of_session(request.cookies.get(SESSION_COOKIE))
        request.state.user = user  # kept in the scope: every later Request of this call sees it
        if user is None and not path.startswith(PUBLIC_PREFIXES):
            if request.method == "GET" and (path in PAGES or not path.startswith(("/api", "/_dash", "/metrics", "/tiles"))):
                response = RedirectResponse(f"/login?next={quote(path)}", status_code=303)
            elif path.startswith(OPEN311):  # GeoReport's error shape there
                response = JSONResponse([{"code": 401, "description": "login or a bearer token is required"}],
                                        status_code=401)
            else:
                response = _error(401, "login or a bearer token is required")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


LOGIN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>gridwatch 登录</title>
<link rel="stylesheet" href="/assets/gridwatch.css">{head}</head>
<body class="gw-login"><form method="post" action="/login" class="gw-login-form">
<h1>网格监管指挥平台 <small>gridwatch</small></h1>
{error}
<input type="hidden" name="next" value="{next}">
<label>用户名 User<input name="username" autocomplete="username" required autofocus></label>
<label>密码 Password<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">登录 Sign in</button></form></body></html>"""


def _safe_next(target: str) -> str:
    # Only same-site paths, so the login form cannot be used as an open redirect.
    return target if target.startswith("/") and not target.startswith("//") else "/"


def install_auth_routes(server: FastAPI, ctx: WebContext, secure_cookies: bool) -> None:
    @server.get("/login", include_in_schema=False)
    def login_page(next: str = "/", error: str = "") -> HTMLResponse:
        msg = f'<p class="gw-error">{html.escape(error)}</p>' if error else ""
        return HTMLResponse(LOGIN_PAGE.format(error=msg, next=html.escape(_safe_next(next)), head=head_html()))

    @server.post("/login", include_in_schema=False)
    def login(request: Request, username: str = Form(...), password: str = Form(...),
              next: str = Form("/")) -> Response:
        client = request.client.host if request.client else "?"
        target = _safe_next(next)
        if login_throttled(ctx.r, client, username):
            return RedirectResponse(f"/login?next={quote(target)}&error=" + quote("尝试过多，请稍后再试 Too many attempts"), 303)
        user = ctx.accounts.verify(username, password)
        if user is None:
            record_login_failure(ctx.r, client, username)
            return RedirectResponse(f"/login?next={quote(target)}&error=" + quote("用户名或密码错误 Wrong user or password"), 303)
        if user.role == "supervisor" and target in ("/", "/console"):
            target = "/terminal"
        if user.role == "reporter" and target in ("/", "/console", "/terminal"):
            target = "/report"
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(SESSION_COOKIE, ctx.accounts.session_cookie(user), max_age=SESSION_MAX_AGE_S,
                        httponly=True, samesite="lax", secure=secure_cookies)
        return resp

    @server.get("/logout", include_in_schema=False)
    def logout() -> Response:
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp


def install_error_handlers(server: FastAPI) -> None:
    from alerts.errors import AlertsError
    from casework.schema import SchemaBehind
    from gridwatch.db import OUTAGE_ERRORS, unavailable

    async def database_down(_request: Request, exc: Exception):
        down = unavailable(exc)
        if down is None:  # an error of ours, not an outage: let it be the 500 it is
            raise exc
        return JSONResponse(database_down_body(down), status_code=503)

    for kind in OUTAGE_ERRORS:
        server.add_exception_handler(kind, database_down)

    @server.exception_handler(SchemaBehind)
    async def schema_behind(_request: Request, exc: SchemaBehind):
        return _error(503, "the records database's schema is behind the code", detail=str(exc))

    @server.exception_handler(AlertsError)
    async def records_error(_request: Request, exc: AlertsError):
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @server.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @server.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError):
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query")),
             "problem": e.get("msg")}
            for e in exc.errors()
        ]
        return _error(422, "invalid request", problems=problems)


def create_server(settings: Settings, ctx: WebContext | None = None) -> FastAPI:
    from dashboard.api import install_api
    from dashboard.api_routes import install_error_mapping
    from dashboard.report import install_report
    from dashboard.tiles import install_tile_route
    from dashboard.ui import install_dash

    from dashboard.public_query import PublicQuery, PublicQueryMiddleware

    ctx = ctx or WebContext.build(settings)
    query = PublicQuery(ctx)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        query.start()       # in the loop that serves: the fast path's asyncio clients belong to it
        try:
            yield
        finally:
            await query.close()
            hub = ctx.__dict__.get("hub")  # the live hub, if a page ever followed: it may linger
            if hub is not None:
                hub.close()
                if hub.task is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(hub.task, 2.0)
            ctx.close()

    server = FastAPI(title="gridwatch", version="0.1.0", openapi_url="/api/openapi.json",
                     docs_url="/api/docs", redoc_url=None, lifespan=lifespan)
    server.state.ctx = ctx
    server.state.public_query = query
    install_error_handlers(server)
    install_auth_routes(server, ctx, secure_cookies=settings.secure_cookies)
    install_api(server, ctx)
    install_error_mapping(server)
    install_tile_route(server, settings.tile_dir)
    install_report(server, ctx)
    install_dash(server, ctx)
    server.add_middleware(AuthMiddleware, ctx=ctx)
    server.add_middleware(PublicQueryMiddleware, query=query)   # added last, runs first: ahead of auth, Dash, routing
    return server


def server_from_env() -> FastAPI:
    """For `uvicorn --factory dashboard.server:server_from_env --workers N` (settings from env)."""
    return create_server(Settings())


GRACE_S = 5  # what uvicorn gives open requests after a stop signal before cancelling them
SETTINGS_ENV = "GRIDWATCH_WEB_SETTINGS_JSON"  # `gridwatch web --workers N` hands its settings on


def _server_of_parent() -> FastAPI:
    """Each worker of `gridwatch web --workers N` builds its app from the settings the command
    was given (flags included), not from the environment alone."""
    import os

    return create_server(Settings.model_validate_json(os.environ[SETTINGS_ENV]))


def serve(settings: Settings, workers: int = 1, **uvicorn_options) -> None:
    """`gridwatch web`: uvicorn serving `create_server(settings)` until SIGTERM or SIGINT. On the
    signal the live followers (server-sent events, WebSocket callbacks) are ended at once, so
    uvicorn's graceful shutdown only waits for ordinary requests (an HTTP ingest being stored
    finishes and is answered), at most `GRACE_S`.

    `workers` > 1: that many processes share the port (uvicorn's supervisor, which restarts one
    that dies). What a web process holds for itself is built in each from Redis and PostgreSQL:
    the dataset, the pools, its own live hub following Redis pub/sub for the pages connected to
    it, its own MQTT client; sessions, the signing secret, rate limits and metrics are in Redis,
    so any worker may answer any request. There uvicorn's own worker stops them: it closes the
    WebSockets, but a server-sent events stream holds a worker's stop for up to `GRACE_S`."""
    import os

    import uvicorn

    options = dict(host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False,
                   timeout_graceful_shutdown=GRACE_S, **uvicorn_options)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        config = uvicorn.Config("dashboard.server:_server_of_parent", factory=True, workers=workers, **options)
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    app = create_server(settings)
    hub = app.state.ctx.hub

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            hub.close()
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app, **options)).run()
