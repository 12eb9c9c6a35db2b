"""The statistics' routes (CONTRACT.md section 12): `/api/stats`, `/api/stats/summary`,
`/api/stats/weak`, the entities with failed inspections of a grid, and each as CSV or XLSX
(`.csv` / `.xlsx` after the route's name). A bad measure, grouping or date is 422 naming the
field. Statistics are counts by grid, category and month: no person is in them, and the
exports write only the columns dashboard/stats_text.py lists."""
from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from casework import stats
from dashboard.auth import User
from dashboard.bundles import packed_response
from dashboard.deps import current_user
from dashboard.i18n import t
from dashboard import stats_text

STATS_ROLES = ("viewer", "coordinator", "admin", "supervisor")
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def staff(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role not in STATS_ROLES:
        raise HTTPException(403, f"role {user.role!r} may not read the statistics")
    return user


Staff = Annotated[User, Depends(staff)]
From = Annotated[str | None, Query(alias="from", description="first day (YYYY-MM-DD, GRIDWATCH_TZ), included")]
To = Annotated[str | None, Query(alias="to", description="last day (YYYY-MM-DD, GRIDWATCH_TZ), included")]


def _bad(exc: stats.StatsError) -> JSONResponse:
    return JSONResponse({"error": str(exc), "field": exc.field}, status_code=422)


def export(header: list[str], rows: list[list], fmt: str, name: str) -> Response:
    """A table as CSV (UTF-8 with BOM: Excel opens Chinese text right) or XLSX (openpyxl)."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)
        body = ("\ufeff" + buf.getvalue()).encode("utf-8")
    else:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(name[:31])
        ws.append(header)
        for r in rows:
            ws.append(r)
        out = io.BytesIO()
        wb.save(out)
        body = out.getvalue()
    return Response(body, media_type=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


class StatsService:
    """What the routes and the /analytics page share: a connection, the bureau's zone (the
    rollups are switched to it once per process) and the names of keys."""

    def __init__(self, ctx):
        self.ctx = ctx

    @property
    def tz(self) -> str:
        return self.ctx.settings.tz

    def _conn(self):
        self.ctx.cached("stats_tz_checked", self._check_tz)
        return self.ctx.db.connection()

    def _check_tz(self) -> bool:
        with self.ctx.db.connection() as conn:
            return stats.ensure_tz(conn, self.tz)

    def names(self) -> dict[str, str]:
        def build():
            out = dict(self.ctx.grid_names)
            with self.ctx.db.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT code, name FROM complaint_categories UNION ALL SELECT code, name FROM task_categories")
                for r in cur.fetchall():
                    out.setdefault(r["code"], r["name"])
            return out
        return self.ctx.cached("stats_names", build)

    def query(self, measure, by, p):
        with self._conn() as conn, conn.cursor() as cur:
            return stats.query(cur, measure, by, p, self.tz, names=self._names_for(by))

    def _names_for(self, by: str) -> dict[str, str]:
        names = self.names()
        if by == "category":
            return names | {k: t(f"cat_{k}") for k in stats_text.ENTITY_CATEGORIES}
        return names

    def summary(self, p):
        with self._conn() as conn, conn.cursor() as cur:
            return stats.summary(cur, p, self.tz)

    def weak(self, by, p, top):
        with self._conn() as conn, conn.cursor() as cur:
            return stats.weak(cur, by, p, top=top, names=self._names_for(by))

    def failed_entities(self, grid, p, limit=50):
        with self._conn() as conn, conn.cursor() as cur:
            return stats.failed_entities(cur, grid, p, self.tz, limit=limit)

    def weak_period(self, start, end) -> stats.Period:
        p = stats.period(start, end)
        if p.start is None and p.end is None:
            return stats.default_weak_period(stats.today(self.tz))
        return p


OUTLINES_PATH = "/api/stats/grids.geojson"


def outlines(ctx) -> tuple[bytes, bytes, str]:
    """The level-2 outlines the choropleths draw: the maps' own grid layer (dashboard/mapparts,
    serialised and gzipped once per dataset), with a tag of their content."""
    from dashboard.mapparts import static_packed

    return static_packed(ctx, "grids-l2")


def outlines_url(ctx) -> str:
    """The outlines' URL for a page: the maps' level-2 layer, so a page that shows both (the
    wall: its grids and the weak-spot choropleth) downloads them once and the browser keeps them."""
    from dashboard.mapparts import static_url

    return static_url(ctx, "grids-l2")


def install_stats_routes(api: APIRouter, ctx) -> None:
    svc = StatsService(ctx)
    ctx.cached("stats_service", lambda: svc)

    def stats_rows(measure, by, start, end):
        stats.check(measure, by)
        return svc.query(measure, by, stats.period(start, end))

    def summary_rows(start, end):
        return svc.summary(stats.period(start, end))

    def weak_rows(by, top, start, end):
        stats.check(None, by, by_allowed=stats.WEAK_BY)
        return svc.weak(by, svc.weak_period(start, end), top)

    @api.get("/stats", tags=["statistics"])
    def get_stats(_: Staff, measure: str = "inspections", by: str = "grid", start: From = None, end: To = None):
        """`[{key, name?, value, per_1000_entities?, previous?, change?}]`: the measure over the
        days `from`..`to` (both included; without them all records) by grid, level1, branch,
        category or month; `previous` and `change` against the period of the same length before."""
        try:
            return stats_rows(measure, by, start, end)
        except stats.StatsError as exc:
            return _bad(exc)

    @api.get("/stats/summary", tags=["statistics"])
    def get_summary(_: Staff, start: From = None, end: To = None):
        """The figures the seed reports over the period."""
        try:
            return summary_rows(start, end)
        except stats.StatsError as exc:
            return _bad(exc)

    @api.get("/stats/weak", tags=["statistics"])
    def get_weak(_: Staff, by: str = "grid", top: Annotated[int, Query(ge=1, le=600)] = 10,
                 start: From = None, end: To = None):
        """The weakest spots by grid, level1 or category (without `from`/`to`: the last three
        years against the three before)."""
        try:
            return weak_rows(by, top, start, end)
        except stats.StatsError as exc:
            return _bad(exc)

    @api.get("/stats/failed_entities", tags=["statistics"])
    def get_failed(_: Staff, grid: str, start: From = None, end: To = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50):
        """The entities of a level-1 or level-2 grid with failed inspections in the period."""
        try:
            return svc.failed_entities(grid, stats.period(start, end), limit)
        except stats.StatsError as exc:
            return _bad(exc)

    @api.get("/stats/grids.geojson", tags=["statistics"], response_class=Response,
             responses={200: {"content": {"application/geo+json": {}}}})
    def grid_outlines(_: Staff, request: Request, v: str | None = None):
        """The level-2 grids as the choropleths draw them (`id`, `name`, `level`, `parent`,
        `branch`; simplified about 80 m, in the tiles' datum): for display, never for locating a
        point (`GET /api/grids` has the exact ones). With `v` (their tag, as the pages ask) the
        browser may keep them a day."""
        out = outlines(ctx)
        return packed_response(request, out, "application/geo+json",
                               "private, max-age=86400" if v == out[2] else "private, no-cache")

    def fmt_of(fmt: str) -> str:
        if fmt not in FORMATS:
            raise stats.StatsError("format", f"format: {fmt!r} is none of csv, xlsx")
        return fmt

    @api.get("/stats.{fmt}", tags=["statistics"])
    def export_stats(_: Staff, fmt: str, measure: str = "inspections", by: str = "grid",
                     start: From = None, end: To = None):
        try:
            rows = stats_rows(measure, by, start, end)
            return export(*stats_text.table(rows, stats_text.STATS_COLUMNS), fmt_of(fmt), f"stats-{measure}-{by}")
        except stats.StatsError as exc:
            return _bad(exc)

    @api.get("/stats/summary.{fmt}", tags=["statistics"])
    def export_summary(_: Staff, fmt: str, start: From = None, end: To = None):
        try:
            s = summary_rows(start, end)
            flat = [{"figure": k, "value": v} for k, v in s.items() if k not in ("period", "inspections_by_kind")]
            flat += [{"figure": f"inspections_{k}", "value": v} for k, v in s["inspections_by_kind"].items()]
            return export(*stats_text.table(flat, stats_text.SUMMARY_COLUMNS), fmt_of(fmt), "stats-summary")
        except stats.StatsError as exc:
            return _bad(exc)

    @api.get("/stats/weak.{fmt}", tags=["statistics"])
    def export_weak(_: Staff, fmt: str, by: str = "grid", top: Annotated[int, Query(ge=1, le=600)] = 10,
                    start: From = None, end: To = None):
        try:
            rows = [{**r, "reason": stats_text.weak_reasons(r, "zh")} for r in weak_rows(by, top, start, end)]
            return export(*stats_text.table(rows, stats_text.WEAK_COLUMNS), fmt_of(fmt), f"stats-weak-{by}")
        except stats.StatsError as exc:
            return _bad(exc)

    @api.get("/stats/failed_entities.{fmt}", tags=["statistics"])
    def export_failed(_: Staff, fmt: str, grid: str, start: From = None, end: To = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 50):
        try:
            rows = svc.failed_entities(grid, stats.period(start, end), limit)
            return export(*stats_text.table(rows, stats_text.FAILED_COLUMNS), fmt_of(fmt), f"failed-{grid}")
        except stats.StatsError as exc:
            return _bad(exc)
