"""API routes over the live store, orders and alerts, and device ingest (CONTRACT.md section 5).
Errors of alerts/ carry their own status (404/409/422) and become JSON bodies here."""
from __future__ import annotations

import base64
import csv
import io
import time
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
import orjson
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from alerts.errors import AlertsError
from alerts.models import OrderRequest
from dashboard.auth import device_secret_ok
from dashboard.deps import AnyUser, Coordinator, Lat, Lon
from geodata.roles import SUPERVISOR_ROLES
from telemetry import protocols

FRESH = ("live", "stale", "offline")
STATUS = ("on_duty", "off_duty", "busy", "sos")


def _alerts_call(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except AlertsError as exc:
        raise _Json(exc.status, exc.to_dict()) from exc


class _Json(Exception):
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body


def install_error_mapping(server) -> None:
    @server.exception_handler(_Json)
    async def json_error(_request, exc: _Json):
        return JSONResponse(exc.body, status_code=exc.status)


def _supervisor_row(ctx, s, current_orders: dict[str, str]) -> dict:
    p = ctx.registry.person(s.person) if s.person else None
    return {"device": s.device, "person": s.person, "name": p.name if p else None, "role": s.role,
            "grids": list(p.grids) if p else [], "lat": s.lat, "lon": s.lon, "tst": s.tst, "status": s.status,
            "fresh": s.fresh, "last_seen": s.seen, "battery": s.batt, "grid": {"level1": s.l1, "level2": s.l2},
            "current_order": current_orders.get(s.device)}


def install_live_routes(api: APIRouter, ctx) -> None:
    @api.get("/live/deltas", tags=["supervisors"], response_class=StreamingResponse)
    async def live_deltas(_: AnyUser, request: Request) -> StreamingResponse:
        """Server-sent events: first every supervisor, then each event a GeoJSON
        FeatureCollection of the supervisors whose position, status or presence changed. The wall and console move their markers from it
        without going through Dash; integrations can follow it too."""
        async def events():
            yield b": gridwatch live deltas\n\n"
            async for kind, payload in ctx.hub.subscribe(alive=lambda: not disconnected[0], snapshot=True):
                if await request.is_disconnected():
                    disconnected[0] = True
                    break
                if kind == "delta":
                    yield b"data: " + orjson.dumps(payload) + b"\n\n"
                else:
                    yield b": keep-alive\n\n"  # panels tick about once a second

        disconnected = [False]
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @api.get("/supervisors", tags=["supervisors"])
    def supervisors(_: AnyUser, grid: str | None = None,
                    status: Annotated[str | None, Query(description="duty status or presence: "
                                                        + ", ".join(STATUS + FRESH))] = None) -> list[dict]:
        if status is not None and status not in STATUS + FRESH:
            raise HTTPException(422, f"status must be one of {', '.join(STATUS + FRESH)}")
        if grid is not None and grid not in ctx.grid_names:
            raise HTTPException(404, f"no grid {grid!r}")
        current = {}
        for o in ctx.orders.list("open"):
            for r in o["recipients"]:
                if r["state"] not in ("declined", "timed_out", "cancelled", "completed"):
                    current.setdefault(r["device"], o["id"])
        rows = []
        for s in ctx.store.devices():
            if status is not None and status not in (s.status, s.fresh):
                continue
            if grid is not None:
                p = ctx.registry.person_of_device(s.device)
                if grid not in (s.l1, s.l2) and not (p and grid in p.grids):
                    continue
            rows.append(_supervisor_row(ctx, s, current))
        return rows

    @api.get("/nearest", tags=["supervisors"])
    def nearest_route(_: AnyUser, lat: Lat, lon: Lon, k: Annotated[int, Query(ge=1, le=100)] = 5,
                      status: Annotated[str, Query(description="comma-separated duty statuses")] = "on_duty",
                      max_age_s: Annotated[float | None, Query(gt=0)] = None) -> list[dict]:
        from telemetry.nearest import nearest

        statuses = tuple(x for x in status.split(",") if x)
        bad = [x for x in statuses if x not in STATUS]
        if bad:
            raise HTTPException(422, f"unknown status {', '.join(bad)}")
        s = ctx.settings
        found = nearest(ctx.r, lat, lon, k, statuses=statuses, max_age_s=max_age_s, now=time.time(),
                        res=s.h3_res, roles=SUPERVISOR_ROLES)
        return [{"device": c.device, "person": c.person, "name": ctx.person_names.get(c.person or ""),
                 "role": c.role, "distance_m": round(c.distance_m, 1), "lat": c.lat, "lon": c.lon, "tst": c.tst,
                 "status": c.state} for c in found]

    @api.get("/devices/{device}/trail", tags=["supervisors"])
    def trail(_: AnyUser, device: str, request: Request,
              from_: Annotated[float | None, Query(alias="from", description="epoch s; default 24 h ago")] = None,
              to: Annotated[float | None, Query(description="epoch s; default now")] = None,
              format: Literal["geojson", "csv"] = "geojson"):
        if ctx.registry.person_of_device(device) is None and ctx.store.device(device) is None:
            raise HTTPException(404, f"no device {device!r}")
        t1 = time.time() if to is None else to
        t0 = t1 - 86400 if from_ is None else from_
        if t0 > t1:
            raise HTTPException(422, "from is after to")
        fixes = ctx.store.trail(device, t0, t1)
        if format == "csv":
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["tst", "lat", "lon", "acc", "vel"])
            for f in fixes:
                w.writerow([f.tst, f.lat, f.lon, f.acc, f.vel])
            return Response(buf.getvalue(), media_type="text/csv")
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
             "properties": {"tst": f.tst, "acc": f.acc, "vel": f.vel}} for f in fixes]}


