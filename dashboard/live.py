"""What the pages show and how it reaches them. One `LiveHub` per web process follows the
store's live deltas and the order/alert notices on Redis pub/sub, turns them into full
features and panel rows once, and fans them out to every open page (supervisor deltas as
server-sent events, panels through Dash's WebSocket).
Also the page actions (issue an order, acknowledge, terminal buttons), which call alerts/."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson

from alerts.errors import AlertsError
from alerts.keys import CHANNEL_ALERTS, CHANNEL_ORDERS
from geodata.roles import SUPERVISOR_ROLES
from gridwatch.redisconn import Backoff, aconnect
from layers.alerts import alert_row
from layers.orders import median_time_to_ack, order_row, orders_geojson
from layers.palette import MEASURE
from layers.supervisors import presence_counts, supervisors_geojson
from telemetry.store import DELTAS

log = logging.getLogger(__name__)

DELTA_FLUSH_S = 0.05     # coalescing window for device deltas
PANEL_EVERY_S = 1.0      # panels refresh at least this often (countdowns, ages)
SWEEP_EVERY_S = 5.0      # presence changes by the clock alone (live -> stale -> offline)
COVERAGE_EVERY_S = 10.0  # live coverage and the day's median time to ack, off the request path
LINGER_S = 120.0         # the hub keeps following this long after its last page closed
QUEUE_MAX = 64           # per page; a page that falls this far behind loses its oldest pushes
_CLOSING = ("closing", None)  # put in every follower's queue when the web process stops


# -- snapshots (sync; called in threads) ------------------------------------------------------

def _names(ctx) -> dict[str, str]:
    return ctx.person_names


def device_states(ctx, devices=None) -> list[dict]:
    """Every device's live state as a dict (one Redis read of them all), or the given devices'."""
    return [s.as_dict() for s in ctx.store.devices(None if devices is None else list(devices))]


def supervisor_features(ctx, states: list[dict]) -> dict:
    return ctx.to_map(supervisors_geojson(states, _names(ctx)))


def supervisors_snapshot(ctx, devices=None) -> dict:
    """Supervisors as map features: all, or the given devices."""
    return supervisor_features(ctx, device_states(ctx, devices))


def coverage(ctx, states: list[dict] | None = None) -> dict:
    """The coverage layer's data (the thin and the uncovered cells, each merged into one outline,
    in the map's datum) and the uncovered %."""
    from layers.coverage import nearest_distance_m, regions

    states = device_states(ctx) if states is None else states
    on = [s for s in states if s["lat"] is not None and s["fresh"] == "live"
          and s["status"] == "on_duty" and s["role"] in SUPERVISOR_ROLES]
    dist = nearest_distance_m(ctx.coverage_grid, [s["lat"] for s in on], [s["lon"] for s in on])
    out = regions(ctx.coverage_grid, dist)
    return {"fc": ctx.to_map(out["fc"]), "pct": out["pct"]}


def median_ack_today(ctx, now: float | None = None) -> float | None:
    """Median time to acknowledge over the orders of the last 24 h (reads every such order:
    the hub does it every few seconds, not with each panel)."""
    now = time.time() if now is None else now
    return median_time_to_ack([o for o in ctx.orders.list(limit=500) if float(o["issued_at"]) >= now - 86400])


def panels(ctx, now: float | None = None, uncovered_pct: float | None = None,
           median_ack_s: float | None = None, states: list[dict] | None = None) -> dict:
    """KPIs, open alerts and orders, and the orders layer; `states`: the devices' states if the
    caller has them (the hub keeps them), else read here."""
    now = time.time() if now is None else now
    names, grids = _names(ctx), ctx.grid_names
    states = device_states(ctx) if states is None else states
    open_orders = ctx.orders.list("open")
    open_alerts = ctx.alerts.list("open")
    kpis = {**presence_counts(states), "open_orders": len(open_orders), "open_alerts": len(open_alerts),
            "median_ack_s": median_ack_s, "uncovered_pct": uncovered_pct,
            "clock": time.strftime("%Y-%m-%d %H:%M", time.localtime(now))}
    positions = {s["device"]: (s["lat"], s["lon"]) for s in states if s.get("lat") is not None}
    return {
        "kpis": kpis,
        "alerts": [alert_row(a, names, grids, now) for a in open_alerts],
        "orders": [order_row(o, names, grids, now) for o in open_orders],
        "orders_layer": ctx.to_map(orders_geojson(open_orders, positions)),
    }


