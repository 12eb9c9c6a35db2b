"""Inspections on the terminal (CONTRACT.md section 9), table `inspections`: create (idempotent
by the terminal's id), merge answers, attach evidence, take signatures, seal. Every change is
written with its audit entry in one transaction under the row's lock; only the inspection's
own inspectors change it, and only before it is sealed (after: 409, the database refuses too).

Sealing checks completeness (422 naming each missing thing), decides the result by the
checklist's rule (casework.checklists.decide), sets the rectification date and the receipt
token (>= 128 bits), seals the row into the chain (casework.seal: the hash covers the row and
the SHA-256 of every photo, recording and signature) and signs the hash with the bureau's
Ed25519 key (casework.signing); the signature is kept in the `seal` audit entry."""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import tempfile
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from urllib.parse import unquote_to_bytes

import orjson
from psycopg.types.json import Jsonb

from alerts.errors import Conflict, Forbidden, Invalid, NotFound
from casework import audit, checklists
from casework import media as media_store
from casework import seal as sealing
from casework.task_store import Viewer

RECORD = "inspection"
KINDS = ("routine", "double_random", "special", "task")
ANSWERS = ("pass", "fail", "na")
INSPECTOR_ROLES = ("l2_supervisor", "l1_supervisor")   # law-enforcement staff (not the two members)
READ_ALL = ("coordinator", "admin", "viewer")
MAX_NOTE = 2000
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024
MAX_STROKES_BYTES = 4 * 1024 * 1024
MAX_LIMIT = 1000
TOKEN_BYTES = 24                                       # 192 bits
COLUMNS = ("id, uscc, checklist, kind, draw, task, inspectors, lat, lon, grid, level1, branch, category, "
           "answers, signatures, notes, result, failed_items, rectify_by, started_at, created_by, "
           "receipt_token, updated_at, sealed_at, hash")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URL = re.compile(r"^data:(?P<type>[\w.+/-]+)(?P<params>(;[\w-]+=[\w.-]+)*)(?P<b64>;base64)?,(?P<data>.*)$", re.S)


def _plain_str(v, name: str, most: int = MAX_NOTE, required: bool = False) -> str | None:
    if v is None or v == "":
        if required:
            raise Invalid(f"{name} is required", field=name)
        return None
    if not isinstance(v, str):
        raise Invalid(f"{name} is a string", field=name)
    if "\x00" in v:
        raise Invalid(f"{name} holds a NUL character", field=name)
    if len(v) > most:
        raise Invalid(f"{name} is longer than {most} characters", field=name)
    return v


def _lock(cur, iid: str) -> dict:
    cur.execute(f"SELECT {COLUMNS} FROM inspections WHERE id = %s FOR UPDATE", (iid,))
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"no inspection {iid}", inspection=iid)
    return dict(row)


def visible(viewer: Viewer, row: dict) -> bool:
    """Coordinators, admins and viewers read all; a supervisor the inspections he is on and
    those of his grids."""
    if viewer.role in READ_ALL:
        return True
    if viewer.role == "supervisor" and viewer.person:
        return viewer.person in row["inspectors"] or row.get("grid") in viewer.grids or \
            row.get("level1") in viewer.grids
    return False


def _may_change(viewer: Viewer, row: dict) -> None:
    if not visible(viewer, row):
        raise NotFound(f"no inspection {row['id']}", inspection=row["id"])
    if row["sealed_at"] is not None:
        raise Conflict(f"inspection {row['id']} is sealed", reason="a sealed inspection never changes")
    if viewer.role != "supervisor" or viewer.person not in row["inspectors"]:
        raise Forbidden("only the inspection's own inspectors change it")


def _checklist(cur, cid: str) -> dict:
    cl = checklists.get(cur, cid)
    if cl is None:
        raise Invalid(f"no checklist {cid!r}", field="checklist")
    return cl


# -- create -------------------------------------------------------------------------------------

