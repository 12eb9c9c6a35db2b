"""API routes over the double-random draws (CONTRACT.md section 10) and their public page
`/public/draws/{id}` (no login, once published). Routes parse and name the bad field, resolve
the inspector pool from the dataset's people, and call into casework/draw_store.py; after a draw
its tasks go to the inspectors' devices through the alerts' outbox."""
from __future__ import annotations

import html
import logging

import orjson
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from alerts.errors import Invalid
from casework import draw_store as S
from casework import draws as D
from dashboard.deps import AnyUser, Coordinator
from dashboard.i18n import t
from geodata.roles import ROLES

log = logging.getLogger(__name__)
READ_ROLES = ("viewer", "coordinator", "admin", "supervisor")
MAX_TEXT = 200
DrawId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _text(body: dict, name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    v = body.get(name)
    if v is None:
        if required:
            raise Invalid(f"{name} is required", field=name)
        return None
    if not isinstance(v, str) or not v.strip() or len(v) > limit or "\x00" in v:
        raise Invalid(f"{name} is a non-empty text of at most {limit} characters", field=name)
    return v.strip() if name != "seed" else v


def _texts(obj: dict, name: str, field: str) -> list[str]:
    v = obj.get(name)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) and x and "\x00" not in x and len(x) <= MAX_TEXT for x in v):
        raise Invalid(f"{field} is a list of texts", field=field)
    return sorted(set(v))