def orders_layer(ctx) -> dict:
    """The open orders with their recipients' lines; from the hub's recent panels when it has
    them (they hold it, a second old at most), else with every device read here."""
    recent = ctx.hub.recent_panels()
    if recent is not None:
        return recent["orders_layer"]
    states = ctx.store.devices()
    positions = {s.device: (s.lat, s.lon) for s in states if s.lat is not None}
    return ctx.to_map(orders_geojson(ctx.orders.list("open"), positions))


# -- the hub ------------------------------------------------------------------------------------

class LiveHub:
    def __init__(self, ctx):
        self.ctx = ctx
        self.queues: set[asyncio.Queue] = set()
        self.task: asyncio.Task | None = None
        self.coverage: dict | None = None
        self.median_ack: float | None = None
        # every device's state as last read: the changed ones on each delta, all of them on each
        # sweep; panels and coverage are computed from it instead of reading 10k hashes again
        self.states: dict[str, dict] = {}
        self.synced = False
        self.last_panels: tuple[float, dict] | None = None  # (monotonic time, panels)
        self.closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._left = 0.0  # monotonic time the last follower left

    def close(self) -> None:
        """The web process is stopping: end every follower (server-sent event streams, the
        pages' WebSocket callbacks) now. Otherwise uvicorn's graceful shutdown waits for these
        endless responses until it is killed. Safe from a signal handler or another thread."""
        self.closing = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for q in list(self.queues):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(_CLOSING)

    def recent_panels(self, max_age_s: float = 2 * PANEL_EVERY_S) -> dict | None:
        """The panels the hub last sent, if recent: a page's first layout needn't read them again."""
        p = self.last_panels
        return p[1] if p is not None and time.monotonic() - p[0] <= max_age_s else None

    def _broadcast(self, item) -> None:
        for q in list(self.queues):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(item)

    @property
    def live_coverage(self) -> dict | None:
        """The coverage while the hub runs; None once it stopped (it may be long out of date)."""
        return self.coverage if self.task is not None and not self.task.done() else None

    async def subscribe(self, alive=lambda: True, snapshot: bool = False):
        """Items for one follower until `alive()` turns false. With `snapshot`, the first item
        is every supervisor as a delta, read after the follower's queue exists, so nothing
        that changes in between is missed (a reconnecting EventSource gets it again)."""
        if self.closing:
            return
        self._loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue(QUEUE_MAX)
        if self.task is None or self.task.done():
            # what the hub knew when it last stopped may be old: the snapshot reads Redis again,
            # and the coverage comes with the restarted hub's first round
            self.synced, self.coverage = False, None
            self.task = asyncio.get_running_loop().create_task(self._run())
        if self.coverage is not None:
            q.put_nowait(("coverage", self.coverage))  # a new page needn't wait for the next round
        self.queues.add(q)
        try:
            if snapshot:
                # the hub's states are at most a sweep old, and every change after them reaches
                # this follower's queue, which exists already
                if self.synced:
                    fc = await asyncio.to_thread(supervisor_features, self.ctx, list(self.states.values()))
                else:
                    fc = await asyncio.to_thread(supervisors_snapshot, self.ctx)
                yield "delta", fc
            while alive() and not self.closing:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=PANEL_EVERY_S * 2)
                except asyncio.TimeoutError:
                    continue  # look at alive() again
                if item is _CLOSING:
                    return
                yield item
        finally:
            self.queues.discard(q)
            self._left = time.monotonic()

    def _wanted(self) -> bool:
        """A page follows, or one left within LINGER_S: a wall reloaded (or the next shift's
        display switched on) then finds every state, the panels and the coverage current
        instead of reading 10k devices while it waits."""
        return not self.closing and (bool(self.queues) or time.monotonic() - self._left < LINGER_S)

    async def _run(self) -> None:
        backoff = Backoff()
        while self._wanted():
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis restarts: log, wait, follow again
                log.exception("live hub lost Redis; retrying")
                await asyncio.sleep(backoff.delay())

    async def _follow(self) -> None:
        # a cluster client too: classic pub/sub reaches subscribers on any node
        client = await aconnect(self.ctx.settings.redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(DELTAS, CHANNEL_ALERTS, CHANNEL_ORDERS)
        changed: set[str] = set()
        dirty, last_panel, last_sweep, last_cover = True, 0.0, 0.0, 0.0
        try:
            while self._wanted():
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=DELTA_FLUSH_S)
                while msg is not None:
                    channel = msg["channel"].decode()
                    if channel == DELTAS:
                        changed.update(d["device"] for d in orjson.loads(msg["data"]))
                    else:
                        dirty = True
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
                if changed:
                    devices, changed = list(changed), set()
                    states = await asyncio.to_thread(device_states, self.ctx, devices)
                    self.states.update((st["device"], st) for st in states)
                    self._broadcast(("delta", await asyncio.to_thread(supervisor_features, self.ctx, states)))
                now = time.monotonic()
                if now - last_sweep >= SWEEP_EVERY_S:
                    last_sweep = now
                    await self._sweep()
                if now - last_cover >= COVERAGE_EVERY_S:
                    last_cover = now
                    await asyncio.to_thread(self.ctx.follow_dataset)  # grid names and people of a new load
                    self.coverage = await asyncio.to_thread(coverage, self.ctx, list(self.states.values()))
                    self.median_ack = await asyncio.to_thread(median_ack_today, self.ctx)
                    self._broadcast(("coverage", self.coverage))
                if dirty or now - last_panel >= PANEL_EVERY_S:
                    dirty, last_panel = False, now
                    pct = self.coverage["pct"] if self.coverage else None
                    p = await asyncio.to_thread(panels, self.ctx, None, pct, self.median_ack, list(self.states.values()))
                    self.last_panels = (time.monotonic(), p)
                    self._broadcast(("panels", p))
        finally:
            await pubsub.aclose()
            await client.aclose()

    async def _sweep(self) -> None:
        """Sends the devices whose presence changed with the clock, not with a message."""
        states = await asyncio.to_thread(device_states, self.ctx)
        before, self.states = self.states, {st["device"]: st for st in states}
        self.synced = True
        moved = [st for st in states if (before.get(st["device"]) or {}).get("fresh") != st["fresh"]]
        if moved:
            self._broadcast(("delta", await asyncio.to_thread(supervisor_features, self.ctx, moved)))


