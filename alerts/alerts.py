"""Alerts for the wall: SOS, a device offline while on duty, a supervisor on duty outside all
own grids, low battery, and unacknowledged orders (escalation). Each is raised once per
episode, cleared when its cause ends and acknowledgeable by a duty officer; every change is
published on the `gw:alerts` channel by the audit entry written with it.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import orjson
import redis

from alerts import audit, keys, outbox, states
from alerts.choice import next_nearest
from alerts.errors import Conflict, Invalid, NotFound
from alerts.models import OrderRequest
from alerts.tx import transact
from alerts.world import DeviceView, World
from gridwatch.settings import Settings

KINDS = ("sos", "offline", "left_grid", "low_battery", "escalation", "task_overdue", "complaint_overdue")
# Alerts the person concerned also gets on his device (the level-1 supervisor, for these).
NOTIFIED = ("escalation", "task_overdue", "complaint_overdue")
ON_DUTY_STATUSES = (None, "on_duty", "busy", "sos")  # a device that never said counts on duty
_FLOATS = ("raised_at", "acked_at", "cleared_at", "cancelled_at", "lat", "lon")


def episode_key(kind: str, subject: str) -> str:
    return f"{keys.TAG}:episode:{kind}:{subject}"


def _parse(raw: dict) -> dict | None:
    if not raw:
        return None
    a = {audit.text(k): audit.text(v) for k, v in raw.items()}
    for f in _FLOATS:
        a[f] = float(a[f]) if a.get(f) else None
    a["data"] = orjson.loads(a.get("data") or "{}")
    return a


def read_alert_in(pipe, alert_id: str) -> dict | None:
    return _parse(pipe.hgetall(keys.alert(alert_id)))


def queue_raise(pipe, *, root: str, alert_id: str, kind: str, subject: str, ts: float, actor: str,
                person: str | None = None, device: str | None = None, grid: str | None = None,
                order: str = "", lat: float | None = None, lon: float | None = None,
                title: str = "", data: dict | None = None, episode: bool = True,
                notify: bool = True) -> dict:
    """Queue a new alert (the caller holds MULTI and has checked the episode is not active).

    The person concerned (the level-1 supervisor for an escalation) also gets it on
    `<root>/<device>/alerts` when they carry a device and `notify` is set.
    """
    row = {"id": alert_id, "kind": kind, "subject": subject, "state": states.ALERT_OPEN,
           "person": person or "", "device": device or "", "grid": grid or "", "order": order,
           "lat": "" if lat is None else lat, "lon": "" if lon is None else lon, "title": title,
           "raised_at": ts, "raised_by": actor, "data": orjson.dumps(data or {}),
           "episode": episode_key(kind, subject) if episode else ""}
    pipe.hset(keys.alert(alert_id), mapping=row)
    pipe.zadd(keys.ALERTS, {alert_id: ts})
    if episode:
        pipe.set(episode_key(kind, subject), alert_id)
    view = {**row, "data": data or {}}
    audit.record(pipe, ts=ts, actor=actor, kind="alert", event="raised", alert=alert_id, order=order,
                 device=device or "", before="", after=states.ALERT_OPEN, data=view)
    if notify and device and kind in NOTIFIED:
        msg = {"_type": "alert", "id": alert_id, "kind": kind, "title": title, "order": order,
               "grid": grid, "lat": lat, "lon": lon, "raised_at": ts}
        if kind == "task_overdue":
            msg.update(task=(data or {}).get("task"), cause=(data or {}).get("cause"))
        elif kind == "complaint_overdue":
            msg.update(complaint=(data or {}).get("complaint"), cause=(data or {}).get("cause"))
        outbox.queue(pipe, root, device, "alerts", msg, order=order)
    return view


def queue_clear(pipe, row: dict, ts: float, actor: str, reason: str, extra: dict | None = None) -> None:
    """Queue an alert's end (the caller holds MULTI); `extra` goes on the alert and its audit entry."""
    pipe.hset(keys.alert(row["id"]), mapping={"state": states.ALERT_CLEARED, "cleared_at": ts,
                                               "cleared_by": actor, "cleared_reason": reason, **(extra or {})})
    if row.get("episode"):
        pipe.delete(row["episode"])
    audit.record(pipe, ts=ts, actor=actor, kind="alert", event="cleared", alert=row["id"],
                 order=row.get("order", ""), device=row.get("device", ""), before=row["state"],
                 after=states.ALERT_CLEARED, data={"reason": reason, **(extra or {})})


@dataclass(frozen=True)
class Thresholds:
    geofence_grace_s: float
    geofence_clear_s: float
    low_battery_pct: float
    battery_margin_pct: float


