"""Sealing: a record that is final (a signed inspection, a task closed for 7 days, a closed
complaint, a published draw, a decided case) gets `hash`, the SHA-256 of its canonical JSON
(RFC 8785), which holds the record's columns, the SHA-256 of each of its media and the hash
of the record sealed before it: one chain over all sealed records (table `seals`).

Sealing takes a transaction-scoped advisory lock, so two sealers never read the same previous
hash (the chain never forks). The database refuses any UPDATE or DELETE of a sealed row and of
the chain itself (triggers); `verify` recomputes every hash from the rows as they are now, so
an edit made around the triggers (by hand with the triggers off, a restore of an old table) is
found and the first bad record named."""
from __future__ import annotations

import hashlib

import orjson
from dataclasses import dataclass
from datetime import datetime

from alerts.errors import Conflict, NotFound
from casework.canonical import canonical

# record type -> table; every sealable table has `id`, `sealed_at` and `hash`.
TABLES = {"task": "tasks", "inspection": "inspections", "draw": "draws",
          "complaint": "complaints", "case": "cases"}
EXCLUDED = ("hash", "sealed_at")      # set by sealing itself
CHAIN_LOCK = 0x67770001              # pg_advisory_xact_lock key of the chain


def content(record_type: str, record_id: str, row: dict, media: list[str],
            prev_hash: str | None, sealed_at: str) -> dict:
    """What the hash covers. `row` is the record as JSON (PostgreSQL's to_jsonb, in UTC)."""
    return {"type": record_type, "id": record_id, "record": row, "media": sorted(media),
            "prev": prev_hash, "sealed_at": sealed_at}


def digest(doc: dict) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


def _row_json(cur, table: str, record_id: str, fields: list[str] | None) -> dict | None:
    cur.execute(f"SELECT to_jsonb(t) AS j FROM {table} t WHERE id = %s", (record_id,))
    got = cur.fetchone()
    if got is None:
        return None
    row = got["j"]
    keys = fields if fields is not None else [k for k in row if k not in EXCLUDED]
    return {k: row.get(k) for k in keys}


def _media(cur, record_type: str, record_id: str) -> list[str]:
    cur.execute("SELECT DISTINCT sha256 FROM record_media WHERE record_type = %s AND record_id = %s",
                (record_type, record_id))
    return [r["sha256"] for r in cur.fetchall()]


def seal(cur, record_type: str, record_id: str) -> dict:
    """Seals one record in the caller's transaction; returns {hash, sealed_at, prev_hash, seq}.
    A record already sealed is a Conflict."""
    table = TABLES[record_type]
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    cur.execute(f"SELECT sealed_at FROM {table} WHERE id = %s FOR UPDATE", (record_id,))
    got = cur.fetchone()
    if got is None:
        raise NotFound(f"no {record_type} {record_id!r}")
    if got["sealed_at"] is not None:
        raise Conflict(f"{record_type} {record_id} is sealed", reason="sealed records never change")
    cur.execute("SELECT hash FROM seals ORDER BY seq DESC LIMIT 1")
    last = cur.fetchone()
    prev = last["hash"] if last else None
    cur.execute("SELECT now() AS t")
    sealed_at: datetime = cur.fetchone()["t"]
    row = _row_json(cur, table, record_id, None)
    fields = sorted(row)
    h = digest(content(record_type, record_id, row, _media(cur, record_type, record_id), prev,
                       sealed_at.isoformat()))
    cur.execute("INSERT INTO seals (record_type, record_id, sealed_at, fields, prev_hash, hash) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq",
                (record_type, record_id, sealed_at, fields, prev, h))
    seq = cur.fetchone()["seq"]
    cur.execute(f"UPDATE {table} SET hash = %s, sealed_at = %s WHERE id = %s", (h, sealed_at, record_id))
    return {"hash": h, "sealed_at": sealed_at, "prev_hash": prev, "seq": seq}


@dataclass
class Verdict:
    ok: bool
    checked: int
    bad: dict | None = None     # {seq, type, id, problem}

    def text(self) -> str:
        if self.ok:
            return f"ok: {self.checked} sealed records, chain intact"
        b = self.bad
        return (f"FAILED at sealed record #{b['seq']} ({b['type']} {b['id']}): {b['problem']}; "
                f"{self.checked} records before it are intact")