class Changes:
    """What one page was last sent: a prop is pushed again only when its data changed, so a
    quiet second costs the browser nothing."""

    def __init__(self):
        self.last: dict[str, object] = {}

    def set(self, component: str, data, render) -> None:
        from dash import set_props

        if self.last.get(component, self) == data:
            return
        self.last[component] = data
        set_props(component, render(data))


async def follow(ctx, alive=lambda: True):
    async for item in ctx.hub.subscribe(alive):
        yield item


async def follow_orders(ctx, alive=lambda: True):
    async for kind, _ in ctx.hub.subscribe(alive):
        if kind == "panels":
            yield kind


def choropleth(ctx, measure: str) -> dict:
    """The level-2 grid layer's hideout for one measure (see layers.choropleth)."""
    from layers.choropleth import counts_by_grid, measure_hideout

    if measure == "supervisors_live":
        vals = counts_by_grid(s.l2 for s in ctx.store.devices() if s.fresh == "live" and s.role in SUPERVISOR_ROLES)
        return measure_hideout(vals, MEASURE["supervisors"])
    if measure == "open_orders":
        return measure_hideout(counts_by_grid(o.get("grid") for o in ctx.orders.list("open")), MEASURE["orders"])
    if measure == "open_alerts":
        return measure_hideout(counts_by_grid(a.get("grid") for a in ctx.alerts.list("open")), MEASURE["alerts"])
    if measure == "entities":
        return ctx.cached("choropleth-entities", lambda: measure_hideout(
            counts_by_grid(ctx.dataset.entities["grid"]), MEASURE["entities"]))
    return measure_hideout({})


# -- console --------------------------------------------------------------------------------------

def _person_row(p) -> dict:
    return {"id": p.id, "name": p.name, "role": p.role, "phone": p.phone, "device": p.device}