def assess(view: DeviceView, clock: dict, now: float, th: Thresholds) -> tuple[dict[str, bool], dict]:
    """Pure: which presence alerts should be active for this device now, and its new clock.

    The clock remembers whether the device was last on duty (an offline device is judged by
    what it was doing before it went silent) and the geofence debounce: outside must last
    `geofence_grace_s` to raise, and inside must last `geofence_clear_s` to reset, so a
    position wobbling across a border neither raises nor clears the alert at each fix.
    """
    c = dict(clock)
    offline = view.fresh == "offline" or view.status == "offline"
    if not offline:
        c["on_duty"] = view.status in ON_DUTY_STATUSES
    on_duty = c.get("on_duty", True)
    want = {"offline": offline and on_duty}

    judged = (not offline and on_duty and view.fresh == "live" and view.lat is not None
              and bool(view.own_grids))
    if judged:
        inside = bool(set(view.own_grids) & set(view.in_grids))
        if inside:
            c.setdefault("inside_since", now)
            if now - c["inside_since"] >= th.geofence_clear_s:
                c.pop("outside_since", None)
        else:
            c.pop("inside_since", None)
            c.setdefault("outside_since", now)
    elif not on_duty:
        c.pop("outside_since", None)
        c.pop("inside_since", None)
    out_since = c.get("outside_since")
    want["left_grid"] = on_duty and not offline and out_since is not None and now - out_since >= th.geofence_grace_s

    was_low = c.get("low_battery", False)
    b = view.battery
    if not on_duty or offline or b is None:
        low = False if not on_duty else was_low
    else:
        low = b < th.low_battery_pct or (was_low and b < th.low_battery_pct + th.battery_margin_pct)
    c["low_battery"] = low
    want["low_battery"] = low
    return want, c


