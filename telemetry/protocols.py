"""Device protocols, pure: (topic, payload bytes) -> typed messages or a named drop reason.

Speaks the platform's own `gw/<device>/{loc,status,ack}` topics, OwnTracks as the apps send it
(MQTT and HTTP mode) and the OsmAnd protocol of the Traccar Client app (CONTRACT.md 4, 5).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

# Drop reasons: the label values of gridwatch_ingest_dropped_total{reason}.
NOT_JSON = "not_json"
SCHEMA = "schema"
OVERSIZE = "oversize"
UNKNOWN_TOPIC = "unknown_topic"
IGNORED_TYPE = "ignored_type"
PERSON_MISMATCH = "person_mismatch"
FOREIGN_TOPIC = "foreign_topic"

DUTY_STATES = ("on_duty", "off_duty", "busy", "sos")
ACK_STATES = ("delivered", "acknowledged", "en_route", "on_scene", "completed", "declined")
KNOTS_TO_KMH = 1.852
MPS_TO_KMH = 3.6
SOS_ALARM = "sos"  # the Traccar Client's SOS button: `alarm=sos` (query, form) or `"alarm": "sos"` (JSON)


# ---- what the pipeline works on: plain tuples, cheap to build and compare ----------------

class Fix(NamedTuple):
    """One position report. Optional numbers are None when the device left them out."""

    device: str
    tst: float
    lat: float
    lon: float
    acc: float | None = None
    alt: float | None = None
    vel: float | None = None  # km/h
    cog: float | None = None
    batt: float | None = None
    st: str | None = None  # duty status sent along with the position


class Status(NamedTuple):
    device: str
    st: str  # a DUTY_STATES value, or "offline" for the will
    tst: float | None
    lat: float | None = None
    lon: float | None = None
    batt: float | None = None
    note: str | None = None
    will: bool = False  # the broker published the device's will (or an OwnTracks lwt)


class Ack(NamedTuple):
    device: str
    order: str
    state: str
    tst: float
    note: str | None = None


class Heartbeat(NamedTuple):
    """A message that proves the device is there but carries no position (a Traccar Client
    heartbeat, an empty OwnTracks HTTP post): presence only."""
    device: str
    tst: float
    batt: float | None = None


class Drop(NamedTuple):
    reason: str
    device: str | None = None
    detail: str = ""


Message = Fix | Status | Ack | Heartbeat


# ---- pydantic models at the edge ----------------------------------------------------------
# Lax mode gives the OwnTracks quirks for free: "tst": "1712345678" and "rad": "100" coerce.

class _Edge(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class OwnTracksLocation(_Edge):
    """OwnTracks `location` (booklet, docs/tech/json.md), plus our optional `st`."""

    lat: float
    lon: float
    tst: float
    acc: float | None = None
    alt: float | None = None
    vac: float | None = None
    vel: float | None = None
    cog: float | None = None
    batt: float | None = None
    bs: int | None = None
    conn: str | None = None
    t: str | None = None
    tid: str | None = None
    created_at: float | None = None
    st: Literal["on_duty", "off_duty", "busy", "sos"] | None = None
    device: str | None = None  # optional claimed identity; must equal the topic's device


class OwnTracksTransition(_Edge):
    lat: float
    lon: float
    tst: float
    acc: float | None = None
    event: str | None = None
    desc: str | None = None
    rad: float | None = None
    wtst: float | None = None


class GwStatus(_Edge):
    st: Literal["on_duty", "off_duty", "busy", "sos", "offline"]
    tst: float | None = None
    lat: float | None = None
    lon: float | None = None
    batt: float | None = None
    note: str | None = None
    device: str | None = None


class GwAck(_Edge):
    order: str
    state: Literal["delivered", "acknowledged", "en_route", "on_scene", "completed", "declined"]
    tst: float
    note: str | None = None
    device: str | None = None

    @field_validator("order", mode="before")
    @classmethod
    def _order_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


# ---- topics ---------------------------------------------------------------------------------

def parse_topic(topic: str, root: str = "gw") -> tuple[str, str, str | None] | None:
    """('loc'|'status'|'ack'|'owntracks', device, person-or-None), or None for a foreign topic."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == root and parts[1] and parts[2] in ("loc", "status", "ack"):
        return parts[2], parts[1], None
    if parts[0] == "owntracks" and len(parts) >= 3 and parts[1] and parts[2]:
        # .../event carries transitions (booklet); other subtopics (cmd, info, waypoint) are
        # not ours to ingest and are counted as ignored
        if len(parts) == 3 or (len(parts) == 4 and parts[3] == "event"):
            return "owntracks", parts[2], parts[1]
        return "owntracks-other", parts[2], parts[1]
    return None