def point_info(ctx, lat: float, lon: float, k: int = 5) -> dict:
    """The grids at a point with their responsible people, the k nearest eligible supervisors,
    and who an order here would go to: `Orders.suggest`, the very choice `POST /api/orders`
    makes without `recipients`, with the rule and the reason of each pick and skip."""
    l1, l2 = ctx.index.locate_one(lat, lon)
    out: dict = {"level1": None, "level2": None}
    for key, gid in (("level1", l1), ("level2", l2)):
        if gid:
            resp = ctx.registry.responsible(gid)
            people = [v for v in (resp.get("l1_supervisor"), resp.get("l2_supervisor")) if v]
            people += list(resp.get("assistants", ())) + list(resp.get("informants", ()))
            out[key] = {"id": gid, "name": ctx.grid_names.get(gid, gid), "people": [_person_row(p) for p in people]}
    names = _names(ctx)
    found = ctx.world.nearest(lat, lon, k)  # the order desk's own nearest: its roles and rules
    out["nearest"] = [{"device": c.device, "name": names.get(c.person or "", c.device), "distance_m": c.distance_m,
                       "role": getattr(ctx.registry.person_of_device(c.device), "role", None), "status": c.status, "fresh": c.fresh} for c in found]
    sug = ctx.orders.suggest(lat, lon)
    out["suggested"] = [{"device": p.device, "name": names.get(p.person or "", p.device), "rule": p.rule,
                         "rank": p.rank, "distance_m": p.distance_m, "reason": p.reason} for p in sug["picks"]]
    out["notes"] = sug["notes"]
    out["k"] = sug["k"]
    return out


def entities_at(ctx, lat: float, lon: float) -> dict:
    """The market entities of the level-2 grid holding the point (details on hover)."""
    from layers.entities import entities_geojson

    _, l2 = ctx.index.locate_one(lat, lon)
    e = ctx.dataset.entities
    return ctx.to_map(entities_geojson(e[e["grid"] == l2] if l2 else e.iloc[:0]))


ENTITY_FIELDS = ("uscc", "name", "kind", "category", "address", "lat", "lon", "grid")


def search(ctx, query: str) -> dict | None:
    """A grid (by id or name) or an entity (by credit code) -> a point to centre on, the zoom to
    show it at and, for an entity, its details."""
    g = ctx.dataset.grids
    hit = g[(g["id"] == query) | (g["name"].str.contains(query, regex=False))]
    if len(hit):
        pt = hit.iloc[0].geometry.representative_point()
        return {"lat": pt.y, "lon": pt.x, "zoom": 12 if int(hit.iloc[0]["level"]) == 1 else 14}
    e = ctx.dataset.entities
    hit = e[e["uscc"] == query.upper()]
    if len(hit):
        row = hit.iloc[0]
        entity = {k: (None if row.get(k) is None or row.get(k) != row.get(k) else row.get(k)) for k in ENTITY_FIELDS}
        return {"lat": float(row["lat"]), "lon": float(row["lon"]), "zoom": 17,
                "entity": {**entity, "lat": float(row["lat"]), "lon": float(row["lon"])}}
    return None


def issue_order(ctx, user, lat, lon, title, body, kind, priority, recipients) -> dict:
    """From the console: `recipients` None lets the platform choose (the order escalates),
    a list makes them explicit. Raises AlertsError with the server's reason."""
    req = {"lat": lat, "lon": lon, "title": title, "body": body, "kind": kind, "priority": priority}
    if recipients is not None:
        req["recipients"] = recipients
    return ctx.orders.issue(req, f"user:{user.name}", source="console")


def order_action(ctx, user, order_id: str, act: str, lang: str) -> str:
    """Cancel or close from the console; what happened, or why the server refused, in words."""
    from dashboard.i18n import code, error_text, t

    try:
        before = ctx.orders.get(order_id, with_audit=False)["state"]
        o = ctx.orders.cancel(order_id, f"user:{user.name}") if act == "cancel" \
            else ctx.orders.close(order_id, f"user:{user.name}")
    except AlertsError as exc:
        return error_text(exc, lang, ctx.person_names, ctx.grid_names, act=act)
    if before == o["state"]:
        return t("already_order", lang, order=order_id, state=code("order", o["state"], lang))
    return t(f"done_{act}", lang, order=order_id)