def verify(conn, batch: int = 5000) -> Verdict:
    """Recomputes the whole chain in sealing order; stops at the first record that fails.
    Reads the chain and the records a batch at a time."""
    prev = None
    checked = 0
    with conn.cursor(name="gw_verify") as seals, conn.cursor() as cur:
        seals.itersize = batch
        seals.execute("SELECT seq, record_type, record_id, sealed_at, fields, prev_hash, hash "
                      "FROM seals ORDER BY seq")
        while part := seals.fetchmany(batch):
            rows, stored = {}, {}
            for rtype in {s["record_type"] for s in part}:
                table = TABLES.get(rtype)
                if table is None:
                    continue
                ids = [s["record_id"] for s in part if s["record_type"] == rtype]
                cur.execute(f"SELECT id, hash, to_jsonb(t) AS j FROM {table} t WHERE id = ANY(%s)", (ids,))
                for r in cur.fetchall():
                    rows[(rtype, r["id"])], stored[(rtype, r["id"])] = r["j"], r["hash"]
            media = _media_of(cur, [(s["record_type"], s["record_id"]) for s in part])
            for s in part:
                key = (s["record_type"], s["record_id"])
                where = {"seq": s["seq"], "type": s["record_type"], "id": s["record_id"]}
                if s["prev_hash"] != prev:
                    return Verdict(False, checked, {**where, "problem": "the chain is broken here "
                                   "(its previous hash is not the hash of the record sealed before it)"})
                if key not in rows:
                    return Verdict(False, checked, {**where, "problem": "the record is missing"})
                row = {k: rows[key].get(k) for k in s["fields"]}
                h = digest(content(s["record_type"], s["record_id"], row, media.get(key, []), prev,
                                   s["sealed_at"].isoformat()))
                if h != s["hash"]:
                    return Verdict(False, checked, {**where, "problem": "its content no longer matches its hash "
                                   "(the record or its media list was changed after sealing)"})
                if stored[key] != s["hash"]:
                    return Verdict(False, checked, {**where, "problem": "the hash stored on the record differs from the chain's"})
                prev = s["hash"]
                checked += 1
    return Verdict(True, checked)


def _media_of(cur, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    cur.execute("SELECT DISTINCT record_type, record_id, sha256 FROM record_media WHERE (record_type, record_id) IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[]))", ([t for t, _ in keys], [i for _, i in keys]))
    out: dict[tuple[str, str], list[str]] = {}
    for r in cur.fetchall():
        out.setdefault((r["record_type"], r["record_id"]), []).append(r["sha256"])
    return out


def seal_many(cur, items: list[tuple[datetime, str, str]], source: dict[str, str] | None = None,
              chunk: int = 20_000) -> dict[str, list[tuple[str, str, datetime]]]:
    """Seals many records at once in the order of their seal times (a dataset's history, loaded
    in one transaction): the same content and chain as `seal`, the chain written to `seals`.
    `source` names, per record type, a staging table with the record table's columns to read
    the records from (default the record tables): the caller then writes the records with
    their hashes in one insert instead of updating each. Returns {type: [(id, hash, sealed_at)]}."""
    source = {**TABLES, **(source or {})}
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    cur.execute("SELECT hash, sealed_at FROM seals ORDER BY seq DESC LIMIT 1")
    last = cur.fetchone()
    prev = last["hash"] if last else None
    items = sorted(items)
    if last and items and items[0][0] < last["sealed_at"]:
        raise Conflict("records sealed before the chain's last record cannot join it",
                       reason="the chain is in sealing order")
    out: dict[str, list[tuple[str, str, datetime]]] = {}
    rows: dict[tuple[str, str], dict] = {}
    for rtype in {t for _, t, _ in items}:
        ids = [i for _, t, i in items if t == rtype]
        # the JSON as text, parsed here by orjson (the same values psycopg's loader gives, faster)
        cur.execute(f"SELECT id, (to_jsonb(t) - 'hash' - 'sealed_at')::text AS j FROM {source[rtype]} t "
                    f"WHERE id = ANY(%s)", (ids,))
        for r in cur.fetchall():
            rows[(rtype, r["id"])] = orjson.loads(r["j"])
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        media = _media_of(cur, [(t, i) for _, t, i in part])
        seals = []
        for at, rtype, rid in part:
            row = rows.pop((rtype, rid))
            h = digest(content(rtype, rid, row, media.get((rtype, rid), []), prev, at.isoformat()))
            seals.append((rtype, rid, at, sorted(row), prev, h))
            out.setdefault(rtype, []).append((rid, h, at))
            prev = h
        with cur.copy("COPY seals (record_type, record_id, sealed_at, fields, prev_hash, hash) FROM STDIN") as copy:
            for s in seals:
                copy.write_row(s)
    return out