def parse_request(body, known_grids: set[str]) -> dict:
    """The POST body, checked field by field (422 naming the first bad one)."""
    if not isinstance(body, dict):
        raise Invalid("the body is a JSON object", field="body")
    name = _text(body, "name", required=True)
    checklist = _text(body, "checklist", required=True)
    pop = body.get("population") or {}
    if not isinstance(pop, dict):
        raise Invalid("population is an object {categories?, kinds?, grids?}", field="population")
    population = {k: _texts(pop, k, f"population.{k}") for k in ("categories", "kinds", "grids")}
    unknown = [g for g in population["grids"] if g not in known_grids]
    if unknown:
        raise Invalid(f"unknown grid {', '.join(unknown)}", field="population.grids", unknown=unknown)
    insp = body.get("inspectors") or {}
    if not isinstance(insp, dict):
        raise Invalid("inspectors is an object {roles?, grids?}", field="inspectors")
    roles = _texts(insp, "roles", "inspectors.roles") or list(D.DEFAULT_ROLES)
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise Invalid(f"unknown role {', '.join(bad)}", field="inspectors.roles", allowed=list(ROLES))
    igrids = _texts(insp, "grids", "inspectors.grids")
    unknown = [g for g in igrids if g not in known_grids]
    if unknown:
        raise Invalid(f"unknown grid {', '.join(unknown)}", field="inspectors.grids", unknown=unknown)
    ratio, count = body.get("ratio"), body.get("count")
    if ratio is not None and count is not None:
        raise Invalid("give ratio or count, not both", field="count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise Invalid("count is a whole number of at least 1", field="count")
    ratio_dec = D.parse_ratio(ratio) if ratio is not None else (None if count is not None else D.DEFAULT_RATIO)
    per = body.get("per_entity", D.MIN_PER_ENTITY)
    if isinstance(per, bool) or not isinstance(per, int) or per < D.MIN_PER_ENTITY or per > 50:
        raise Invalid(f"per_entity is a whole number from {D.MIN_PER_ENTITY} to 50", field="per_entity")
    seed = _text(body, "seed")
    commitment = _text(body, "commitment", limit=64)
    replaces = _text(body, "replaces", limit=64)
    reason = _text(body, "reason", limit=2000)
    if replaces and not reason:
        raise Invalid("a draw that replaces another says why", field="reason")
    params = {"population": population, "inspectors": {"roles": sorted(roles), "grids": igrids},
              "ratio": str(ratio_dec) if ratio_dec is not None else None, "count": count, "per_entity": per,
              "seed": "given" if seed else ("committed" if commitment else "generated")}
    return {"name": name, "checklist": checklist, "params": params, "seed": seed, "commitment": commitment,
            "replaces": replaces, "reason": reason,
            "spec": D.Spec(per_entity=per, ratio=ratio_dec, count=count)}


def pool_of(ctx, params: dict) -> list[D.Inspector]:
    """The inspector pool from the dataset's people (they live in the store, not the records:
    the draw keeps the pool it used in its inputs)."""
    people, grids = ctx.dataset.people, ctx.dataset.grids
    parent = {g: p for g, p, lv in zip(grids["id"], grids["parent"], grids["level"]) if lv == 2}
    return D.select_pool(zip(people["id"], people["role"], people["grids"]), params["inspectors"]["roles"],
                         params["inspectors"]["grids"], parent)


def notify(ctx, tasks: list[dict]) -> None:
    """Each task to the devices of its team, after the tasks committed."""
    def device_of(pid):
        person = ctx.registry.person(pid)
        return person.device if person is not None else None

    S.queue_downlinks(ctx.r, ctx.settings.topic_root, tasks, device_of)


def follow_up(ctx, draw_id: str, picks: list[dict]) -> bool:
    """The draw's tasks made and sent, after the draw committed (and, from the API, after its
    answer). A failure is logged and False: the draw is kept, and the dispatcher's repair
    (draw_store.make_pending) makes them; unsent downlinks are task_delivery's repair."""
    try:
        with ctx.db.connection() as conn:
            tasks = S.make_tasks(conn, draw_id, picks=picks)
    except Exception:
        log.exception("draw %s: its tasks were not made now; the dispatcher will make them", draw_id)
        return False
    try:
        if tasks:
            notify(ctx, tasks)
    except Exception:
        log.exception("draw %s: its tasks' downlinks were not queued; the dispatcher will send them", draw_id)
    return True


def make_draw(ctx, user, body, send=None) -> dict:
    """A draw as POST /api/draws makes it (the console's form calls this too): checked, drawn,
    stored; then its tasks made and sent (`follow_up`). Returns the stored draw (as `GET`
    without progress). `send(follow_up, ctx, draw_id, picks)`, when given, does the follow-up
    later (the API: after its answer, so 22,050 tasks do not hold it up); without, it is done
    before this returns."""
    if not user.can_order:
        raise HTTPException(403, f"role {user.role!r} may not make draws")
    req = parse_request(body, set(ctx.dataset.grids["id"]))
    inspectors = pool_of(ctx, req["params"])
    if not inspectors:
        raise Invalid("nobody of these roles and grids is in the dataset's people", field="inspectors")
    with ctx.db.connection() as conn:
        row = S.create(conn, name=req["name"], checklist=req["checklist"], params=req["params"],
                       spec=req["spec"], pool=inspectors, actor=f"user:{user.name}", account=user.name,
                       seed=req["seed"], commitment=req["commitment"], replaces=req["replaces"],
                       reason=req["reason"])
        made = S.as_read(conn, row, tz=ctx.settings.tz)
    if send is None:
        made["tasks_pending"] = not follow_up(ctx, row["id"], row["picks"])
    else:
        send(follow_up, ctx, row["id"], row["picks"])
    return made


def install_draw_routes(api: APIRouter, ctx) -> None:
    tz = ZoneInfo(ctx.settings.tz)

    def plain(doc):
        if isinstance(doc, dict):
            return {k: plain(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [plain(v) for v in doc]
        if isinstance(doc, datetime):
            return doc.astimezone(tz).isoformat()
        if hasattr(doc, "isoformat"):
            return doc.isoformat()
        return doc

    def reader(user) -> None:
        if user.role not in READ_ROLES:
            raise HTTPException(403, f"role {user.role!r} may not read the draws")

    def fast_json(doc, status: int = 200) -> Response:
        # a draw carries thousands of picks: orjson at once, not FastAPI's encoder walk
        return Response(orjson.dumps(doc), status_code=status, media_type="application/json")

    def plain_draw(d: dict) -> dict:
        # a draw's picks hold texts, flags and lists only (no times): not walked
        return {**plain({k: v for k, v in d.items() if k != "picks"}), "picks": d["picks"]}

    @api.post("/draws", tags=["draws"], status_code=201)
    async def create(user: Coordinator, request: Request, later: BackgroundTasks) -> Response:
        """A double-random draw: `{name, checklist, population: {categories?, kinds?, grids?}, ratio?,
        count?, per_entity?: 2, inspectors?: {roles?, grids?}, seed?, commitment?, replaces?, reason?}`.
        Each pick becomes a task for its inspectors. 422 naming the field; nothing stored then."""
        try:
            body = await request.json()
        except ValueError:
            raise Invalid("the body is JSON", field="body") from None
        made = await run_in_threadpool(make_draw, ctx, user, body, later.add_task)
        return fast_json(plain_draw(made), 201)

    @api.post("/draws/commitments", tags=["draws"], status_code=201)
    def commitment(user: Coordinator) -> dict:
        """A seed fixed now and kept secret: `{id, commitment}` (its SHA-256) to show before the
        lists are fixed; `POST /api/draws` with `commitment: id` draws with it and reveals it."""
        with ctx.db.connection() as conn:
            return plain(S.commit(conn, f"user:{user.name}"))

    @api.get("/draws", tags=["draws"])
    def draws(user: AnyUser, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict]:
        """The draws, newest first (without their picks)."""
        reader(user)
        with ctx.db.connection() as conn:
            return plain(S.list_draws(conn, limit))

    @api.get("/draws/{draw_id}", tags=["draws"])
    def draw(user: AnyUser, draw_id: DrawId) -> Response:
        """One draw with its picks, each with its task's state and its inspection's result."""
        reader(user)
        with ctx.db.connection() as conn:
            return fast_json(plain(S.get(conn, draw_id, tz=ctx.settings.tz)))

    @api.get("/draws/{draw_id}/verify", tags=["draws"])
    def verify(user: AnyUser, draw_id: DrawId) -> dict:
        """Redoes the draw from the stored inputs: `{match, problems, ...}`."""
        reader(user)
        with ctx.db.connection() as conn:
            return S.verify(conn, draw_id)

    @api.get("/draws/{draw_id}/inputs", tags=["draws"])
    def inputs(user: AnyUser, draw_id: DrawId) -> Response:
        """The lists the draw was made from, as canonical JSON: its SHA-256 is `inputs_hash`."""
        reader(user)
        with ctx.db.connection() as conn:
            raw = S.inputs_bytes(conn, draw_id)
        return Response(raw, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{draw_id}-inputs.json"'})

    @api.post("/draws/{draw_id}/publish", tags=["draws"])
    def publish(user: Coordinator, draw_id: DrawId) -> dict:
        """Publishes the draw on /public/draws/{id} and seals it: it never changes again."""
        with ctx.db.connection() as conn:
            return plain(S.publish(conn, draw_id, f"user:{user.name}"))


RESULT_ZH = {"pass": "合格", "fail": "不合格", "rectify": "责令整改", None: "检查中"}


def install_draw_pages(server: FastAPI, ctx) -> None:
    tz = ZoneInfo(ctx.settings.tz)

    @server.get("/public/draws/{draw_id}", include_in_schema=False, response_class=HTMLResponse)
    def public_draw(draw_id: DrawId) -> HTMLResponse:
        """The published result, "one public": no login; an unpublished draw is 404."""
        from alerts.errors import NotFound

        with ctx.db.connection() as conn:
            try:
                d = S.get(conn, draw_id, tz=ctx.settings.tz)
            except NotFound:
                d = None
            if d is None or d["published_at"] is None:
                return HTMLResponse(_page(t("draw_public_missing"), f"<p>{html.escape(t('draw_public_missing'))}</p>"),
                                    status_code=404)
            with conn.cursor() as cur:
                cur.execute("SELECT uscc, name, address FROM entities WHERE uscc = ANY(%s)",
                            ([p["uscc"] for p in d["picks"]],))
                ents = {r["uscc"]: r for r in cur.fetchall()}
                cur.execute("SELECT id, name, published_at FROM draws WHERE id = ANY(%s)",
                            ([x for x in (d["replaces"], d["replaced_by"]) if x],))
                others = {r["id"]: r for r in cur.fetchall()}
        return HTMLResponse(_public_html(d, ents, others, tz))


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:1.5em;max-width:60em}"
            "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left}"
            "code{word-break:break-all}.note{background:#fff7e0;padding:.5em}</style></head>"
            f"<body>{body}</body></html>")


def _public_html(d: dict, ents: dict, others: dict, tz) -> str:
    e = html.escape

    def day(v):
        return v.astimezone(tz).strftime("%Y-%m-%d") if v else ""

    rows = "".join(
        f"<tr><td>{i}</td><td>{e(ents.get(p['uscc'], {}).get('name', ''))}</td><td>{e(p['uscc'])}</td>"
        f"<td>{e(ents.get(p['uscc'], {}).get('address', '') or '')}</td><td>{day(p.get('inspected_at'))}</td>"
        f"<td>{e(RESULT_ZH.get(p.get('result'), p.get('result') or ''))}</td></tr>"
        for i, p in enumerate(d["picks"], start=1))
    links = []
    for key, label in (("replaces", "draw_public_replaces"), ("replaced_by", "draw_public_replaced_by")):
        other = d.get(key)
        if other:
            o = others.get(other, {})
            links.append(f"<p class='note'>{e(t(label))}<a href='/public/draws/{e(other)}'>{e(other)}</a> "
                         f"{e(o.get('name', ''))}" + (f"（{e(t('draw_public_reason'))}{e(d['reason'])}）"
                                                       if key == "replaces" and d.get("reason") else "") + "</p>")
    params = d["params"]
    rule = (t("draw_public_ratio", ratio=params["ratio"]) if params.get("ratio")
            else t("draw_public_count", count=params.get("count")))
    body = (f"<h1>{e(t('draw_public_title'))}</h1><h2>{e(d['name'])}</h2>" + "".join(links) +
            f"<p>{e(t('draw_public_id'))}{e(d['id'])} · {e(t('draw_public_drawn'))}{day(d['created_at'])} · "
            f"{e(t('draw_public_published'))}{day(d['published_at'])}</p>"
            f"<p>{e(t('draw_public_population', n=d['population_size'], risk=d['risk_population']))}，{e(rule)}，"
            f"{e(t('draw_public_picked', n=len(d['picks']), risk=d['risk_picks']))}；"
            f"{e(t('draw_public_inspectors', n=d['inspector_pool_size'], per=params.get('per_entity')))}</p>"
            f"<table><tr><th>#</th><th>{e(t('draw_public_entity'))}</th><th>{e(t('draw_public_uscc'))}</th>"
            f"<th>{e(t('draw_public_address'))}</th><th>{e(t('draw_public_date'))}</th>"
            f"<th>{e(t('draw_public_result'))}</th></tr>{rows}</table>"
            f"<h3>{e(t('draw_public_check'))}</h3><p>{e(t('draw_public_how'))}</p>"
            f"<p>{e(t('draw_public_seed'))}<code>{e(d['seed'])}</code>"
            + (f"<br>{e(t('draw_public_commitment'))}<code>{e(d['seed_commitment'])}</code>" if d.get("seed_commitment") else "")
            + f"<br>population_hash <code>{e(d['population_hash'])}</code><br>inspectors_hash "
            f"<code>{e(d['inspectors_hash'])}</code><br>inputs_hash <code>{e(d.get('inputs_hash') or '')}</code>"
            f"<br>{e(t('draw_public_hash'))}<code>{e(d.get('hash') or '')}</code></p>"
            f"<pre>{e(d['algorithm'])}</pre>")
    return _page(f"{t('draw_public_title')} {d['name']}", body)