def ack_alert(ctx, user, alert_id: str, lang: str) -> str:
    from dashboard.i18n import error_text, t

    try:
        before = ctx.alerts.get(alert_id)
        if before.get("acked_by"):
            return t("already_acked", lang, who=_actor_name(ctx, before["acked_by"]))
        ctx.alerts.ack(alert_id, f"user:{user.name}")
    except AlertsError as exc:
        return error_text(exc, lang, ctx.person_names, ctx.grid_names)
    return t("done_ack", lang)


def _actor_name(ctx, actor: str) -> str:
    who = actor.split(":", 1)[-1]
    return ctx.person_names.get(who, who)


def trail_geojson(ctx, device: str, t0: float, t1: float) -> dict:
    fixes = ctx.store.trail(device, t0, t1)
    if len(fixes) < 2:
        return {"type": "FeatureCollection", "features": []}
    return ctx.to_map({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"device": device, "from": fixes[0].tst, "to": fixes[-1].tst},
        "geometry": {"type": "LineString", "coordinates": [[f.lon, f.lat] for f in fixes]}}]})


# -- terminal ------------------------------------------------------------------------------------

def _my_device(ctx, user) -> str | None:
    p = ctx.registry.person(user.person) if user and user.person else None
    return p.device if p is not None else None


def terminal_state(ctx, user) -> dict:
    from alerts.states import REPORTABLE, decide_recipient

    p = ctx.registry.person(user.person)
    device = p.device if p else None
    state = ctx.store.device(device) if device else None
    now = time.time()
    orders = []
    for o in (ctx.orders.for_device(device) if device else []):
        mine = next((r for r in o["recipients"] if r["device"] == device), None)
        if mine is None:
            continue
        row = order_row(o, ctx.person_names, ctx.grid_names, now)
        row.update(body=o.get("body", ""), my_state=mine["state"], next_states=[t for t in REPORTABLE
                                                                     if decide_recipient(mine["state"], t).applies])
        orders.append(row)
    return {"name": p.name if p else user.name, "device": device,
            "status": state.status if state else "off_duty", "orders": orders}


def terminal_transition(ctx, user, order_id: str, target: str) -> str:
    device = _my_device(ctx, user)
    try:
        res = ctx.orders.report(order_id, device, target, f"user:{user.name}")
    except AlertsError as exc:
        return f"✗ {exc}"
    return "✓" if res.get("changed") else (res.get("reason") or "")


def may_cancel_sos(user, alert: dict) -> bool:
    """A coordinator or admin, or the supervisor whose device raised it."""
    return bool(user) and (user.can_order or (user.person is not None and user.person == alert.get("person")))


def cancel_sos(ctx, user, alert_id: str) -> dict:
    """Withdraw a mistaken SOS (alerts.Alerts.cancel_sos); PermissionError for anyone else."""
    if not may_cancel_sos(user, ctx.alerts.get(alert_id)):
        raise PermissionError("only the supervisor who raised the SOS, a coordinator or an admin may cancel it")
    return ctx.alerts.cancel_sos(alert_id, f"user:{user.name}")


def my_active_sos(ctx, user) -> dict | None:
    device = _my_device(ctx, user)
    aid = ctx.alerts.active("sos", device) if device else None
    return ctx.alerts.get(aid) if aid else None


def terminal_cancel_sos(ctx, user, lang: str) -> str:
    """The terminal's "mistake" button: the SOS is cancelled (kept, marked as his) and his
    device goes back on duty."""
    from dashboard.i18n import error_text, t

    a = my_active_sos(ctx, user)
    if a is None:
        return t("sos_none", lang)
    try:
        cancel_sos(ctx, user, a["id"])
    except AlertsError as exc:
        return error_text(exc, lang, ctx.person_names, ctx.grid_names)
    terminal_status(ctx, user, "on_duty")
    return t("sos_cancelled", lang)


def terminal_status(ctx, user, st: str) -> None:
    """The page's duty buttons and SOS, as a status message of the user's own device."""
    device = _my_device(ctx, user)
    if device is None:
        return
    if st == "sos":
        s = ctx.store.device(device)
        ctx.alerts.sos(device, f"user:{user.name}", lat=s.lat if s else None, lon=s.lon if s else None)
    ctx.pipeline.handle(f"{ctx.settings.topic_root}/{device}/status",
                        orjson.dumps({"st": st, "tst": int(time.time())}))
    ctx.pipeline.flush_deltas(force=True)