def _loads(payload: bytes | str, max_bytes: int) -> Any | Drop:
    if len(payload) > max_bytes:
        return Drop(OVERSIZE, detail=f"{len(payload)} bytes")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Drop(NOT_JSON)


def _schema_detail(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"


def _claims_other(obj: dict, device: str) -> bool:
    claimed = obj.get("device")
    return claimed is not None and claimed != device


def _fix_of(device: str, m: OwnTracksLocation | OwnTracksTransition) -> Fix:
    return Fix(device, m.tst, m.lat, m.lon, m.acc, getattr(m, "alt", None), getattr(m, "vel", None),
               getattr(m, "cog", None), getattr(m, "batt", None), getattr(m, "st", None))


def _location(device: str, obj: Any) -> Fix | Drop:
    if not isinstance(obj, dict) or obj.get("_type", "location") != "location":
        return Drop(SCHEMA, device, "expected an OwnTracks location object")
    if _claims_other(obj, device):
        return Drop(FOREIGN_TOPIC, device, f"payload names device {obj.get('device')!r}")
    try:
        return _fix_of(device, OwnTracksLocation.model_validate(obj))
    except ValidationError as e:
        return Drop(SCHEMA, device, _schema_detail(e))


def decode_loc(device: str, payload: bytes, max_bytes: int) -> list[Message | Drop]:
    """`gw/<device>/loc`: one OwnTracks location object, or a JSON array of them (a batch)."""
    obj = _loads(payload, max_bytes)
    if isinstance(obj, Drop):
        return [obj._replace(device=device)]
    if isinstance(obj, list):
        if not obj:
            return [Drop(SCHEMA, device, "empty batch")]
        return [_location(device, o) for o in obj]
    return [_location(device, obj)]


def _validated(device: str, payload: bytes, max_bytes: int, model):
    """The payload as `model`, or the Drop saying why not (status and ack share the checks)."""
    obj = _loads(payload, max_bytes)
    if isinstance(obj, Drop):
        return obj._replace(device=device)
    if not isinstance(obj, dict):
        return Drop(SCHEMA, device, "expected an object")
    if _claims_other(obj, device):
        return Drop(FOREIGN_TOPIC, device, f"payload names device {obj.get('device')!r}")
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        return Drop(SCHEMA, device, _schema_detail(e))


def decode_status(device: str, payload: bytes, max_bytes: int) -> list[Message | Drop]:
    m = _validated(device, payload, max_bytes, GwStatus)
    if isinstance(m, Drop):
        return [m]
    if m.st != "offline" and m.tst is None:
        return [Drop(SCHEMA, device, "tst: Field required")]
    return [Status(device, m.st, m.tst, m.lat, m.lon, m.batt, m.note, will=m.st == "offline")]


def decode_ack(device: str, payload: bytes, max_bytes: int) -> list[Message | Drop]:
    m = _validated(device, payload, max_bytes, GwAck)
    if isinstance(m, Drop):
        return [m]
    return [Ack(device, m.order, m.state, m.tst, m.note)]


def decode_owntracks(device: str, obj: Any) -> list[Message | Drop]:
    """One OwnTracks message (already JSON-decoded) from `device`, by its `_type`."""
    if isinstance(obj, list):
        return [m for o in obj for m in decode_owntracks(device, o)] or [Drop(SCHEMA, device, "empty batch")]
    if not isinstance(obj, dict):
        return [Drop(SCHEMA, device, "expected an object")]
    kind = obj.get("_type")
    try:
        if kind == "location":
            return [_fix_of(device, OwnTracksLocation.model_validate(obj))]
        if kind == "transition":
            # An enter/leave event carries the fix that triggered it: use it as a position.
            return [_fix_of(device, OwnTracksTransition.model_validate(obj))]
    except ValidationError as e:
        return [Drop(SCHEMA, device, _schema_detail(e))]
    if kind == "lwt":
        tst = obj.get("tst")
        return [Status(device, "offline", float(tst) if isinstance(tst, (int, float)) else None, will=True)]
    if isinstance(kind, str):
        return [Drop(IGNORED_TYPE, device, kind)]
    return [Drop(SCHEMA, device, "_type missing")]


def decode(topic: str, payload: bytes, *, root: str = "gw", max_bytes: int = 65536,
           person_of_device=None) -> list[Message | Drop]:
    """Every message carried by one MQTT publish. `person_of_device(device) -> person | None`
    checks `owntracks/<person>/<device>`; without it the person part is not checked."""
    t = parse_topic(topic, root)
    if t is None:
        return [Drop(UNKNOWN_TOPIC, detail=topic)]
    kind, device, person = t
    if kind == "loc":
        return decode_loc(device, payload, max_bytes)
    if kind == "status":
        return decode_status(device, payload, max_bytes)
    if kind == "ack":
        return decode_ack(device, payload, max_bytes)
    if kind == "owntracks-other":
        return [Drop(IGNORED_TYPE, device, topic)]
    obj = _loads(payload, max_bytes)
    if isinstance(obj, Drop):
        return [obj._replace(device=device)]
    if person_of_device is not None:
        holder = person_of_device(device)
        if holder is not None and holder != person:
            return [Drop(PERSON_MISMATCH, device, f"{device} is held by {holder}, not {person}")]
    return decode_owntracks(device, obj)


def decode_http_owntracks(body: bytes, device: str, *, max_bytes: int = 65536,
                          now: float | None = None) -> list[Message | Drop]:
    """OwnTracks HTTP mode: the body is what the app would publish, plus `topic`. `device` is
    the one the web layer authenticated (HTTP basic auth); a body claiming another device's
    topic is dropped. The app sometimes posts an empty body: the device was there, nothing else."""
    if not body.strip():
        return [Heartbeat(device, time.time() if now is None else now)]
    obj = _loads(body, max_bytes)
    if isinstance(obj, Drop):
        return [obj._replace(device=device)]
    for o in obj if isinstance(obj, list) else [obj]:
        topic = o.get("topic") if isinstance(o, dict) else None
        if isinstance(topic, str):
            parts = topic.split("/")
            if len(parts) >= 3 and parts[2] != device:
                return [Drop(FOREIGN_TOPIC, device, f"body topic {topic!r}")]
    return decode_owntracks(device, obj)


class OsmAnd(BaseModel):
    """OsmAnd protocol parameters as the Traccar Client app sends them: in the URL of an empty
    POST (7.x-8.x), as a form (10.x), or as one object of a JSON array (10.x, JSON upload).
    A heartbeat (10.x) has no `lat`/`lon`; `location=lat,lon` is the older spelling."""

    model_config = ConfigDict(extra="allow")
    id: str
    lat: float | None = None
    lon: float | None = None
    timestamp: float | str | None = None
    speed: float | None = None  # knots
    bearing: float | None = None
    heading: float | None = None  # bearing's other name
    altitude: float | None = None
    accuracy: float | None = None
    batt: float | None = None
    alarm: str | None = None


def parse_timestamp(v: float | str | None, now: float) -> float:
    """OsmAnd `timestamp`: epoch seconds, epoch milliseconds, ISO 8601 or `yyyy-MM-dd HH:mm:ss`
    (UTC); absent means now."""
    if v is None or v == "":
        return now
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return dt.timestamp()
    return v / 1000.0 if v > 1e11 else float(v)


def _with_sos(msgs: list[Message | Drop], device: str, tst: float, alarm: Any) -> list[Message | Drop]:
    """An SOS from the app is the device's SOS status, as `st: sos` is on MQTT: after the fix,
    so the alert carries that fix's position."""
    if isinstance(alarm, str) and alarm.strip().lower() == SOS_ALARM:
        msgs.append(Status(device, "sos", tst, note="SOS (Traccar Client alarm)"))
    return msgs


def decode_osmand(params: dict[str, Any], device: str | None, now: float) -> list[Message | Drop]:
    """OsmAnd query or form parameters (or one object of a JSON upload): `device` is the
    authenticated device if the web layer has one; `id` must match."""
    params = {k: v for k, v in params.items() if v not in (None, "")}
    claimed = params.get("id") or params.get("deviceid")
    if isinstance(claimed, (str, int)) and not isinstance(claimed, bool):
        params["id"] = str(claimed)  # a JSON upload may send a numeric id
    loc = params.get("location")
    if isinstance(loc, str) and "lat" not in params and loc.count(",") == 1:
        params["lat"], params["lon"] = loc.split(",")
    try:
        m = OsmAnd.model_validate(params)
    except ValidationError as e:
        named = params.get("id") if isinstance(params.get("id"), str) else None
        return [Drop(SCHEMA, device or named, _schema_detail(e))]
    if device is not None and m.id != device:
        return [Drop(FOREIGN_TOPIC, device, f"id {m.id!r}")]
    try:
        tst = parse_timestamp(m.timestamp, now)
    except ValueError:
        return [Drop(SCHEMA, m.id, "timestamp: not epoch seconds, milliseconds or ISO 8601")]
    if m.lat is None and m.lon is None:
        out: list[Message | Drop] = [Heartbeat(m.id, tst, m.batt)]
    elif m.lat is None or m.lon is None:
        return [Drop(SCHEMA, m.id, "lat and lon: both or neither")]
    else:
        vel = None if m.speed is None else m.speed * KNOTS_TO_KMH
        cog = m.bearing if m.bearing is not None else m.heading
        out = [Fix(m.id, tst, m.lat, m.lon, m.accuracy, m.altitude, vel, cog, m.batt)]
    return _with_sos(out, m.id, tst, m.alarm)


def _known(v: Any) -> float | None:
    """background-geolocation writes -1 for an unknown speed, heading or battery level."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        return None
    return float(v)


def _bg_location(device: str, loc: Any, extras: Any, now: float) -> list[Message | Drop]:
    """One background-geolocation location (Traccar Client 9.x): ISO `timestamp`, `coords` in
    degrees, metres and m/s, `battery.level` 0-1, `alarm` in the location or its `extras`."""
    if not isinstance(loc, dict):
        return [Drop(SCHEMA, device, "location: expected an object")]
    try:
        tst = parse_timestamp(loc.get("timestamp"), now)
    except (ValueError, TypeError):
        return [Drop(SCHEMA, device, "location.timestamp: not ISO 8601")]
    battery = loc.get("battery") if isinstance(loc.get("battery"), dict) else {}
    level = _known(battery.get("level"))
    batt = None if level is None else round(min(level, 1.0) * 100, 1)
    coords = loc.get("coords")
    if coords is None:
        out: list[Message | Drop] = [Heartbeat(device, tst, batt)]
    else:
        try:
            c = _BgCoords.model_validate(coords)
        except ValidationError as e:
            return [Drop(SCHEMA, device, "location.coords." + _schema_detail(e))]
        speed = _known(c.speed)
        out = [Fix(device, tst, c.latitude, c.longitude, _known(c.accuracy), c.altitude,
                   None if speed is None else speed * MPS_TO_KMH, _known(c.heading), batt)]
    alarm = loc.get("alarm")
    for ex in (loc.get("extras"), extras):
        if alarm is None and isinstance(ex, dict):
            alarm = ex.get("alarm")
    return _with_sos(out, device, tst, alarm)


class _BgCoords(_Edge):
    latitude: float
    longitude: float
    accuracy: float | None = None
    speed: float | None = None
    heading: float | None = None
    altitude: float | None = None


def decode_osmand_json(body: bytes, now: float, max_bytes: int = 65536) -> list[Message | Drop]:
    """A JSON OsmAnd post: the Traccar Client 9.x object `{"device_id", "location": {...}}`
    (background-geolocation's format; `location` may be a batch list) or the 10.x JSON upload,
    an array of flat OsmAnd objects (`id`, `lat`, `lon`, `timestamp`, ...)."""
    obj = _loads(body, max_bytes)
    if isinstance(obj, Drop):
        return [obj]
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        return [Drop(SCHEMA, detail="empty batch")]
    out: list[Message | Drop] = []
    for o in items:
        if not isinstance(o, dict):
            out.append(Drop(SCHEMA, detail="expected an object"))
        elif "location" in o and isinstance(o.get("location"), (dict, list)):
            device = o.get("device_id") or o.get("id")
            if not isinstance(device, (str, int)) or isinstance(device, bool) or device == "":
                out.append(Drop(SCHEMA, detail="device_id: Field required"))
                continue
            locs = o["location"] if isinstance(o["location"], list) else [o["location"]]
            for loc in locs:
                out.extend(_bg_location(str(device), loc, o.get("extras"), now))
        else:
            out.extend(decode_osmand(o, None, now))
    return out


def decode_osmand_http(query: dict[str, Any], content_type: str, body: bytes, now: float,
                       max_bytes: int = 65536) -> list[Message | Drop]:
    """Any Traccar Client generation's request to the OsmAnd route: JSON by its content type,
    else parameters from the URL and a form body (7.x-8.x send an empty POST, 10.x a form)."""
    if content_type.split(";")[0].strip().lower() == "application/json":
        return decode_osmand_json(body, now, max_bytes)
    params = dict(query)
    if body.strip():
        if len(body) > max_bytes:
            return [Drop(OVERSIZE, params.get("id"), f"{len(body)} bytes")]
        from urllib.parse import parse_qsl

        params.update(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    params.pop("key", None)
    return decode_osmand(params, None, now)