def create(conn, body: dict, viewer: Viewer, *, person_role, now: datetime | None = None) -> tuple[dict, bool]:
    """-> (inspection, created). `person_role(id)` gives a person's role or None. An `id` already
    on record answers the record as it is (created False): a terminal's resend changes nothing."""
    if not isinstance(body, dict):
        raise Invalid("the body is a JSON object", field="body")
    unknown = sorted(set(body) - {"id", "uscc", "checklist", "kind", "draw", "task", "inspectors", "lat", "lon"})
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}", field=unknown[0], unknown=unknown)
    iid = body.get("id")
    if iid is not None:
        try:
            iid = str(uuid.UUID(str(iid)))
        except ValueError:
            raise Invalid("id is a UUID", field="id") from None
    else:
        iid = str(uuid.uuid4())
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("inspection:" + iid,))
        cur.execute(f"SELECT {COLUMNS} FROM inspections WHERE id = %s", (iid,))
        got = cur.fetchone()
        if got is not None:
            if not visible(viewer, got):
                raise NotFound(f"no inspection {iid}", inspection=iid)
            return dict(got), False
        if viewer.role != "supervisor" or not viewer.person:
            raise Forbidden(f"role {viewer.role!r} does not inspect: inspections are made by supervisors")
        uscc = _plain_str(body.get("uscc"), "uscc", 18, required=True)
        cur.execute("SELECT uscc, category, grid, level1, branch, lat, lon FROM entities WHERE uscc = %s", (uscc,))
        ent = cur.fetchone()
        if ent is None:
            raise Invalid(f"no entity {uscc} in the register", field="uscc")
        cid = _plain_str(body.get("checklist"), "checklist", 40, required=True)
        _checklist(cur, cid)
        kind = body.get("kind")
        if kind not in KINDS:
            raise Invalid(f"kind is one of {', '.join(KINDS)}", field="kind", allowed=list(KINDS))
        people = body.get("inspectors")
        if not isinstance(people, list) or not people or not all(isinstance(p, str) for p in people):
            raise Invalid("inspectors is a list of person ids", field="inspectors")
        if len(set(people)) != len(people):
            raise Invalid("inspectors lists a person twice", field="inspectors")
        for p in people:
            role = person_role(p)
            if role is None:
                raise Invalid(f"no person {p}", field="inspectors")
            if role not in INSPECTOR_ROLES:
                raise Invalid(f"{p} is a {role}, not a supervisor: inspectors are supervisors", field="inspectors")
        if viewer.person not in people:
            raise Forbidden("an inspection is made by one of its inspectors")
        if kind == "double_random" and len(people) < 2:
            raise Invalid("a double random inspection has at least 2 inspectors", field="inspectors")
        refs = {}
        for name, table in (("draw", "draws"), ("task", "tasks")):
            v = _plain_str(body.get(name), name, 64)
            if v is not None:
                cur.execute(f"SELECT 1 FROM {table} WHERE id = %s", (v,))
                if cur.fetchone() is None:
                    raise Invalid(f"no {name} {v}", field=name)
            refs[name] = v
        if kind == "task" and refs["task"] is None:
            raise Invalid("a task inspection names its task", field="task")
        point = {}
        for name, lim in (("lat", 90), ("lon", 180)):
            v = body.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not -lim <= v <= lim):
                raise Invalid(f"{name} is a number in [-{lim}, {lim}]", field=name)
            point[name] = v
        at = now or datetime.now(timezone.utc)
        cur.execute(f"INSERT INTO inspections (id, uscc, checklist, kind, draw, task, inspectors, lat, lon, grid, "
                    f"level1, branch, category, started_at, created_by, updated_at) VALUES (%s, %s, %s, %s, %s, %s, "
                    f"%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
                    (iid, uscc, cid, kind, refs["draw"], refs["task"], people, point["lat"], point["lon"],
                     ent["grid"], ent["level1"], ent["branch"], ent["category"], at, viewer.actor, at))
        row = dict(cur.fetchone())
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=iid, action="create",
                     after={k: row[k] for k in ("uscc", "checklist", "kind", "draw", "task", "inspectors", "lat", "lon")})
    return row, True