class OrderAction(BaseModel):
    note: str = Field("", max_length=2000)


class AlertAck(BaseModel):
    note: str = Field("", max_length=2000)


def install_order_routes(api: APIRouter, ctx) -> None:
    @api.post("/orders", status_code=201, tags=["orders"])
    def issue(user: Coordinator, body: OrderRequest) -> dict:
        return _alerts_call(ctx.orders.issue, body, f"user:{user.name}")

    @api.get("/orders", tags=["orders"])
    def list_orders(_: AnyUser, state: Literal["open", "closed", "cancelled"] | None = None) -> list[dict]:
        return _alerts_call(ctx.orders.list, state)

    @api.get("/orders/{order_id}", tags=["orders"])
    def get_order(_: AnyUser, order_id: str) -> dict:
        return _alerts_call(ctx.orders.get, order_id)

    @api.post("/orders/{order_id}/cancel", tags=["orders"])
    def cancel(user: Coordinator, order_id: str, body: OrderAction | None = None) -> dict:
        return _alerts_call(ctx.orders.cancel, order_id, f"user:{user.name}", reason=(body.note if body else ""))

    @api.post("/orders/{order_id}/close", tags=["orders"])
    def close(user: Coordinator, order_id: str, body: OrderAction | None = None) -> dict:
        return _alerts_call(ctx.orders.close, order_id, f"user:{user.name}", note=(body.note if body else ""))

    @api.get("/orders/{order_id}/audit", tags=["audit"])
    def order_audit(_: AnyUser, order_id: str, format: Literal["json", "csv"] = "json") -> Response:
        """The order's audit trail, every transition with actor, time, before and after."""
        from alerts import audit

        _alerts_call(ctx.orders.get, order_id, with_audit=False)  # 404 for an unknown order
        return _export(audit, audit.read_order(ctx.r, order_id), format, f"order-{order_id}")

    @api.get("/audit", tags=["audit"])
    def day_audit(_: AnyUser, day: Annotated[date, Query(description="calendar day in the bureau's time zone")],
                  format: Literal["json", "csv"] = "json") -> Response:
        """Everything that happened on one day, for the supervision record."""
        from alerts import audit

        return _export(audit, audit.read_day(ctx.r, day, ctx.settings.timezone), format, f"audit-{day}")

    @api.get("/alerts", tags=["alerts"])
    def list_alerts(_: AnyUser, state: Literal["open", "acknowledged", "cleared", "active"] | None = "open") -> list[dict]:
        return _alerts_call(ctx.alerts.list, state)

    @api.post("/alerts/{alert_id}/cancel", tags=["alerts"])
    def cancel_sos(user: AnyUser, alert_id: str) -> dict:
        """Withdraw a mistaken SOS: by the supervisor whose device raised it, a coordinator or an
        admin (403 otherwise). The alert becomes `cleared` with `cancelled_by` and
        `cancelled_at`, its audit entry names him, and its order to colleagues is cancelled;
        nothing is deleted. 409 for an alert that is not an SOS or was cleared otherwise."""
        from dashboard.live import cancel_sos as cancel

        try:
            return _alerts_call(cancel, ctx, user, alert_id)
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from None

    @api.post("/alerts/{alert_id}/ack", tags=["alerts"])
    def ack(user: AnyUser, alert_id: str, body: AlertAck | None = None) -> dict:
        return _alerts_call(ctx.alerts.ack, alert_id, f"user:{user.name}", note=(body.note if body else ""))


