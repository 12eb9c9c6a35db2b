"""The REST API under /api (CONTRACT.md section 5). Routes only parse, check the caller's role
and call into the packages; the logic lives in geodata/, telemetry/ and alerts/."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from dashboard.api_routes import install_ingest_routes, install_live_routes, install_order_routes
from dashboard.records_routes import install_records_routes
from dashboard.task_routes import install_task_routes
from dashboard.inspection_routes import install_inspection_pages, install_inspection_routes
from dashboard.complaint_routes import install_complaint_routes
from dashboard.draw_routes import install_draw_pages, install_draw_routes
from dashboard.report import install_report_routes
from dashboard.stats_routes import install_stats_routes
from dashboard.mapparts import install_static_layer_routes
from dashboard.auth import User
from dashboard.deps import Lat, Lon, current_user
from dashboard.context import WebContext
from layers.grids import SIMPLIFY_DEG, grids_geojson

def _person_view(p) -> dict | None:
    if p is None:
        return None
    return {"id": p.id, "name": p.name, "role": p.role, "phone": p.phone, "device": p.device,
            "grids": list(p.grids)}


def install_api(server: FastAPI, ctx: WebContext) -> None:
    api = APIRouter(prefix="/api")

    @api.get("/health", tags=["system"])
    def health() -> JSONResponse:
        status = {"redis": "ok", "mqtt": "ok"}
        try:
            ctx.r.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means the store is down
            status["redis"] = f"down: {type(exc).__name__}"
        if not ctx.mqtt_connected():
            status["mqtt"] = "down"
        status["database"] = ctx.database_status()
        ok = all(v in ("ok", "not configured") for v in status.values())
        return JSONResponse(status, status_code=200 if ok else 503)

    @api.get("/grids", tags=["grids"])
    def grids(_: Annotated[User, Depends(current_user)],
              level: Annotated[int | None, Query(ge=1, le=2)] = None,
              simplified: Annotated[bool, Query(description=(
                  "false (default): the exact boundaries as loaded, for integrators. true: the "
                  "outlines the map draws, coverage-simplified at about 80 m (0.0008 degrees) "
                  "with coordinates rounded to about 1 m; for display only, never for locating "
                  "a point"))] = False) -> dict:
        """The grids as GeoJSON (`id`, `name`, `level`, `parent`, `branch`): exact by default."""
        return grids_geojson(ctx.dataset.grids, level=level, simplify_deg=SIMPLIFY_DEG if simplified else 0)

    @api.get("/grids/locate", tags=["grids"])
    def locate(_: Annotated[User, Depends(current_user)], lat: Lat, lon: Lon) -> dict:
        l1, l2 = ctx.index.locate_one(lat, lon)
        if l1 is None and l2 is None:
            raise HTTPException(404, f"({lat}, {lon}) lies outside every grid")
        out = {"lat": lat, "lon": lon, "level1": None, "level2": None}
        names = ctx.grid_names
        for key, gid in (("level1", l1), ("level2", l2)):
            if gid is not None:
                resp = ctx.registry.responsible(gid)
                out[key] = {"id": gid, "name": names.get(gid),
                            "responsible": {k: ([_person_view(x) for x in v] if isinstance(v, (list, tuple))
                                                else _person_view(v)) for k, v in resp.items()}}
        return out

    @api.get("/me", tags=["system"])
    def me(user: Annotated[User, Depends(current_user)]) -> dict:
        return {"name": user.name, "role": user.role, "person": user.person}

    install_live_routes(api, ctx)
    install_order_routes(api, ctx)
    install_records_routes(api, ctx)
    install_task_routes(api, ctx)
    install_inspection_pages(server, ctx, install_inspection_routes(api, ctx))
    install_complaint_routes(api, ctx)
    from dashboard.complaint_page import install_complaint_page
    from dashboard.console_complaints import install_console_complaints

    install_complaint_page(server, ctx)
    install_console_complaints(server, ctx)
    install_draw_routes(api, ctx)
    install_draw_pages(server, ctx)
    install_report_routes(api, ctx)
    install_stats_routes(api, ctx)
    install_static_layer_routes(server, ctx)
    from dashboard.analytics import install_static as install_analytics_static

    install_analytics_static(server)
    install_ingest_routes(api, ctx)

    @api.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                   include_in_schema=False)
    def not_found(path: str) -> JSONResponse:
        return JSONResponse({"error": f"no route /api/{path}"}, status_code=404)

    server.include_router(api)

    @server.get("/metrics", include_in_schema=False)
    def metrics(_: Annotated[User, Depends(current_user)]) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(ctx.metrics_registry), media_type=CONTENT_TYPE_LATEST)