# -- answers, notes ---------------------------------------------------------------------------

def put_answers(conn, iid: str, body: dict, viewer: Viewer) -> dict:
    """Merges `{code: {result, note?}}` into the answers; an unknown item code refuses all."""
    if not isinstance(body, dict) or not body:
        raise Invalid("the body is an object of item code -> {result, note?}", field="body")
    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, iid)
        _may_change(viewer, row)
        items = {i["code"] for i in _checklist(cur, row["checklist"])["items"]}
        unknown = sorted(set(body) - items)
        if unknown:
            raise Invalid(f"unknown item code {unknown[0]!r} in checklist {row['checklist']}", field=unknown[0],
                          unknown=unknown)
        clean = {}
        for code, a in body.items():
            if not isinstance(a, dict) or a.get("result") not in ANSWERS or set(a) - {"result", "note"}:
                raise Invalid(f"{code}: an answer is {{result: pass|fail|na, note?}}", field=code, allowed=list(ANSWERS))
            note = _plain_str(a.get("note"), f"{code}.note")
            clean[code] = {"result": a["result"], **({"note": note} if note else {})}
        before = {c: row["answers"].get(c) for c in clean}
        merged = {**row["answers"], **clean}
        cur.execute("UPDATE inspections SET answers = %s, updated_at = now() WHERE id = %s", (Jsonb(merged), iid))
        b, a = audit.changed(before, clean)
        if a:
            audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=iid, action="answers",
                         before={"answers": b}, after={"answers": a})
    return get(conn, iid, viewer)


def put_notes(conn, iid: str, notes, viewer: Viewer) -> dict:
    notes = _plain_str(notes, "notes", 10_000)
    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, iid)
        _may_change(viewer, row)
        if row["notes"] != notes:
            cur.execute("UPDATE inspections SET notes = %s, updated_at = now() WHERE id = %s", (notes, iid))
            audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=iid, action="notes",
                         before={"notes": row["notes"]}, after={"notes": notes})
    return get(conn, iid, viewer)


# -- media --------------------------------------------------------------------------------------