def _export(audit, entries, fmt: str, name: str) -> Response:
    if fmt == "csv":
        return Response(audit.to_csv(entries), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return Response(audit.to_json(entries), media_type="application/json")


def _basic_auth(request: Request) -> tuple[str, str] | None:
    h = request.headers.get("authorization", "")
    if not h.lower().startswith("basic "):
        return None
    try:
        user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
    except Exception:  # noqa: BLE001 - malformed header is just "no credentials"
        return None
    return user, pw


def _form_key(request: Request, body: bytes) -> str | None:
    """The `key` parameter of a form body (the Traccar Client 10.x posts its parameters so)."""
    if "form" not in request.headers.get("content-type", ""):
        return None
    from urllib.parse import parse_qs

    return (parse_qs(body.decode("latin-1")).get("key") or [None])[0]


def _outcome(ctx, out) -> JSONResponse:
    ctx.pipeline.flush_deltas(force=True)  # the wall should see an HTTP fix as fast as an MQTT one
    if out.accepted or out.http_status < 300:
        # OwnTracks HTTP expects a JSON array back, also when a filter dropped the fix (it was
        # received and understood: the app must not resend it, holding its queue behind it)
        return JSONResponse([], status_code=200)
    return JSONResponse({"error": "message dropped", "dropped": out.dropped}, status_code=out.http_status)


class TerminalFix(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    acc: float | None = Field(None, ge=0)
    tst: int


def install_ingest_routes(api: APIRouter, ctx) -> None:
    @api.post("/ingest/owntracks", tags=["ingest"])
    async def owntracks(request: Request):
        """OwnTracks HTTP mode: HTTP basic auth with the device id and its ingest secret. The
        user name may be `<person>/<device>` or `<device>` (the `X-Limit-D` header also names it)."""
        creds = _basic_auth(request)
        if creds is None:
            return JSONResponse({"error": "device credentials required (HTTP basic auth)"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="gridwatch devices"'})
        device = creds[0].rsplit("/", 1)[-1]
        if not device_secret_ok(ctx.r, device, creds[1]):
            return JSONResponse({"error": "unknown device or wrong secret"}, status_code=401)
        body = await request.body()
        return _outcome(ctx, ctx.pipeline.handle_http_owntracks(body, device))

    @api.api_route("/ingest/osmand", methods=["GET", "POST"], tags=["ingest"])
    async def osmand(request: Request):
        """The OsmAnd protocol of every Traccar Client generation: `id`, `lat`, `lon`, `timestamp`,
        ... in the URL (7.x-8.x) or a form (10.x; a heartbeat has no `lat`/`lon`), or JSON (9.x:
        `device_id` and a background-geolocation `location`; 10.x: an array of those parameters).
        `alarm=sos` raises an SOS. The device's secret is the HTTP basic auth password or the
        `key` parameter. Anything received and understood is a 200, even a fix a filter drops:
        the app resends a request, holding its queue, until it gets a 2xx."""
        body = await request.body()
        query = dict(request.query_params)
        msgs = protocols.decode_osmand_http(query, request.headers.get("content-type", ""), body, time.time(),
                                            ctx.settings.max_payload_bytes)
        creds = _basic_auth(request)
        named = {m.device for m in msgs if m.device is not None}
        device = creds[0] if creds else (next(iter(named)) if len(named) == 1 else None)
        secret = creds[1] if creds else query.get("key") or _form_key(request, body)
        if not device or not secret or not device_secret_ok(ctx.r, device, secret):
            return JSONResponse({"error": "unknown device or wrong secret"}, status_code=401)
        out = ctx.pipeline.handle_decoded(msgs, device)
        ctx.pipeline.flush_deltas(force=True)
        if out.accepted:
            return Response(status_code=200)
        return JSONResponse({"error": "message dropped", "dropped": out.dropped}, status_code=out.http_status)

    @api.post("/terminal/position", tags=["ingest"])
    def terminal_position(user: AnyUser, fix: TerminalFix):
        """The terminal page's shared browser location, for the logged-in supervisor's device."""
        import orjson

        p = ctx.registry.person(user.person) if user.person else None
        if p is None or not p.device:
            raise HTTPException(403, "only a supervisor with a device shares a position")
        body = {"_type": "location", "lat": fix.lat, "lon": fix.lon, "tst": fix.tst, "t": "u"}
        if fix.acc is not None:
            body["acc"] = round(fix.acc)
        return _outcome(ctx, ctx.pipeline.handle(f"{ctx.settings.topic_root}/{p.device}/loc", orjson.dumps(body)))
