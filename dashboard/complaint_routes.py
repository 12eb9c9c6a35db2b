"""API routes over complaints and cases (CONTRACT.md section 11): the hotline's intake and the
citizen's (rate-limited, no login), the queue with its actions, the public progress query, and
cases from clue to decision. Routes parse, say who is calling and call into casework/; what
leaves here about a complainant has passed casework.complaint_store.present (masking)."""
from __future__ import annotations

import time
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from alerts.errors import Forbidden, Invalid
from casework import cases as K
from casework import complaint_store as S
from casework import complaints as C
from dashboard.deps import AnyUser

OPERATORS = ("coordinator", "admin")
# The CSV export's columns: the complainant masked whoever asks (CONTRACT.md section 11).
EXPORT = ("id", "channel", "received_at", "complainant_name", "complainant_phone", "respondent_uscc", "respondent_name",
          "respondent_address", "category", "description", "amount_yuan", "grid", "level1", "branch", "handler", "state",
          "accept_by", "mediate_by", "provisional", "overdue", "accepted_at", "founded", "outcome", "terms", "reason",
          "transferred_to", "closed_at")
PUBLIC_CHANNELS = ("web", "wechat")
PHONE_PER_DAY = 3
FILE_KEY = "gw:complaints:rate:file:{who}:{slot}"     # counters, expire with their slot
QUERY_KEY = "gw:complaints:rate:query:{who}:{slot}"
# Task categories an on-site check of a complaint goes under (others: consumer_dispute).
TASK_CATEGORY = {"food": "food_safety", "price": "price", "advertising": "false_ad"}


def plain_json(v, tz: ZoneInfo):
    """Rows as JSON values: times in the bureau's zone, dates as YYYY-MM-DD, amounts as numbers."""
    if isinstance(v, dict):
        return {k: plain_json(x, tz) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain_json(x, tz) for x in v]
    if isinstance(v, datetime):
        return v.astimezone(tz).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


