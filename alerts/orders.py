"""Orders: issue at a point, recipients' reports, cancel and close, and the escalation timer.

Every change is one optimistic transaction (WATCH the order's keys, decide with the pure
table in states.py, MULTI: change + audit entry + downlink in the outbox + timer). A report
racing the escalation of the same order makes one of the two transactions fail and retry
against the new state, so an acknowledged order never escalates (grafana/oncall#3161).
"""
from __future__ import annotations

import time
from typing import Iterable

import orjson
import redis

from alerts import audit, keys, outbox, states
from alerts.alerts import queue_clear, queue_raise, read_alert_in
from alerts.choice import Pick, choose, next_nearest
from alerts.errors import Conflict, Invalid, NotFound
from alerts.models import OrderMessage, OrderRequest
from alerts.tx import transact
from alerts.world import World
from gridwatch.settings import Settings

SYSTEM = "system:dispatcher"
_ORDER_SCALARS = ("lat", "lon", "issued_at", "ack_by", "acked_at", "closed_at", "cancelled_at")
_ORDER_INTS = ("priority", "k", "round", "depth")


def _read_order(pipe, order_id: str) -> dict | None:
    raw = pipe.hgetall(keys.order(order_id))
    if not raw:
        return None
    o = {audit.text(k): audit.text(v) for k, v in raw.items()}
    for f in _ORDER_SCALARS:
        o[f] = float(o[f]) if o.get(f) else None
    for f in _ORDER_INTS:
        o[f] = int(o[f]) if o.get(f) else 0
    o["choice"] = orjson.loads(o.get("choice") or "[]")
    o["alerts"] = orjson.loads(o.get("alerts") or "[]")
    return o


def _read_recipients(pipe, order_id: str) -> dict[str, dict]:
    return {audit.text(d): orjson.loads(v) for d, v in pipe.hgetall(keys.recipients(order_id)).items()}


def _put_recipient(pipe, order_id: str, rec: dict) -> None:
    pipe.hset(keys.recipients(order_id), rec["device"], orjson.dumps(rec))


def _move_recipient(pipe, order_id: str, rec: dict, target: str, ts: float, actor: str,
                    data: dict | None = None) -> None:
    before = rec["state"]
    rec["state"] = target
    rec["t"][target] = ts
    if data and data.get("note"):
        rec["note"] = data["note"]
    _put_recipient(pipe, order_id, rec)
    audit.record(pipe, ts=ts, actor=actor, kind="recipient", event="transition", order=order_id,
                 device=rec["device"], before=before, after=target, data=data)


def _add_recipient(pipe, order: dict, pick: Pick, rnd: int, ts: float, actor: str,
                   ack_by: float, root: str) -> dict:
    rec = {"device": pick.device, "person": pick.person, "state": states.SENT, "round": rnd,
           "reason": pick.reason, "distance_m": pick.distance_m, "ack_by": ack_by,
           "t": {states.SENT: ts}, "note": ""}
    _put_recipient(pipe, order["id"], rec)
    audit.record(pipe, ts=ts, actor=actor, kind="recipient", event="added", order=order["id"],
                 device=pick.device, before="", after=states.SENT,
                 data={"person": pick.person, "reason": pick.reason, "round": rnd,
                       "distance_m": pick.distance_m})
    msg = OrderMessage(id=order["id"], kind=order["kind"], priority=order["priority"],
                       title=order["title"], body=order["body"], lat=order["lat"], lon=order["lon"],
                       grid=order.get("grid") or None, issued_at=order["issued_at"], ack_by=ack_by)
    outbox.queue(pipe, root, pick.device, "orders", msg.dump(), order=order["id"])
    return rec


def _end_alerts(pipe, order: dict, ts: float, actor: str, reason: str) -> None:
    """Clear the order's escalation alerts still active (read under WATCH by the caller)."""
    for row in order.get("_alert_rows", ()):
        if row["state"] != states.ALERT_CLEARED:
            queue_clear(pipe, row, ts, actor, reason)


def _watch_alerts(pipe, order: dict) -> None:
    """Add the order's escalation alerts to the WATCH set and keep their rows for `_end_alerts`:
    a duty officer acknowledging one at the same moment must not be overwritten."""
    ids = order.get("alerts") or []
    if ids:
        pipe.watch(*[keys.alert(a) for a in ids])
    order["_alert_rows"] = [row for a in ids if (row := read_alert_in(pipe, a)) is not None]


