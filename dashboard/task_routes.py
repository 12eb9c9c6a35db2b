"""API routes over tasks (CONTRACT.md section 8): Open311 GeoReport v2 under /api/open311/v2/
(its errors as `[{"code", "description"}]`) and the bureau's own /api/tasks with the actions.
Routes parse, say who is calling and call into casework/task_store.py; after a task is handed
to someone, his device's downlink goes into the alerts' outbox."""
from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from alerts.errors import AlertsError, Invalid
from casework import task_store as S
from casework import tasks as T
from dashboard.deps import AnyUser

RATE_PER_HOUR = 20          # reports per reporter account per clock hour
RATE_KEY = "gw:tasks:rate:{account}:{hour}"
MAX_DESCRIPTION = S.MAX_DESCRIPTION


def _georeport_error(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _field_error(exc: AlertsError) -> JSONResponse:
    field = exc.detail.get("field") or ("media" if exc.status in (413, 415) else None)
    msg = exc.message if not field or field in exc.message else f"{field}: {exc.message}"
    return _georeport_error(400 if exc.status == 422 else exc.status, msg)


def _plain_text(**values) -> None:
    """PostgreSQL's text holds no NUL character: such input is refused here, as a field error."""
    for name, v in values.items():
        if isinstance(v, str) and "\x00" in v:
            raise Invalid(f"{name} holds a NUL character", field=name)


def level1_supervisor_of(ctx, row) -> str | None:
    """The person id of the level-1 supervisor of a task's grid."""
    try:
        p = ctx.registry.responsible(row["grid"])["l1_supervisor"]
    except KeyError:
        return None
    return p.id if p else None


def notify_assignee(ctx, task: dict, category_name: str) -> None:
    """The assignee's downlink (`_type: task`), when he has a device."""
    from casework.task_delivery import title

    p = ctx.registry.person(task["assignee"]) if task.get("assignee") else None
    if p is None or not p.device:
        return
    S.queue_downlink(ctx.r, ctx.settings.topic_root, p.device, task, title(task, category_name))


def install_task_routes(api: APIRouter, ctx) -> None:
    tz = ZoneInfo(ctx.settings.tz)

    def iso(v):
        return v.astimezone(tz).isoformat() if isinstance(v, datetime) else v

    def local(v):
        """A timestamp in the bureau's zone, left for orjson to write: the same ISO 8601 text
        with offset as isoformat(), at a tenth of its cost (BENCHMARKS.md, tasks)."""
        return v.astimezone(tz) if isinstance(v, datetime) else v

    def plain(doc):
        if isinstance(doc, dict):
            return {k: plain(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [plain(v) for v in doc]
        return iso(doc)

    def viewer(user) -> S.Viewer:
        grids: tuple[str, ...] = ()
        if user.role == "supervisor" and user.person:
            p = ctx.registry.person(user.person)
            grids = tuple(p.grids) if p else ()
        return S.Viewer(user.name, user.role, user.person, grids)

    def router(lat, lon, hours, at):
        g = ctx.dataset.grids
        l1 = g[g["level"] == 1]
        branch_of = ctx.cached("task-branches", lambda: dict(zip(l1["id"], l1["branch"])))
        return T.route(lat, lon, hours, at, index=ctx.index, registry=ctx.registry, branch_of=branch_of)

    def level1_supervisor(row) -> str | None:
        return level1_supervisor_of(ctx, row)

    def categories() -> dict:
        def build():
            with ctx.db.connection() as conn, conn.cursor() as cur:
                return {c["code"]: c for c in S.categories(cur)}
        # categories change with `gridwatch load`, whose new dataset version drops the cache
        ctx.follow_dataset()
        return ctx.cached("task-categories", build)

    def notify(task: dict) -> None:
        notify_assignee(ctx, task, categories().get(task["category"], {}).get("name", task["category"]))

    def agency_of(grid, branch) -> str:
        try:  # the grid's responsible person (its level-2 supervisor, else the level-1's)
            resp = ctx.registry.responsible(grid) if grid else {}
        except KeyError:
            resp = {}
        who = resp.get("l2_supervisor") or resp.get("l1_supervisor")
        return " · ".join(x for x in (branch, who.name if who else None) if x)

    def open311(t: dict, base: str, cats: dict, agencies: dict | None = None) -> dict:
        """One GeoReport request, its times as datetimes: answer it with `answer()`."""
        key = (t.get("grid"), t.get("branch"))
        agency = agencies.get(key) if agencies is not None else None
        if agency is None:
            agency = agency_of(*key)
            if agencies is not None:
                agencies[key] = agency
        sha = t.get("first_media") or (t["media"][0]["sha256"] if t.get("media") else None)
        return {"service_request_id": t["id"], "status": T.open311_status(t["state"]),
                "status_notes": t.get("feedback") or t.get("reason") or "",
                "service_name": cats.get(t["category"], {}).get("name", t["category"]),
                "service_code": t["category"], "description": t["description"],
                "agency_responsible": agency, "requested_datetime": local(t["reported_at"]),
                "updated_datetime": local(t["updated_at"]), "expected_datetime": local(t["deadline"]),
                "address": t.get("address") or "", "lat": t["lat"], "long": t["lon"],
                "media_url": f"{base}api/media/{sha}" if sha else None}

    def answer(doc) -> Response:
        # orjson straight to bytes: FastAPI's jsonable_encoder walked a 1,000-request answer in
        # tens of milliseconds (BENCHMARKS.md, tasks)
        return Response(orjson.dumps(doc), media_type="application/json")

    def caller(request: Request):
        return getattr(request.state, "user", None)

    # -- Open311 GeoReport v2 -------------------------------------------------------------------
    @api.get("/open311/v2/services", tags=["open311"])
    @api.get("/open311/v2/services.json", tags=["open311"], include_in_schema=False)
    def services(request: Request):
        """The task categories as GeoReport services."""
        if caller(request) is None:
            return _georeport_error(401, "login or a bearer token is required")
        return [{"service_code": c["code"], "service_name": c["name"], "description": c["description"],
                 "metadata": False, "type": "realtime", "keywords": ",".join(c["keywords"]), "group": c["grp"]}
                for c in categories().values()]

    async def _report_fields(request: Request):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        stored = []
        if ctype == "multipart/form-data":
            from dashboard.uploads import receive_files

            stored, fields = await receive_files(request, ctx.media, field="media", required=False)
        elif ctype == "application/json":
            try:
                fields = await request.json()
            except ValueError:
                raise Invalid("the body is not JSON", field="body") from None
            if not isinstance(fields, dict):
                raise Invalid("the body is a JSON object", field="body")
            attrs = fields.get("attribute")
            if isinstance(attrs, dict) and "uscc" in attrs:
                fields["attribute[uscc]"] = attrs["uscc"]
        else:
            fields = dict(await request.form())
        return fields, stored

    def _number(fields, name, lo, hi) -> float:
        try:
            v = float(fields.get(name))
        except (TypeError, ValueError):
            raise Invalid(f"{name} is required, a number", field=name) from None
        if not lo <= v <= hi:
            raise Invalid(f"{name} must lie in [{lo}, {hi}]", field=name)
        return v

    @api.post("/open311/v2/requests", tags=["open311"], status_code=201)
    @api.post("/open311/v2/requests.json", tags=["open311"], status_code=201, include_in_schema=False)
    async def post_request(request: Request):
        """File a report (JSON, form or multipart with the file in `media`): it is routed to the
        grid's supervisor at once. A likely duplicate is filed too and named in service_notice."""
        user = caller(request)
        if user is None:
            return _georeport_error(401, "login or a bearer token is required")
        if user.role == "reporter":
            key = RATE_KEY.format(account=user.name, hour=int(time.time() // 3600))
            with ctx.r.pipeline(transaction=True) as p:
                p.incr(key)
                p.expire(key, 3600)
                count = p.execute()[0]
            if count > RATE_PER_HOUR:
                return _georeport_error(429, f"at most {RATE_PER_HOUR} reports an hour; try again later")
        stored = []
        try:
            fields, stored = await _report_fields(request)
            _plain_text(**{k: v for k, v in fields.items() if isinstance(k, str)})
            code = str(fields.get("service_code") or "")
            if not code:
                raise Invalid("service_code is required", field="service_code")
            lat = _number(fields, "lat", -90, 90)
            lon = _number(fields, "long", -180, 180)
            desc = str(fields.get("description") or "")
            if len(desc) > MAX_DESCRIPTION:
                raise Invalid(f"description is longer than {MAX_DESCRIPTION} characters", field="description")
            with ctx.db.connection() as conn:
                task, dup = S.create(conn, category=code, lat=lat, lon=lon, description=desc,
                                     viewer=viewer(user), router=router,
                                     address=str(fields.get("address_string") or "") or None,
                                     uscc=str(fields.get("attribute[uscc]") or "") or None,
                                     media=stored)
        except AlertsError as exc:
            for f in stored:        # files of a refused report that no other record has
                if f.new:
                    ctx.media.path(f.sha256).unlink(missing_ok=True)
            return _field_error(exc)
        notify(task)
        notice = f"already reported: task {dup} is open for this; yours is filed with it" if dup else ""
        return JSONResponse([{"service_request_id": task["id"], "service_notice": notice}], status_code=201)

    def _date(v: str | None, name: str) -> datetime | None:
        if not v:
            return None
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            raise Invalid(f"{name} is an ISO 8601 time", field=name) from None
        return d if d.tzinfo else d.replace(tzinfo=tz)

    @api.get("/open311/v2/requests", tags=["open311"])
    @api.get("/open311/v2/requests.json", tags=["open311"], include_in_schema=False)
    def get_requests(request: Request):
        """Requests the caller may see, newest first (GeoReport's filters)."""
        user = caller(request)
        if user is None:
            return _georeport_error(401, "login or a bearer token is required")
        q = request.query_params
        try:
            _plain_text(**dict(q))
            ids = [x for x in (q.get("service_request_id") or "").split(",") if x] or None
            with ctx.db.connection() as conn:
                rows = S.list_tasks(conn, viewer(user), ids=ids, category=q.get("service_code") or None,
                                    status=q.get("status") or None, start=_date(q.get("start_date"), "start_date"),
                                    end=_date(q.get("end_date"), "end_date"), limit=1000,
                                    columns=S.OPEN311_COLUMNS)
        except AlertsError as exc:
            return _field_error(exc)
        cats = categories()
        base, agencies = str(request.base_url), {}     # one answer's requests share few grids
        return answer([open311(t, base, cats, agencies) for t in rows])

    @api.get("/open311/v2/requests/{rid}", tags=["open311"])
    def get_request(request: Request, rid: str):
        """One request (`.json` suffix optional)."""
        user = caller(request)
        if user is None:
            return _georeport_error(401, "login or a bearer token is required")
        rid = rid.removesuffix(".json")
        try:
            _plain_text(service_request_id=rid)
            with ctx.db.connection() as conn:
                t = S.get(conn, rid, viewer(user))
        except AlertsError as exc:
            return _field_error(exc)
        return answer([open311(t, str(request.base_url), categories())])

    # -- the bureau's own view --------------------------------------------------------------------
    def task_view(t: dict) -> dict:
        history = [{"at": h["at"], "actor": h["actor"], "action": h["action"], "note": h["note"],
                    "before": h["before"], "after": h["after"]} for h in t.get("history", [])]
        out = {k: v for k, v in t.items() if k not in ("history", "first_media", "team")}
        if "history" in t:
            out["history"] = history
        return plain(out)

    @api.get("/tasks", tags=["tasks"])
    def tasks(user: AnyUser, state: str | None = None, grid: str | None = None, assignee: str | None = None,
              limit: Annotated[int, Query(ge=1, le=S.MAX_LIMIT)] = 200) -> list[dict]:
        """Tasks the caller may see, newest first, with `overdue`."""
        _plain_text(state=state, grid=grid, assignee=assignee)
        with ctx.db.connection() as conn:
            return [task_view(t) for t in S.list_tasks(conn, viewer(user), state=state, grid=grid,
                                                       assignee=assignee, limit=limit)]

    @api.get("/tasks/{task_id}", tags=["tasks"])
    def task(user: AnyUser, task_id: Annotated[str, Path(max_length=64)]) -> dict:
        """One task: state, category, grid, assignee, deadline, overdue, media, history, feedback."""
        _plain_text(task_id=task_id)
        with ctx.db.connection() as conn:
            return task_view(S.get(conn, task_id, viewer(user)))

    @api.post("/tasks/{task_id}/media", tags=["tasks"], status_code=201)
    async def task_media(user: AnyUser, request: Request, task_id: Annotated[str, Path(max_length=64)]) -> dict:
        """A photo, voice note or video of the task (multipart `file`, optional item, taken_at, lat, lon)."""
        from dashboard.uploads import receive_file

        _plain_text(task_id=task_id)
        with ctx.db.connection() as conn:
            S.get(conn, task_id, viewer(user))         # 404 before any bytes are stored
        stored, fields = await receive_file(request, ctx.media)
        _plain_text(**fields)

        def num(name):
            try:
                return float(fields[name]) if fields.get(name) else None
            except ValueError:
                raise Invalid(f"{name} is a number", field=name) from None

        with ctx.db.connection() as conn:
            S.add_media(conn, task_id, stored, viewer(user), item=fields.get("item", ""),
                        taken_at=_date(fields.get("taken_at"), "taken_at"), lat=num("lat"), lon=num("lon"))
        return stored.to_dict()

    @api.post("/tasks/{task_id}/{action}", tags=["tasks"])
    async def task_action(user: AnyUser, request: Request, task_id: Annotated[str, Path(max_length=64)],
                          action: str) -> dict:
        """accept, start, handle (note), verify, reject (reason, duplicate_of), reassign (assignee),
        reopen, close: `{note?, assignee?, reason?, duplicate_of?}`."""
        body = {}
        if await request.body():
            try:
                body = await request.json()
            except ValueError:
                raise Invalid("the body is a JSON object") from None
        if not isinstance(body, dict):
            raise Invalid("the body is a JSON object")
        clean = {}
        for k in ("note", "assignee", "reason", "duplicate_of"):
            v = body.get(k)
            if v is not None and not isinstance(v, str):
                raise Invalid(f"{k} is a string", field=k)
            clean[k] = v
        _plain_text(task_id=task_id, action=action, **clean)
        if clean["note"] and len(clean["note"]) > MAX_DESCRIPTION:
            raise Invalid(f"note is longer than {MAX_DESCRIPTION} characters", field="note")
        if clean["assignee"] and ctx.registry.person(clean["assignee"]) is None:
            raise Invalid(f"no person {clean['assignee']}", field="assignee")
        if action not in T.ACTIONS:
            raise Invalid(f"unknown action {action!r}", allowed=list(T.ACTIONS))
        with ctx.db.connection() as conn:
            t = S.act(conn, task_id, action, viewer(user), level1_supervisor=level1_supervisor, **clean)
        if action in T.ASSIGNING:
            notify(t)
        from casework.task_escalation import clear_answered

        clear_answered(ctx.alerts, task_id, action, f"user:{user.name}")
        with ctx.db.connection() as conn:
            return task_view(S.get(conn, task_id, viewer(user)))