def query_key(client: str, now: float) -> tuple[str, int]:
    """The public query's counter (per client address, per minute) and its lifetime."""
    return QUERY_KEY.format(who=f"ip:{client}", slot=int(now // 60)), 60


def _over(r, key: str, ttl: int, limit: int) -> bool:
    with r.pipeline(transaction=True) as p:
        p.incr(key)
        p.expire(key, ttl)
        n = p.execute()[0]
    return n > limit


def _text(**values) -> None:
    """PostgreSQL's text holds no NUL character: such input is refused as a field error."""
    for name, v in values.items():
        if isinstance(v, str) and "\x00" in v:
            raise Invalid(f"{name} holds a NUL character", field=name)


def too_many_queries() -> JSONResponse:
    return _too_many("queries from this address", 60 - int(time.time()) % 60)


def _too_many(what: str, retry_s: int) -> JSONResponse:
    return JSONResponse({"error": f"too many {what}; try again later", "retry_after_s": retry_s},
                        status_code=429, headers={"Retry-After": str(retry_s)})


async def _body(request: Request) -> dict:
    if not await request.body():
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise Invalid("the body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise Invalid("the body is a JSON object", field="body")
    return body


def jurisdiction_of(ctx) -> C.Jurisdiction:
    """Branches over the dataset the web process holds (built once per process)."""
    return ctx.cached("complaint-jurisdiction", lambda: C.Jurisdiction(ctx.dataset.grids, ctx.registry, ctx.index))


def install_complaint_routes(api: APIRouter, ctx) -> None:
    tz_name = ctx.settings.tz
    tz = ZoneInfo(tz_name)

    def plain(v):
        return plain_json(v, tz)

    def jurisdiction() -> C.Jurisdiction:
        return jurisdiction_of(ctx)

    def viewer(user) -> S.Viewer:
        mine, l1 = jurisdiction().branches_of(user.person) if user.role == "supervisor" else ((), ())
        return S.Viewer(user.name, user.role, user.person, mine, l1)

    def readers(user) -> None:
        if user.role not in ("viewer", "coordinator", "admin", "supervisor"):
            raise HTTPException(403, f"role {user.role!r} does not read complaints or cases")

    def client(request: Request) -> str:
        return request.client.host if request.client else "?"

    def intake_view(row: dict) -> dict:
        return plain({"id": row["id"], "query_code": C.show_code(row["query_code"]), "state": row["state"],
                      "branch": row["branch"], "handler": row["handler"], "accept_by": row["accept_by"],
                      "mediate_by": row["mediate_by"], "provisional": row["provisional"],
                      "received_at": row["received_at"]})

    @api.get("/complaints/categories", tags=["complaints"])
    def complaint_categories(request: Request) -> list[dict]:
        """The values of `category` (public: the citizen's form lists them)."""
        with ctx.db.connection() as conn, conn.cursor() as cur:
            return S.categories(cur)

    @api.get("/public/complaints/categories", tags=["complaints"])
    def public_categories() -> list[dict]:
        """The categories, for the public form (no login)."""
        with ctx.db.connection() as conn, conn.cursor() as cur:
            return S.categories(cur)

    @api.post("/complaints", tags=["complaints"], status_code=201)
    async def file_complaint(user: AnyUser, request: Request) -> dict:
        """The hotline's intake (coordinator, admin): routed to where the respondent operates."""
        if user.role not in OPERATORS:
            raise HTTPException(403, f"role {user.role!r} may not file complaints for callers; the public files on /complaint")
        intake = C.parse_intake(await _body(request))
        with ctx.db.connection() as conn:
            row = S.create(conn, intake, placer=jurisdiction().placer, actor=f"user:{user.name}", tz=tz_name)
        return intake_view(row)

    @api.post("/public/complaints", tags=["complaints"], status_code=201)
    async def file_public(request: Request):
        """A citizen's complaint from /complaint (no login; channel web or wechat; rate-limited
        per client address and per phone number). Answers the query code, never more."""
        body = await _body(request)
        body.setdefault("channel", "web")
        if body.get("channel") not in PUBLIC_CHANNELS:
            raise Invalid("channel is web or wechat here", field="channel", allowed=list(PUBLIC_CHANNELS))
        for k in ("received_at", "platform_id"):
            if k in body:
                raise Invalid(f"{k} is not the citizen's to set", field=k)
        hour = int(time.time() // 3600)
        if _over(ctx.r, FILE_KEY.format(who=f"ip:{client(request)}", slot=hour), 3600, ctx.settings.complaint_file_per_hour):
            return _too_many("complaints from this address", 3600 - int(time.time()) % 3600)
        intake = C.parse_intake(body)
        day = int(time.time() // 86400)
        if _over(ctx.r, FILE_KEY.format(who=f"phone:{intake.complainant.phone}", slot=day), 86400, PHONE_PER_DAY):
            return _too_many("complaints from this phone number today", 86400 - int(time.time()) % 86400)
        with ctx.db.connection() as conn:
            row = S.create(conn, intake, placer=jurisdiction().placer, actor="public:web", tz=tz_name)
        v = intake_view(row)
        return JSONResponse({k: v[k] for k in ("query_code", "state", "branch", "accept_by", "provisional",
                                               "received_at")}, status_code=201)

    @api.get("/public/complaints/{query_code}", tags=["complaints"])
    def public_query(request: Request, query_code: Annotated[str, Path(max_length=40)],
                     phone_last4: Annotated[str, Query(max_length=8)] = ""):
        """The citizen's progress query: state, dates, handling branch, outcome; 404 for a wrong
        code or phone (not told apart); rate-limited per client address."""
        if _over(ctx.r, *query_key(client(request), time.time()), ctx.settings.complaint_query_per_min):
            return too_many_queries()
        with ctx.db.connection() as conn:
            row = S.public(conn, query_code, phone_last4)
        row["query_code"] = C.show_code(row["query_code"])
        return plain(row)

    @api.get("/complaints", tags=["complaints"])
    def complaints(user: AnyUser, state: str | None = None, branch: str | None = None,
                   queue: Annotated[bool, Query(description="only the command centre's queue (no branch)")] = False,
                   open_only: Annotated[bool, Query(alias="open", description="only those with a step still to take")] = False,
                   order: Annotated[str, Query(pattern="^(received|due)$", description=(
                       "received: newest first; due: the nearest deadline of the step each is at first"))] = "received",
                   limit: Annotated[int, Query(ge=1, le=S.MAX_LIMIT)] = 200,
                   format: Annotated[str, Query(pattern="^(json|csv)$", description=(
                       "csv: an export, the complainant always masked, whoever asks"))] = "json"):
        """Complaints the caller may see, newest first (or by deadline); the complainant masked
        unless the caller handles it (and always in the CSV export)."""
        readers(user)
        _text(state=state, branch=branch)
        with ctx.db.connection() as conn:
            today = datetime.now(tz).date()
            rows = [{**c, "overdue": S.overdue(c, today)}
                    for c in S.list_complaints(conn, viewer(user), state=state, branch=branch, queue=queue,
                                               open_only=open_only, order=order, limit=limit)]
        if format == "csv":
            import csv
            import io

            from fastapi.responses import Response

            out = io.StringIO()
            w = csv.writer(out)
            w.writerow(EXPORT)
            for c in rows:
                m = plain(C.masked(c))
                w.writerow(["|".join(m[k]) if isinstance(m.get(k), list) else ("" if m.get(k) is None else m[k])
                            for k in EXPORT])
            return Response(out.getvalue().encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="complaints.csv"'})
        return [plain(c) for c in rows]

    @api.get("/complaints/{cid}", tags=["complaints"])
    def complaint(user: AnyUser, cid: Annotated[str, Path(max_length=64)]) -> dict:
        """One complaint with its media, tasks, cases and history."""
        readers(user)
        _text(id=cid)
        with ctx.db.connection() as conn:
            c = S.get(conn, cid, viewer(user))
        return plain({**c, "overdue": S.overdue(c, datetime.now(tz).date())})

    def make_task(user, category: str | None):
        from casework import task_store as TS
        from casework import tasks as T

        def router(lat, lon, hours, at):
            return T.route(lat, lon, hours, at, index=ctx.index, registry=ctx.registry,
                           branch_of=jurisdiction().branch_of_l1)

        def make(conn, row):
            if row["lat"] is None:
                raise Invalid("the respondent has no place on the map: no on-site check can be routed", field="action")
            cat = category or TASK_CATEGORY.get(row["category"], "consumer_dispute")
            task, _dup = TS.create(conn, category=cat, lat=row["lat"], lon=row["lon"],
                                   description=f"投诉 {row['id']} 现场核查：{C.scrub(row['description'], row)}"[:TS.MAX_DESCRIPTION],
                                   viewer=TS.Viewer(user.name, user.role, user.person), router=router,
                                   address=row["respondent_address"], uscc=row["respondent_uscc"])
            with conn.cursor() as cur:
                cur.execute("UPDATE tasks SET source = 'complaint' WHERE id = %s", (task["id"],))
            made.append(task)
            return task["id"]

        made: list[dict] = []
        return make, made

    @api.post("/complaints/{cid}/{action}", tags=["complaints"])
    async def complaint_action(user: AnyUser, request: Request, cid: Annotated[str, Path(max_length=64)],
                               action: str) -> dict:
        """accept, refuse (reason), mediate, agree (terms), fail, transfer (to, or case: true),
        close; task (an on-site check: category?). The handling branch's level-1 supervisors,
        coordinators and admins; others 403; a step not from this state 409."""
        _text(id=cid, action=action)
        body = await _body(request)
        clean: dict = {}
        for k in ("reason", "terms", "to", "note", "category"):
            v = body.get(k)
            if v is not None and (not isinstance(v, str) or len(v) > C.MAX_TEXT or "\x00" in v):
                raise Invalid(f"{k} is a string of at most {C.MAX_TEXT} characters", field=k)
            clean[k] = v
        for k in ("case", "founded"):
            if body.get(k) is not None and not isinstance(body[k], bool):
                raise Invalid(f"{k} is true or false", field=k)
        if action not in C.ACTIONS:
            raise Invalid(f"unknown action {action!r}", field="action", allowed=list(C.ACTIONS))
        category = clean.pop("category")
        make, made = make_task(user, category)
        with ctx.db.connection() as conn:
            c = S.act(conn, cid, action, viewer(user), case=bool(body.get("case")), founded=body.get("founded"),
                      make_task=make, tz=tz_name, **clean)
        for task in made:       # the on-site check's assignee hears of it, after the commit
            p = ctx.registry.person(task["assignee"]) if task.get("assignee") else None
            if p and p.device:
                from casework import task_store as TS

                TS.queue_downlink(ctx.r, ctx.settings.topic_root, p.device, task, f"投诉核查：{task.get('address') or ''}")
        from casework.complaint_escalation import clear_answered

        clear_answered(ctx.alerts, cid, action, f"user:{user.name}")
        with ctx.db.connection() as conn:
            out = S.get(conn, cid, viewer(user))
        return plain({**out, **{k: c[k] for k in ("task", "case") if k in c}})

    # -- cases --------------------------------------------------------------------------------------
    def case_held(user):
        v = viewer(user)
        return lambda row: v.held(row.get("branch"))

    @api.post("/cases", tags=["cases"], status_code=201)
    async def open_case(user: AnyUser, request: Request) -> dict:
        """`{source: {"inspection"|"task"|"complaint": id}, uscc?, summary}` -> the case (clue)."""
        body = await _body(request)
        src = body.get("source")
        if not isinstance(src, dict) or len(src) != 1 or next(iter(src)) not in K.SOURCES \
                or not isinstance(next(iter(src.values())), str):
            raise Invalid('source is {"inspection"|"task"|"complaint": id}', field="source")
        (stype, sid), = src.items()
        _text(**{f"source.{stype}": sid})
        uscc, summary = body.get("uscc"), body.get("summary")
        if uscc is not None and not (isinstance(uscc, str) and C.USCC_SHAPE.match(uscc)):
            raise Invalid("uscc: 18 characters of the USCC alphabet", field="uscc")
        if not isinstance(summary, str) or "\x00" in summary:
            raise Invalid("summary is required, a string", field="summary")
        held = case_held(user)
        with ctx.db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            row = K.create(cur, source_type=stype, source_id=sid, uscc=uscc, summary=summary, actor=f"user:{user.name}")
            if not held(row):
                raise Forbidden("opening a case is for the branch's level-1 supervisors, coordinators and admins")
        return plain(row)

    def case_visible(user, row) -> bool:
        return user.role in S.STAFF

    @api.get("/cases", tags=["cases"])
    def cases(user: AnyUser, state: str | None = None, branch: str | None = None, uscc: str | None = None,
              limit: Annotated[int, Query(ge=1, le=K.MAX_LIMIT)] = 200) -> list[dict]:
        readers(user)
        _text(state=state, branch=branch, uscc=uscc)
        with ctx.db.connection() as conn:
            return plain(K.list_cases(conn, state=state, branch=branch, uscc=uscc, limit=limit))

    @api.get("/cases/{case_id}", tags=["cases"])
    def case(user: AnyUser, case_id: Annotated[str, Path(max_length=64)]) -> dict:
        readers(user)
        _text(id=case_id)
        with ctx.db.connection() as conn:
            row = K.get(conn, case_id)
        if not case_visible(user, row):
            raise HTTPException(404, f"no case {case_id}")
        return plain(row)

    @api.post("/cases/{case_id}/{action}", tags=["cases"])
    async def case_action(user: AnyUser, request: Request, case_id: Annotated[str, Path(max_length=64)],
                          action: str) -> dict:
        """verify, file, decide (document_no, fine_yuan), transfer_police (reason), drop (reason)."""
        _text(id=case_id, action=action)
        body = await _body(request)
        for k in ("document_no", "reason"):
            v = body.get(k)
            if v is not None and (not isinstance(v, str) or len(v) > K.MAX_TEXT or "\x00" in v):
                raise Invalid(f"{k} is a string", field=k)
        if body.get("fine_yuan") is not None and isinstance(body["fine_yuan"], bool):
            raise Invalid("fine_yuan is an amount in yuan", field="fine_yuan")
        with ctx.db.connection() as conn:
            row = K.get(conn, case_id)
            if not case_visible(user, row):
                raise HTTPException(404, f"no case {case_id}")
            K.act(conn, case_id, action, actor=f"user:{user.name}", held_of=case_held(user),
                  document_no=body.get("document_no"), fine_yuan=body.get("fine_yuan"), reason=body.get("reason"))
            return plain(K.get(conn, case_id))
