"""The wall's casework layers (issue 18): today's inspections by result (pass, fail, rectify;
not yet concluded in grey) and open complaints by respondent (one point per respondent at
the registered entity's location, else the complaint's own point, with how many are open).
Each is an overlay of the map's layers control; both refresh with the casework strip's
minute tick (stats_wall.REFRESH_MS). What goes to the browser names the respondent, never
the complainant (CONTRACT.md section 11). Colours: layers/palette.py; markers and legend
rows: assets/gridwatch_wallcase.js."""
from __future__ import annotations

import logging
import dash_leaflet as dl
import orjson
from dash import Input, Output, State, no_update

from casework import complaints as C
from casework import inspections as I
from casework import stats
from casework.complaint_store import STAFF as COMPLAINT_READERS
from dashboard.mapparts import EMPTY
from gridwatch.db import unless_down

log = logging.getLogger(__name__)

MAX_POINTS = 5000
# inspections_started (started_at) bounds today; the entity's point when the inspection has none
INSPECTIONS_TODAY = """
SELECT i.id, i.result, i.kind, i.uscc, i.inspectors, i.grid, i.level1, e.name,
       coalesce(i.lat, e.lat) AS lat, coalesce(i.lon, e.lon) AS lon
  FROM inspections i JOIN entities e ON e.uscc = i.uscc
 WHERE i.started_at >= (%(d)s::timestamp AT TIME ZONE %(tz)s)
   AND i.started_at < ((%(d)s::timestamp + interval '1 day') AT TIME ZONE %(tz)s)
 ORDER BY i.started_at DESC, i.id LIMIT %(n)s
"""
# Counted per respondent: a registered one by its credit code (at the entity's point), an
# unregistered one by name and address (at its complaints' point). The open complaints are
# grouped first, then each group looked up in entities by its key (OFFSET 0 keeps that a
# lookup: a hash join would read all entities). The open states are written as literals, so
# the planner can use the partial index of open complaints (migration 0008). No complainant
# column is read.
OPEN_STATES = ", ".join(f"'{s}'" for s in sorted(C.OPEN))
OPEN_COMPLAINTS = f"""
WITH g AS (
  SELECT respondent_uscc, max(respondent_name) AS name, avg(lat) AS lat, avg(lon) AS lon,
         count(*) AS n, count(*) FILTER (WHERE state = 'received') AS waiting
    FROM complaints
   WHERE state IN ({OPEN_STATES})
   GROUP BY respondent_uscc, CASE WHEN respondent_uscc IS NULL
                                  THEN coalesce(respondent_name, '') || '|' || coalesce(respondent_address, '') END)
SELECT g.respondent_uscc AS uscc, coalesce(e.name, g.name, '') AS name, coalesce(e.lat, g.lat) AS lat,
       coalesce(e.lon, g.lon) AS lon, g.n, g.waiting
  FROM g LEFT JOIN LATERAL (SELECT name, lat, lon FROM entities WHERE uscc = g.respondent_uscc OFFSET 0) e ON TRUE
 WHERE coalesce(e.lat, g.lat) IS NOT NULL
 ORDER BY g.n DESC, uscc LIMIT %(n)s
"""


def overlays(prefix: str) -> list:
    """The two overlays for the map's layers control (on at first: the wall opens on the whole
    platform at a glance; the duty officer switches off what crowds his map)."""
    return [
        dl.Overlay(dl.GeoJSON(id=f"{prefix}-inspections-today", data=EMPTY,
                              pointToLayer={"variable": "gridwatchWallcase.inspectionMarker"},
                              onEachFeature={"variable": "gridwatchWallcase.inspectionTooltip"}),
                   name="今日检查 inspections today", checked=True),
        dl.Overlay(dl.GeoJSON(id=f"{prefix}-open-complaints", data=EMPTY,
                              pointToLayer={"variable": "gridwatchWallcase.complaintMarker"},
                              onEachFeature={"variable": "gridwatchWallcase.complaintTooltip"}),
                   name="未办结投诉 open complaints", checked=True),
    ]


def _point(lat, lon, props: dict) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def inspections_today(ctx, viewer) -> dict:
    """Today's inspections (in GRIDWATCH_TZ) the viewer may read, one point each."""
    tz = ctx.settings.tz
    with ctx.db.connection() as conn, conn.cursor() as cur:
        cur.execute(INSPECTIONS_TODAY, {"d": stats.today(tz), "tz": tz, "n": MAX_POINTS})
        rows = [r for r in cur.fetchall() if I.visible(viewer, r)]
    return ctx.to_map({"type": "FeatureCollection", "features": [
        _point(r["lat"], r["lon"], {"id": r["id"], "result": r["result"] or "open", "kind": r["kind"],
                                    "uscc": r["uscc"], "name": r["name"]})
        for r in rows if r["lat"] is not None and r["lon"] is not None]})


def open_complaints(ctx, role: str) -> dict:
    """Open complaints counted per respondent; only for the roles that read complaints."""
    if role not in COMPLAINT_READERS:
        return EMPTY
    with ctx.db.connection() as conn, conn.cursor() as cur:
        cur.execute(OPEN_COMPLAINTS, {"n": MAX_POINTS})
        rows = cur.fetchall()
    return ctx.to_map({"type": "FeatureCollection", "features": [
        _point(r["lat"], r["lon"], {"uscc": r["uscc"] or "", "name": r["name"], "n": r["n"], "waiting": r["waiting"]})
        for r in rows]})


def register(app, ctx, session_user) -> None:
    from dashboard.tasks_panel import configured, viewer_of

    @app.callback(Output("wall-inspections-today", "data"), Output("wall-open-complaints", "data"),
                  Input("wall-casework-tick", "n_intervals"),
                  State("wall-inspections-today", "data"), State("wall-open-complaints", "data"))
    def refresh(_n, shown_inspections, shown_complaints):
        user = session_user(ctx)
        if user is None or not configured(ctx):
            return no_update, no_update
        both = unless_down(lambda: (inspections_today(ctx, viewer_of(ctx, user)), open_complaints(ctx, user.role)))
        if both is None:  # the records database down: the layers keep their last points
            log.warning("wall casework layers unavailable: the records database is down")
            return no_update, no_update
        # a layer whose points are what the page shows is not sent again (rebuilding a few
        # hundred markers is a long task on the wall's main thread)
        return tuple(no_update if orjson.loads(orjson.dumps(new)) == old else new
                     for new, old in zip(both, (shown_inspections, shown_complaints)))
