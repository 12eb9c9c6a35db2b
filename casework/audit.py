"""The records' audit (table `audit`): every change to a record is written here, with actor,
time, before and after, by the same transaction that makes the change. The table is
append-only (a trigger refuses UPDATE and DELETE)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from psycopg.types.json import Jsonb


def _plain(value):
    # JSON for before/after: times as ISO 8601, decimals as numbers.
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def record(cur, *, actor: str, record_type: str, record_id: str, action: str,
           before: dict | None = None, after: dict | None = None, note: str | None = None) -> None:
    cur.execute(
        "INSERT INTO audit (actor, record_type, record_id, action, before, after, note) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (actor, record_type, record_id, action,
         Jsonb(_plain(before)) if before is not None else None,
         Jsonb(_plain(after)) if after is not None else None, note))


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields that differ, as (before, after): what an update entry keeps."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def trail(cur, record_type: str, record_id: str) -> list[dict]:
    cur.execute("SELECT at, actor, action, before, after, note FROM audit "
                "WHERE record_type = %s AND record_id = %s ORDER BY id", (record_type, record_id))
    return list(cur.fetchall())