def check_media_target(conn, iid: str, viewer: Viewer, item: str) -> None:
    """Before any bytes are stored: the inspection exists, may be changed by him, the item is its."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {COLUMNS} FROM inspections WHERE id = %s", (iid,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no inspection {iid}", inspection=iid)
        _may_change(viewer, dict(row))
        if item and item not in {i["code"] for i in _checklist(cur, row["checklist"])["items"]}:
            raise Invalid(f"unknown item code {item!r} in checklist {row['checklist']}", field="item")


def add_media(conn, iid: str, stored, viewer: Viewer, *, item: str = "", taken_at=None,
              lat: float | None = None, lon: float | None = None) -> bool:
    """Links an evidence file to the inspection (per item or, item '', the whole). The same file
    for the same item again changes nothing (False)."""
    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, iid)
        _may_change(viewer, row)
        if item and item not in {i["code"] for i in _checklist(cur, row["checklist"])["items"]}:
            raise Invalid(f"unknown item code {item!r} in checklist {row['checklist']}", field="item")
        cur.execute("SELECT 1 FROM record_media WHERE record_type = %s AND record_id = %s AND sha256 = %s AND item = %s",
                    (RECORD, iid, stored.sha256, item))
        if cur.fetchone() is not None:
            return False
        media_store.attach(cur, stored, record_type=RECORD, record_id=iid, actor=viewer.actor, item=item,
                           taken_at=taken_at, lat=lat, lon=lon)
        cur.execute("UPDATE inspections SET updated_at = now() WHERE id = %s", (iid,))
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=iid, action="media",
                     after={"sha256": stored.sha256, "type": stored.type, "size": stored.size, "item": item})
    return True


# -- signatures ---------------------------------------------------------------------------------

def judge_signature(image) -> tuple[bytes, str]:
    """A data URL -> (bytes, type), judged by the bytes: a PNG, or an SVG document (no DTD, no
    entities, root element svg). Anything else is refused (422 on `image`)."""
    if not isinstance(image, str):
        raise Invalid("image is a data URL (data:image/png;base64,... or an SVG)", field="image")
    m = DATA_URL.match(image[:64 + MAX_SIGNATURE_BYTES * 2])
    if not m:
        raise Invalid("image is not a data URL", field="image")
    try:
        data = base64.b64decode(m["data"], validate=True) if m["b64"] else unquote_to_bytes(m["data"])
    except (binascii.Error, ValueError):
        raise Invalid("image's base64 is broken", field="image") from None
    if len(data) > MAX_SIGNATURE_BYTES:
        raise Invalid(f"image is larger than {MAX_SIGNATURE_BYTES} bytes", field="image")
    if data.startswith(PNG_MAGIC):
        return data, "image/png"
    head = data.lstrip()[:5].lower()
    if head.startswith((b"<svg", b"<?xml")):
        if b"<!doctype" in data.lower() or b"<!entity" in data.lower():
            raise Invalid("image: an SVG with a DTD or entities is refused", field="image")
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            raise Invalid("image is not a well-formed SVG", field="image") from None
        if root.tag.rsplit("}", 1)[-1] != "svg":
            raise Invalid("image is XML but not an SVG", field="image")
        return data, "image/svg+xml"
    raise Invalid("image is neither a PNG nor an SVG (judged by its bytes)", field="image")


def _put_bytes(store, data: bytes, mtype: str) -> media_store.Stored:
    """Stores bytes this module has judged itself (a signature's SVG, its strokes as JSON):
    the same layout and atomic rename as an upload."""
    sha = hashlib.sha256(data).hexdigest()
    dest = store.path(sha)
    if dest.exists():
        return media_store.Stored(sha, len(data), mtype, new=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".sig-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, dest)
    return media_store.Stored(sha, len(data), mtype, new=True)


def _strokes(strokes) -> bytes | None:
    """signature_pad's point groups ([{points: [{x, y, time, pressure}], ...}]) as JSON bytes."""
    if strokes is None:
        return None
    if not isinstance(strokes, list):
        raise Invalid("strokes is a list of stroke groups (signature_pad's toData())", field="strokes")
    data = orjson.dumps(strokes)
    if len(data) > MAX_STROKES_BYTES:
        raise Invalid(f"strokes are larger than {MAX_STROKES_BYTES} bytes", field="strokes")
    return data


def add_signature(conn, iid: str, body: dict, viewer: Viewer, store, *, person_name) -> dict:
    """An inspector's or the entity's signature (image kept as a file, strokes as a JSON file),
    or the entity's refusal with a witness. A party who signs again replaces his signature."""
    if not isinstance(body, dict):
        raise Invalid("the body is a JSON object", field="body")
    unknown = sorted(set(body) - {"party", "name", "person", "image", "strokes", "refused", "witness", "note"})
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}", field=unknown[0], unknown=unknown)
    party = body.get("party")
    if party not in ("inspector", "entity"):
        raise Invalid("party is inspector or entity", field="party", allowed=["inspector", "entity"])
    with conn.cursor() as cur:      # who may, before any file is written
        cur.execute(f"SELECT {COLUMNS} FROM inspections WHERE id = %s", (iid,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no inspection {iid}", inspection=iid)
        _may_change(viewer, dict(row))
    entry: dict = {"party": party}
    files: list[tuple[media_store.Stored, str]] = []
    if party == "entity" and body.get("refused"):
        if body.get("refused") is not True:
            raise Invalid("refused is true", field="refused")
        entry.update(refused=True, witness=_plain_str(body.get("witness"), "witness", 200, required=True),
                     note=_plain_str(body.get("note"), "note"))
        slot = "signature:entity"
    else:
        person = None
        if party == "inspector":
            person = _plain_str(body.get("person"), "person", 64, required=True)
            if person not in row["inspectors"]:
                raise Invalid(f"{person} is not an inspector of this inspection", field="person")
            name = _plain_str(body.get("name"), "name", 100) or person_name(person) or person
            slot = f"signature:inspector:{person}"
        else:
            name = _plain_str(body.get("name"), "name", 100, required=True)
            slot = "signature:entity"
        data, mtype = judge_signature(body.get("image"))
        strokes = _strokes(body.get("strokes"))
        img = _put_bytes(store, data, mtype)
        files.append((img, slot))
        entry.update(name=name, **({"person": person} if person else {}), sha256=img.sha256, type=mtype)
        if strokes is not None:
            st = _put_bytes(store, strokes, "application/json")
            files.append((st, slot + ":strokes"))
            entry["strokes_sha256"] = st.sha256
    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, iid)
        _may_change(viewer, row)
        key = (entry["party"], entry.get("person"))
        old = [s for s in row["signatures"] if (s["party"], s.get("person")) == key]
        sigs = [s for s in row["signatures"] if (s["party"], s.get("person")) != key] + [entry]
        cur.execute("DELETE FROM record_media WHERE record_type = %s AND record_id = %s AND (item = %s OR item = %s)",
                    (RECORD, iid, slot, slot + ":strokes"))
        for stored, item in files:
            media_store.attach(cur, stored, record_type=RECORD, record_id=iid, actor=viewer.actor, item=item)
        cur.execute("UPDATE inspections SET signatures = %s, updated_at = now() WHERE id = %s", (Jsonb(sigs), iid))
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=iid,
                     action="refusal" if entry.get("refused") else "signature",
                     before={"signature": old[0]} if old else None, after={"signature": entry})
    return entry


