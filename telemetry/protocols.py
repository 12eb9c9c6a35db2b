"""Device protocols, pure: (topic, payload bytes) -> typed messages or a named drop reason.

Speaks the platform's own `gw/<device>/{loc,status,ack}` topics, OwnTracks as the apps send it
(MQTT and HTTP mode) and the OsmAnd protocol of the Traccar Client app (CONTRACT.md 4, 5).
"""
from __future__ import annotations

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


class Drop(NamedTuple):
    reason: str
    device: str | None = None
    detail: str = ""


Message = Fix | Status | Ack


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


def decode_http_owntracks(body: bytes, device: str, *, max_bytes: int = 65536) -> list[Message | Drop]:
    """OwnTracks HTTP mode: the body is what the app would publish, plus `topic`. `device` is
    the one the web layer authenticated (HTTP basic auth); a body claiming another device's
    topic is dropped."""
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
    """OsmAnd protocol parameters as the Traccar Client app sends them (query or form)."""

    model_config = ConfigDict(extra="allow")
    id: str
    lat: float
    lon: float
    timestamp: float | str | None = None
    speed: float | None = None  # knots
    bearing: float | None = None
    altitude: float | None = None
    accuracy: float | None = None
    batt: float | None = None


def parse_timestamp(v: float | str | None, now: float) -> float:
    """OsmAnd `timestamp`: epoch seconds, epoch milliseconds or ISO 8601; absent means now."""
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


def decode_osmand(params: dict[str, Any], device: str | None, now: float) -> list[Message | Drop]:
    """OsmAnd: `device` is the authenticated device if the web layer has one; `id` must match."""
    params = {k: v for k, v in params.items() if v not in (None, "")}
    claimed = params.get("id") or params.get("deviceid")
    if claimed is not None:
        params["id"] = str(claimed)
    try:
        m = OsmAnd.model_validate(params)
    except ValidationError as e:
        return [Drop(SCHEMA, device or params.get("id"), _schema_detail(e))]
    if device is not None and m.id != device:
        return [Drop(FOREIGN_TOPIC, device, f"id {m.id!r}")]
    try:
        tst = parse_timestamp(m.timestamp, now)
    except ValueError:
        return [Drop(SCHEMA, m.id, "timestamp: not epoch seconds, milliseconds or ISO 8601")]
    vel = None if m.speed is None else m.speed * KNOTS_TO_KMH
    return [Fix(m.id, tst, m.lat, m.lon, m.accuracy, m.altitude, vel, m.bearing, m.batt)]