class Orders:
    """The order desk: what the API routes, the terminal page and the dispatcher call.

    `world` is needed only to choose recipients (issue, escalate); reads work without it.
    """

    def __init__(self, r: redis.Redis, settings: Settings, world: World | None = None):
        self.r = r
        self.settings = settings
        self.world = world
        self.root = settings.topic_root

    # -- issue -----------------------------------------------------------------------------
    def issue(self, req: OrderRequest | dict, actor: str, *, now: float | None = None,
              source: str = "api", alert: str = "", exclude: Iterable[str] = ()) -> dict:
        """Create an order at a point and queue it to its recipients; returns the order view.

        Raises Invalid for a bad body, unknown explicit recipients or nobody to send it to.
        """
        if not isinstance(req, OrderRequest):
            try:
                req = OrderRequest.model_validate(req)
            except Exception as e:  # pydantic.ValidationError, kept out of the web layer
                raise Invalid("invalid order", errors=_errors(e)) from None
        now = time.time() if now is None else now
        picks, notes, l1_grid, grid = self._choose(req, exclude)
        if not picks:
            raise Invalid("no recipient for this order", reasons=notes)
        order_id = keys.next_order_id(self.r, now, self.settings.timezone)
        ack_by = now + self.settings.ack_timeout_s
        order = {
            "id": order_id, "kind": req.kind, "priority": req.priority, "title": req.title,
            "body": req.body, "lat": req.lat, "lon": req.lon, "grid": grid or "",
            "l1_grid": l1_grid or "", "state": states.OPEN, "issued_at": now, "issued_by": actor,
            "ack_by": ack_by, "k": req.k, "round": 0, "depth": self.settings.escalation_depth,
            "source": source, "alert": alert, "explicit": "1" if req.recipients else "",
        }
        choice = [{"round": 0, "at": now, "picks": [p.__dict__ for p in picks], "notes": notes}]

        def fn(pipe):
            if pipe.exists(keys.order(order_id)):
                raise Conflict("order id taken", reason=f"{order_id} exists")
            pipe.multi()
            self._queue_issue(pipe, order, choice, picks, now, actor)
        transact(self.r, [keys.order(order_id)], fn)
        return self.get(order_id)

    def _queue_issue(self, pipe, order: dict, choice: list, picks: list[Pick], now: float, actor: str):
        """Queue the writes of a new order (the caller holds MULTI): SOS reuses it."""
        oid = order["id"]
        pipe.hset(keys.order(oid), mapping={**{k: ("" if v is None else v) for k, v in order.items()},
                                             "choice": orjson.dumps(choice), "alerts": b"[]"})
        pipe.zadd(keys.ORDERS, {oid: now})
        pipe.sadd(keys.OPEN_ORDERS, oid)
        audit.record(pipe, ts=now, actor=actor, kind="order", event="issued", order=oid,
                     before="", after=states.OPEN,
                     data={"kind": order["kind"], "priority": order["priority"], "title": order["title"],
                           "lat": order["lat"], "lon": order["lon"], "grid": order["grid"],
                           "source": order["source"], "choice": choice[0]})
        for p in picks:
            _add_recipient(pipe, order, p, 0, now, actor, order["ack_by"], self.root)
        # Explicit recipients are the coordinator's choice: they are timed, never replaced.
        pipe.zadd(keys.TIMERS, {oid: order["ack_by"]})

    def suggest(self, lat: float, lon: float, k: int | None = None) -> dict:
        """Who an order at this point would go to if issued now without `recipients`: the very
        choice `issue` makes (the console shows it, and issues without `recipients` when the
        coordinator leaves it unchanged, so the order escalates). Raises Invalid for a bad point."""
        try:
            req = OrderRequest(lat=lat, lon=lon, title="-", **({} if k is None else {"k": k}))
        except Exception as e:  # pydantic.ValidationError
            raise Invalid("invalid order", errors=_errors(e)) from None
        picks, notes, l1_grid, grid = self._choose(req, ())
        return {"picks": picks, "notes": notes, "level1": l1_grid, "level2": grid, "k": req.k}

    def _choose(self, req: OrderRequest, exclude: Iterable[str]) -> tuple[list[Pick], list[str], str | None, str | None]:
        world = self._world()
        l1_grid, grid = world.locate(req.lat, req.lon)
        if req.recipients:
            picks, unknown = [], []
            for rid in dict.fromkeys(req.recipients):
                device = world.device_of(rid) or (rid if world.person_of(rid) else None)
                if device is None:
                    unknown.append(rid)
                else:
                    picks.append(Pick(device, world.person_of(device), "chosen by the coordinator", rule="chosen"))
            if unknown:
                raise Invalid("unknown recipients", unknown=unknown)
            return list({p.device: p for p in picks}.values()), [], l1_grid, grid
        exclude = set(exclude)
        responsible = world.responsible(grid) if grid else None
        dev = world.device_of(responsible) if responsible else None
        state = world.candidate(dev) if dev else None
        nearest = world.nearest(req.lat, req.lon, req.k + 1 + len(exclude), exclude=exclude)
        picks, notes = choose(grid=grid, responsible=responsible, responsible_state=state,
                              nearest=nearest, k=req.k, exclude=exclude)
        return picks, notes, l1_grid, grid

    def _world(self) -> World:
        if self.world is None:
            raise RuntimeError("this Orders desk was built without a World; it cannot choose recipients")
        return self.world

    # -- reads -----------------------------------------------------------------------------
    def get(self, order_id: str, *, with_audit: bool = True) -> dict:
        """One order with each recipient's state, timestamps and durations, and its audit trail."""
        (o,) = self._read_many([order_id])
        if o is None:
            raise NotFound(f"no order {order_id}", order=order_id)
        if with_audit:
            o["audit"] = [e.row() for e in audit.read_order(self.r, order_id)]
        return o

    def _read_many(self, ids: list[str]) -> list[dict | None]:
        """The orders (None where there is none), in one round trip whatever their number."""
        with self.r.pipeline(transaction=False) as p:
            for oid in ids:
                p.hgetall(keys.order(oid))
                p.hgetall(keys.recipients(oid))
            replies = p.execute()
        out = []
        for oid, raw, rraw in zip(ids, replies[0::2], replies[1::2]):
            if not raw:
                out.append(None)
                continue
            o = _read_order(_Const(raw), oid)
            o.pop("explicit", None)
            rec = [_recipient_view(orjson.loads(v)) for v in rraw.values()]
            rec.sort(key=lambda x: (x["round"], x["t"].get("sent", 0), x["device"]))
            o["recipients"] = rec
            out.append(o)
        return out

    def list(self, state: str | None = None, limit: int = 200) -> list[dict]:
        """Orders, newest first; `state` filters on open, closed or cancelled."""
        if state is not None and state not in states.ORDER_STATES:
            raise Invalid(f"unknown order state {state!r}", allowed=list(states.ORDER_STATES))
        if state == states.OPEN:
            ids = sorted((audit.text(i) for i in self.r.smembers(keys.OPEN_ORDERS)), reverse=True)
        else:
            ids = [audit.text(i) for i in self.r.zrevrange(keys.ORDERS, 0, -1 if state else limit - 1)]
        out = []
        for at in range(0, len(ids), max(limit, 1)):  # a page of reads per round trip
            for o in self._read_many(ids[at:at + max(limit, 1)]):
                if o is not None and (state is None or o["state"] == state):
                    out.append(o)
                    if len(out) >= limit:
                        return out
        return out

    def for_device(self, device: str) -> list[dict]:
        """Open orders a device is a recipient of (the terminal page)."""
        ids = [audit.text(i) for i in self.r.smembers(keys.OPEN_ORDERS)]
        out = [o for o in self._read_many(ids)
               if o is not None and any(x["device"] == device for x in o["recipients"])]
        return sorted(out, key=lambda o: -o["issued_at"])

    # -- recipients' reports -----------------------------------------------------------------
    def report(self, order_id: str, device: str, state: str, actor: str, *, note: str = "",
               now: float | None = None, device_tst: float | None = None) -> dict:
        """A recipient's step (from its ack message, the terminal page or a coordinator).

        Returns {"changed": bool, "reason": str, "recipient": {...}}; a duplicate or stale
        report changes nothing. Raises NotFound (no order or not a recipient), Invalid (not a
        reportable state), Conflict (illegal move, with the reason).
        """
        if state not in states.REPORTABLE:
            raise Invalid(f"{state!r} cannot be reported", allowed=sorted(states.REPORTABLE))
        now = time.time() if now is None else now

        def fn(pipe):
            order = _read_order(pipe, order_id)
            if order is None:
                raise NotFound(f"no order {order_id}", order=order_id)
            recs = _read_recipients(pipe, order_id)
            rec = recs.get(device)
            if rec is None:
                raise NotFound(f"{device} is not a recipient of {order_id}", order=order_id, device=device)
            d = states.decide_recipient(rec["state"], state)
            if d.verdict == "refuse":
                raise Conflict(f"{device} on {order_id}: {d.reason}", reason=d.reason,
                               state=rec["state"], requested=state)
            if d.verdict == "noop":
                return {"changed": False, "reason": d.reason, "recipient": _recipient_view(rec)}
            first_take = state in states.ENGAGED and not any(
                states.is_engaged(x["state"]) for x in recs.values())
            if first_take:
                _watch_alerts(pipe, order)
            pipe.multi()
            data = {"note": note} if note else {}
            if device_tst is not None:
                data["device_tst"] = device_tst
            _move_recipient(pipe, order_id, rec, state, now, actor, data)
            if first_take and order["state"] == states.OPEN:
                # Taken: the escalation stops here, and its alerts end with it.
                pipe.zrem(keys.TIMERS, order_id)
                pipe.hset(keys.order(order_id), "acked_at", now)
                _end_alerts(pipe, order, now, actor, f"order {order_id} acknowledged by {device}")
            elif state == states.DECLINED and order["state"] == states.OPEN and not any(
                    x["state"] not in states.TERMINAL_RECIPIENT or states.is_engaged(x["state"])
                    for d_, x in recs.items() if d_ != device):
                # Everyone asked has said no: escalate now rather than wait out the timer.
                pipe.zadd(keys.TIMERS, {order_id: now}, xx=True)
            return {"changed": True, "reason": "", "recipient": _recipient_view(rec)}

        return transact(self.r, [keys.order(order_id), keys.recipients(order_id)], fn)

    # -- coordinator actions -------------------------------------------------------------------
    def cancel(self, order_id: str, actor: str, *, reason: str = "", now: float | None = None) -> dict:
        """Cancel: every recipient not done is stood down and sent `{"_type": "cancel"}`."""
        return self._end(order_id, states.CANCELLED, actor, reason, now)

    def close(self, order_id: str, actor: str, *, note: str = "", now: float | None = None) -> dict:
        """Close: the order is done; those who never took it are stood down (and told so)."""
        return self._end(order_id, states.CLOSED, actor, note, now)

    def _end(self, order_id: str, target: str, actor: str, note: str, now: float | None) -> dict:
        now = time.time() if now is None else now

        def fn(pipe):
            order = _read_order(pipe, order_id)
            if order is None:
                raise NotFound(f"no order {order_id}", order=order_id)
            d = states.decide_order(order["state"], target)
            if d.verdict == "refuse":
                raise Conflict(f"order {order_id}: {d.reason}", reason=d.reason, state=order["state"], order=order_id)
            if d.verdict == "noop":
                return False
            recs = _read_recipients(pipe, order_id)
            _watch_alerts(pipe, order)
            pipe.multi()
            stamp = "closed" if target == states.CLOSED else "cancelled"
            pipe.hset(keys.order(order_id), mapping={"state": target, f"{stamp}_at": now,
                                                      f"{stamp}_by": actor, "note": note})
            pipe.srem(keys.OPEN_ORDERS, order_id)
            pipe.zrem(keys.TIMERS, order_id)
            audit.record(pipe, ts=now, actor=actor, kind="order", event=stamp, order=order_id,
                         before=order["state"], after=target, data={"note": note} if note else {})
            for rec in recs.values():
                to = states.on_order_end(target, rec["state"])
                if to is not None:
                    _move_recipient(pipe, order_id, rec, to, now, actor, {"because": f"order {stamp}"})
                    outbox.queue(pipe, self.root, rec["device"], "orders",
                                 {"_type": "cancel", "id": order_id}, order=order_id)
            _end_alerts(pipe, order, now, actor, f"order {order_id} {stamp}")
            return True

        transact(self.r, [keys.order(order_id), keys.recipients(order_id)], fn)
        return self.get(order_id)

    # -- escalation --------------------------------------------------------------------------
    def due(self, now: float | None = None, limit: int = 100) -> list[str]:
        now = time.time() if now is None else now
        return [audit.text(i) for i in self.r.zrangebyscore(keys.TIMERS, "-inf", now, start=0, num=limit)]

    def fire_due(self, now: float | None = None, limit: int = 100) -> list[dict]:
        """Fire every due escalation step; returns what each one did (empty when nothing)."""
        out = []
        for oid in self.due(now, limit):
            step = self.escalate(oid, now=now)
            if step is not None:
                out.append(step)
        return out

    def escalate(self, order_id: str, *, now: float | None = None) -> dict | None:
        """One escalation step of an order whose timer is due, or None when it is not due
        (already fired by another dispatcher, acknowledged, closed).

        The check (timer due, nobody engaged, same round) and the step are one transaction:
        an ack or another dispatcher committing in between makes it retry on the new state.
        """
        now = time.time() if now is None else now
        world = self._world()
        seen_round = None
        candidates: list = []
        l1_device = l1_person = None
        while True:
            snap = _read_order(self.r, order_id)
            if snap is None:
                self.r.zrem(keys.TIMERS, order_id)
                return None
            if snap["round"] != seen_round:
                # Outside the transaction: the live store and registry live in other slots.
                seen_round = snap["round"]
                asked = set(_read_recipients(self.r, order_id))
                candidates = [] if snap.get("explicit") else world.nearest(
                    snap["lat"], snap["lon"], snap["k"] + len(asked) + 1, exclude=asked)
                l1_person = world.responsible(snap["l1_grid"]) if snap["l1_grid"] else None
                l1_device = world.device_of(l1_person) if l1_person else None

            def fn(pipe):
                order = _read_order(pipe, order_id)
                score = pipe.zscore(keys.TIMERS, order_id)
                if order is None or score is None or score > now:
                    return None
                if order["round"] != seen_round:
                    return "again"
                recs = _read_recipients(pipe, order_id)
                if order["state"] != states.OPEN or any(states.is_engaged(x["state"]) for x in recs.values()):
                    pipe.multi()
                    pipe.zrem(keys.TIMERS, order_id)
                    return None
                alert_id = keys.next_alert_id(self.r)
                pipe.multi()
                return self._queue_escalation(pipe, order, recs, candidates, l1_person, l1_device,
                                              alert_id, now)

            result = transact(self.r, [keys.order(order_id), keys.recipients(order_id)], fn)
            if result != "again":
                return result

    def _queue_escalation(self, pipe, order, recs, candidates, l1_person, l1_device, alert_id, now):
        oid, rnd = order["id"], order["round"] + 1
        silent = [x for x in recs.values() if x["state"] in (states.SENT, states.DELIVERED)]
        for rec in silent:
            _move_recipient(pipe, oid, rec, states.TIMED_OUT, now, SYSTEM,
                            {"because": f"no acknowledgement by {rec.get('ack_by')}"})
        notes: list[str] = []
        picks: list[Pick] = []
        if rnd <= order["depth"] and not order.get("explicit"):
            picks = next_nearest(candidates, order["k"] or 1, set(recs), notes)
        else:
            notes.append("escalation depth reached" if rnd > order["depth"] else "explicit recipients: not replaced")
        ack_by = now + self.settings.ack_timeout_s
        for p in picks:
            _add_recipient(pipe, order, p, rnd, now, SYSTEM, ack_by, self.root)
        choice = order["choice"] + [{"round": rnd, "at": now, "picks": [p.__dict__ for p in picks], "notes": notes}]
        fields = {"round": rnd, "choice": orjson.dumps(choice),
                  "alerts": orjson.dumps(order["alerts"] + [alert_id])}
        if picks:
            fields["ack_by"] = ack_by
            pipe.zadd(keys.TIMERS, {oid: ack_by})
        else:
            pipe.zrem(keys.TIMERS, oid)
        pipe.hset(keys.order(oid), mapping=fields)
        step = {"order": oid, "round": rnd, "timed_out": [x["device"] for x in silent],
                "added": [p.device for p in picks], "notes": notes, "alert": alert_id,
                "l1_supervisor": l1_person}
        audit.record(pipe, ts=now, actor=SYSTEM, kind="order", event="escalated", order=oid,
                     before=order["state"], after=order["state"], data=step)
        queue_raise(pipe, root=self.root, alert_id=alert_id, kind="escalation", subject=f"{oid}#{rnd}",
                    ts=now, actor=SYSTEM, person=l1_person, device=l1_device, grid=order["l1_grid"],
                    order=oid, lat=order["lat"], lon=order["lon"],
                    title=f"order {oid} unacknowledged after {self.settings.ack_timeout_s:g} s (step {rnd})",
                    data=step, episode=False)
        return step


def _recipient_view(rec: dict) -> dict:
    t = rec.get("t", {})
    took = t.get(states.ACKNOWLEDGED) or t.get(states.EN_ROUTE) or t.get(states.ON_SCENE)

    def span(a, b):
        return None if a is None or b is None else round(b - a, 3)

    return {**rec, "durations": {
        "to_acknowledge": span(t.get(states.SENT), took),
        "travel": span(t.get(states.EN_ROUTE) or t.get(states.ACKNOWLEDGED), t.get(states.ON_SCENE)),
        "on_scene": span(t.get(states.ON_SCENE), t.get(states.COMPLETED)),
    }}


class _Const:
    """Lets `_read_order` parse a hash already fetched."""

    def __init__(self, raw):
        self.raw = raw

    def hgetall(self, _key):
        return self.raw


def _errors(e) -> list:
    try:
        return [{"loc": list(x["loc"]), "msg": x["msg"]} for x in e.errors()]
    except Exception:
        return [str(e)]