# -- seal ---------------------------------------------------------------------------------------

def missing(row: dict, checklist: dict) -> list[str]:
    """What keeps an inspection from being sealed, each named."""
    out = []
    for i in checklist["items"]:
        if i["required"] and i["code"] not in row["answers"]:
            out.append(f"answer to required item {i['code']}")
    signed = {s.get("person") for s in row["signatures"] if s["party"] == "inspector" and s.get("sha256")}
    for p in row["inspectors"]:
        if p not in signed:
            out.append(f"signature of inspector {p}")
    if row["kind"] == "double_random" and len(signed & set(row["inspectors"])) < 2:
        out.append("signatures of at least 2 inspectors (double random)")
    ent = [s for s in row["signatures"] if s["party"] == "entity"]
    if not ent:
        out.append("the entity's signature, or its refusal with a witness")
    return out


def seal(conn, iid: str, viewer: Viewer, *, key, tz, now: datetime | None = None) -> dict:
    """-> {result, hash, sealed_at, receipt_token, signature, key_id}; 422 naming what is missing."""
    with conn.transaction(), conn.cursor() as cur:
        row = _lock(cur, iid)
        _may_change(viewer, row)
        cl = _checklist(cur, row["checklist"])
        lacks = missing(row, cl)
        if lacks:
            raise Invalid("the inspection is incomplete: " + "; ".join(lacks), field="seal", missing=lacks)
        result, failed = checklists.decide(cl["rule"], cl["items"], row["answers"])
        today = (now or datetime.now(timezone.utc)).astimezone(tz).date()
        days = int(cl["rule"].get("rectify_days", checklists.DEFAULT_RECTIFY_DAYS))
        rectify_by: date | None = today + timedelta(days=days) if result != "pass" else None
        token = secrets.token_urlsafe(TOKEN_BYTES)
        cur.execute("UPDATE inspections SET result = %s, failed_items = %s, rectify_by = %s, receipt_token = %s, "
                    "updated_at = now() WHERE id = %s", (result, failed, rectify_by, token, iid))
        s = sealing.seal(cur, RECORD, iid)
        signature = key.sign(s["hash"])
        audit.record(cur, actor=viewer.actor, record_type=RECORD, record_id=iid, action="seal",
                     after={"result": result, "failed_items": failed, "rectify_by": rectify_by, "hash": s["hash"],
                            "seq": s["seq"], "signature": signature, "key_id": key.key_id, "algorithm": "Ed25519"})
    return {"result": result, "hash": s["hash"], "sealed_at": s["sealed_at"], "receipt_token": token,
            "signature": signature, "key_id": key.key_id, "rectify_by": rectify_by, "failed_items": failed}