class Alerts:
    """The alert desk: raise, clear, acknowledge, list; SOS; the periodic presence checks."""

    def __init__(self, r: redis.Redis, settings: Settings, world: World | None = None, orders=None):
        self.r = r
        self.settings = settings
        self.world = world
        self.orders = orders
        self.root = settings.topic_root

    # -- reads ---------------------------------------------------------------------------
    def get(self, alert_id: str) -> dict:
        a = _parse(self.r.hgetall(keys.alert(alert_id)))
        if a is None:
            raise NotFound(f"no alert {alert_id}", alert=alert_id)
        return a

    def list(self, state: str | None = None, limit: int = 500) -> list[dict]:
        """Alerts, newest first; `state` is open, acknowledged, cleared, or `active` (not cleared)."""
        allowed = (*states.ALERT_STATES, "active")
        if state is not None and state not in allowed:
            raise Invalid(f"unknown alert state {state!r}", allowed=list(allowed))
        ids = self.r.zrevrange(keys.ALERTS, 0, -1 if state else limit - 1)
        with self.r.pipeline(transaction=False) as p:
            for i in ids:
                p.hgetall(keys.alert(audit.text(i)))
            rows = [a for a in map(_parse, p.execute()) if a is not None]
        if state == "active":
            rows = [a for a in rows if a["state"] != states.ALERT_CLEARED]
        elif state is not None:
            rows = [a for a in rows if a["state"] == state]
        return rows[:limit]

    def active(self, kind: str, subject: str) -> str | None:
        v = self.r.get(episode_key(kind, subject))
        return audit.text(v) if v else None

    # -- changes -------------------------------------------------------------------------
    def raise_(self, kind: str, subject: str, actor: str, *, now: float | None = None, **fields) -> dict | None:
        """Raise an alert unless its episode is already active; returns it, or None if it was."""
        if kind not in KINDS:
            raise Invalid(f"unknown alert kind {kind!r}", allowed=list(KINDS))
        now = time.time() if now is None else now
        ek = episode_key(kind, subject)

        def fn(pipe):
            if pipe.exists(ek):
                return None
            alert_id = keys.next_alert_id(self.r)
            pipe.multi()
            return queue_raise(pipe, root=self.root, alert_id=alert_id, kind=kind, subject=subject,
                               ts=now, actor=actor, **fields)

        return transact(self.r, [ek], fn)

    def clear(self, kind: str, subject: str, actor: str, reason: str, *, now: float | None = None) -> str | None:
        """End the active episode of (kind, subject); returns the alert id, None if none was active."""
        now = time.time() if now is None else now
        ek = episode_key(kind, subject)

        def fn(pipe):
            aid = pipe.get(ek)
            if not aid:
                return None
            aid = audit.text(aid)
            pipe.watch(keys.alert(aid))
            row = read_alert_in(pipe, aid)
            pipe.multi()
            if row is None or row["state"] == states.ALERT_CLEARED:
                pipe.delete(ek)  # a stale episode pointer: nothing to audit
                return None
            queue_clear(pipe, row, now, actor, reason)
            return aid

        return transact(self.r, [ek], fn)

    def ack(self, alert_id: str, actor: str, *, note: str = "", now: float | None = None) -> dict:
        """A duty officer acknowledges an alert. Repeats change nothing; a cleared alert keeps
        its state but records who acknowledged it. Raises NotFound."""
        now = time.time() if now is None else now

        def fn(pipe):
            row = read_alert_in(pipe, alert_id)
            if row is None:
                raise NotFound(f"no alert {alert_id}", alert=alert_id)
            if row.get("acked_by"):
                return
            d = states.decide_alert(row["state"], states.ALERT_ACKNOWLEDGED)
            after = states.ALERT_ACKNOWLEDGED if d.applies else row["state"]
            pipe.multi()
            pipe.hset(keys.alert(alert_id), mapping={"state": after, "acked_at": now,
                                                      "acked_by": actor, "ack_note": note})
            audit.record(pipe, ts=now, actor=actor, kind="alert", event="acknowledged", alert=alert_id,
                         order=row.get("order", ""), device=row.get("device", ""),
                         before=row["state"], after=after, data={"note": note} if note else {})

        transact(self.r, [keys.alert(alert_id)], fn)
        return self.get(alert_id)

    # -- SOS -----------------------------------------------------------------------------
    def cancel_sos(self, alert_id: str, actor: str, *, now: float | None = None) -> dict:
        """A mistaken SOS withdrawn (a phone pressed in a pocket): the alert is cleared and
        marked `cancelled_by` the actor, its order to colleagues cancelled; the alert and its
        audit entries stay. Who may do it is the caller's check. Raises NotFound, Conflict
        (not an SOS, or cleared already by something else); a repeat changes nothing."""
        now = time.time() if now is None else now

        def fn(pipe):
            row = read_alert_in(pipe, alert_id)
            if row is None:
                raise NotFound(f"no alert {alert_id}", alert=alert_id)
            if row["kind"] != "sos":
                raise Conflict(f"alert {alert_id} is {row['kind']}, not an SOS", code="err_not_sos", alert=alert_id)
            if row["state"] == states.ALERT_CLEARED:
                if row.get("cancelled_by"):
                    return row
                raise Conflict(f"alert {alert_id} is cleared already", code="err_alert_cleared", alert=alert_id)
            pipe.multi()
            queue_clear(pipe, row, now, actor, f"SOS cancelled by {actor}: false alarm",
                        extra={"cancelled_by": actor, "cancelled_at": now})
            return row

        row = transact(self.r, [keys.alert(alert_id)], fn)
        if row.get("order") and self.orders is not None:
            with contextlib.suppress(Conflict, NotFound):  # closed or cancelled meanwhile: nothing to stand down
                self.orders.cancel(row["order"], actor, reason=f"SOS {alert_id} cancelled by {actor}", now=now)
        return self.get(alert_id)

    def sos(self, device: str, actor: str, *, lat: float | None = None, lon: float | None = None,
            note: str = "", now: float | None = None) -> dict:
        """A device's SOS: an alert at once and an emergency order to its nearest colleagues,
        both in one transaction. A repeat while the episode is active changes nothing.
        Returns {"alert": ..., "order": ... or None, "new": bool}."""
        now = time.time() if now is None else now
        world = self.world
        person = world.person_of(device)
        if person is None:
            raise NotFound(f"unknown device {device}", device=device)
        if lat is None or lon is None:
            v = world.device(device)
            lat, lon = (v.lat, v.lon) if v else (None, None)
        ek = episode_key("sos", device)
        existing = self.active("sos", device)
        if existing:
            a = self.get(existing)
            return {"alert": a, "order": a.get("order") or None, "new": False}
        l1, grid = world.locate(lat, lon) if lat is not None else (None, None)
        notes: list[str] = []
        picks = []
        if lat is not None:
            k = self.settings.sos_k
            picks = next_nearest(world.nearest(lat, lon, k + 1, exclude={device}), k, {device}, notes)
        else:
            notes.append("no position known: no order to colleagues")
        title = f"SOS {person}"

        def fn(pipe):
            if pipe.exists(ek):
                return None
            alert_id = keys.next_alert_id(self.r)
            order_id = keys.next_order_id(self.r, now, self.settings.timezone) if picks else ""
            pipe.multi()
            view = queue_raise(pipe, root=self.root, alert_id=alert_id, kind="sos", subject=device,
                               ts=now, actor=actor, person=person, device=device, grid=grid,
                               order=order_id, lat=lat, lon=lon, title=title,
                               data={"note": note, "recipients": [p.device for p in picks], "notes": notes})
            if picks:
                req = OrderRequest(lat=lat, lon=lon, title=title, kind="emergency", priority=1,
                                   body=note or f"{person} ({device}) raised SOS", k=len(picks))
                order = {"id": order_id, "kind": req.kind, "priority": req.priority, "title": req.title,
                         "body": req.body, "lat": lat, "lon": lon, "grid": grid or "", "l1_grid": l1 or "",
                         "state": states.OPEN, "issued_at": now, "issued_by": actor,
                         "ack_by": now + self.settings.ack_timeout_s, "k": req.k, "round": 0,
                         "depth": self.settings.escalation_depth, "source": "sos", "alert": alert_id,
                         "explicit": ""}
                choice = [{"round": 0, "at": now, "picks": [p.__dict__ for p in picks], "notes": notes}]
                self.orders._queue_issue(pipe, order, choice, picks, now, actor)
            return view

        view = transact(self.r, [ek], fn)
        if view is None:  # another writer raised it between our look and our transaction
            return self.sos(device, actor, lat=lat, lon=lon, note=note, now=now)
        return {"alert": self.get(view["id"]), "order": view["order"] or None, "new": True}

    # -- events and periodic checks ------------------------------------------------------------
    def on_status(self, device: str, status: str, *, prev: str | None = None, actor: str | None = None,
                  lat: float | None = None, lon: float | None = None, note: str = "",
                  now: float | None = None) -> None:
        """A validated status change from the events stream (`prev`: the status before it)."""
        now = time.time() if now is None else now
        actor = actor or f"device:{device}"
        if status == "sos":
            self.sos(device, actor, lat=lat, lon=lon, note=note, now=now)
            return
        self.clear("sos", device, actor, f"status {status}", now=now)
        if status == "offline":
            was_on = (prev in ON_DUTY_STATUSES) if prev else self._clock(device).get("on_duty", True)
            self._set_clock(device, {**self._clock(device), "on_duty": was_on})
            if was_on:
                self.raise_("offline", device, "system:dispatcher", now=now,
                            person=self.world.person_of(device) if self.world else None, device=device,
                            lat=lat, lon=lon, title=f"{device} offline while on duty",
                            data={"cause": "will", "prev": prev})
            return
        if prev == "offline":
            self.clear("offline", device, actor, "device back", now=now)
        self._set_clock(device, {**self._clock(device), "on_duty": status in ON_DUTY_STATUSES})
        if status not in ON_DUTY_STATUSES:
            # Off duty ends every presence episode: nobody is expected anywhere.
            for kind in ("left_grid", "low_battery", "offline"):
                self.clear(kind, device, actor, f"status {status}", now=now)

    def check(self, now: float | None = None) -> dict[str, int]:
        """One pass of the presence, geofence and battery checks over every device."""
        now = time.time() if now is None else now
        th = Thresholds(self.settings.geofence_grace_s, self.settings.geofence_clear_s,
                        self.settings.low_battery_pct, self.settings.battery_margin_pct)
        views = list(self.world.devices())
        clocks = self.r.hgetall(keys.WATCH)
        clocks = {audit.text(k): orjson.loads(v) for k, v in clocks.items()}
        types = ("offline", "left_grid", "low_battery")
        with self.r.pipeline(transaction=False) as p:
            for v in views:
                for t in types:
                    p.exists(episode_key(t, v.device))
            active = p.execute()
        counts = {"raised": 0, "cleared": 0}
        new_clocks = {}
        for i, v in enumerate(views):
            want, c = assess(v, clocks.get(v.device, {}), now, th)
            if c != clocks.get(v.device, {}):
                new_clocks[v.device] = orjson.dumps(c)
            for j, t in enumerate(types):
                is_on = bool(active[i * len(types) + j])
                if want[t] and not is_on:
                    if self.raise_(t, v.device, "system:dispatcher", now=now, person=v.person,
                                   device=v.device, lat=v.lat, lon=v.lon, title=_title(t, v),
                                   data={"battery": v.battery, "fresh": v.fresh, "status": v.status,
                                         "own_grids": list(v.own_grids)}):
                        counts["raised"] += 1
                elif not want[t] and is_on:
                    if self.clear(t, v.device, "system:dispatcher", _cleared_because(t, v), now=now):
                        counts["cleared"] += 1
        if new_clocks:
            self.r.hset(keys.WATCH, mapping=new_clocks)
        return counts

    def _clock(self, device: str) -> dict:
        v = self.r.hget(keys.WATCH, device)
        return orjson.loads(v) if v else {}

    def _set_clock(self, device: str, c: dict) -> None:
        self.r.hset(keys.WATCH, device, orjson.dumps(c))


def _title(t: str, v: DeviceView) -> str:
    who = v.person or v.device
    return {"offline": f"{who} offline while on duty",
            "left_grid": f"{who} on duty outside own grids",
            "low_battery": f"{who} battery {v.battery:.0f}%" if v.battery is not None else f"{who} battery low",
            }[t]


def _cleared_because(t: str, v: DeviceView) -> str:
    return {"offline": "device reporting again", "left_grid": "back inside own grids or off duty",
            "low_battery": "battery recovered or off duty"}[t]