# -- reads --------------------------------------------------------------------------------------

def _media_rows(cur, iid: str) -> list[dict]:
    cur.execute("SELECT rm.sha256, rm.item, rm.taken_at, rm.lat, rm.lon, rm.added_at, m.size, m.type "
                "FROM record_media rm JOIN media m USING (sha256) WHERE rm.record_type = %s AND rm.record_id = %s "
                "ORDER BY rm.added_at, rm.sha256", (RECORD, iid))
    return [dict(r) for r in cur.fetchall()]


def _seal_entry(cur, iid: str) -> dict | None:
    cur.execute("SELECT after FROM audit WHERE record_type = %s AND record_id = %s AND action = 'seal' "
                "ORDER BY id DESC LIMIT 1", (RECORD, iid))
    r = cur.fetchone()
    return r["after"] if r else None


def get(conn, iid: str, viewer: Viewer | None, *, history: bool = True) -> dict:
    """One inspection with its media, the entity's name, the checklist's name and, sealed, the
    bureau's signature over its hash. `viewer` None: no access check (the receipt, the PDF)."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join('i.' + c.strip() for c in COLUMNS.split(','))}, e.name AS entity_name, "
                    f"e.address AS entity_address, c.name AS checklist_name FROM inspections i "
                    f"JOIN entities e USING (uscc) LEFT JOIN checklists c ON c.id = i.checklist WHERE i.id = %s", (iid,))
        row = cur.fetchone()
        if row is None or (viewer is not None and not visible(viewer, row)):
            raise NotFound(f"no inspection {iid}", inspection=iid)
        out = dict(row)
        out["media"] = _media_rows(cur, iid)
        if out["sealed_at"] is not None:
            sig = _seal_entry(cur, iid) or {}
            out["signature"] = {k: sig.get(k) for k in ("algorithm", "key_id", "signature")}
        if history:
            out["history"] = [{"at": h["at"], "actor": h["actor"], "action": h["action"], "note": h["note"]}
                              for h in audit.trail(cur, RECORD, iid)]
    return out


def by_token(conn, token: str) -> dict | None:
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM inspections WHERE receipt_token = %s AND sealed_at IS NOT NULL", (token,))
        r = cur.fetchone()
    return get(conn, r["id"], None, history=False) if r else None


def list_inspections(conn, viewer: Viewer, *, uscc=None, inspector=None, kind=None, start=None, end=None,
                     limit: int = 200) -> list[dict]:
    where, args = [], []
    if viewer.role not in READ_ALL:
        if viewer.role != "supervisor" or not viewer.person:
            return []
        where.append("(%s = ANY(inspectors) OR grid = ANY(%s) OR level1 = ANY(%s))")
        args += [viewer.person, list(viewer.grids), list(viewer.grids)]
    for col, v in (("uscc", uscc), ("kind", kind)):
        if v:
            where.append(f"{col} = %s")
            args.append(v)
    if inspector:
        where.append("%s = ANY(inspectors)")
        args.append(inspector)
    if start:
        where.append("started_at >= %s")
        args.append(start)
    if end:
        where.append("started_at < %s")
        args.append(end)
    sql = (f"SELECT {COLUMNS} FROM inspections" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY started_at DESC, id LIMIT %s")
    with conn.cursor() as cur:
        cur.execute(sql, (*args, limit))
        return [dict(r) for r in cur.fetchall()]
