"""The entity register (table `entities`): written by `gridwatch load` from the dataset's
entities.csv (upsert by USCC; an entity that leaves the dataset is marked inactive, never
deleted, so its history stays), searched by name or USCC prefix, and read with its history
and risk class."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd

from alerts.errors import Invalid, NotFound
from casework import audit

FIELDS = ("name", "kind", "category", "address", "lat", "lon", "grid", "level1", "branch")
USCC_PREFIX = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2,18}$")
MAX_LIMIT = 100
CANDIDATES = 500


def entity_rows(dataset) -> pd.DataFrame:
    """The dataset's entities with the level-1 grid and branch of their level-2 grid."""
    g = dataset.grids
    parent = dict(zip(g["id"], g["parent"]))
    branch = dict(zip(g["id"], g["branch"])) if "branch" in g else {}
    e = dataset.entities.copy()
    e["level1"] = e["grid"].map(lambda x: parent.get(x) if isinstance(x, str) else None)
    e["branch"] = e["level1"].map(lambda x: branch.get(x) if isinstance(x, str) else None)
    for col in ("grid", "level1", "branch"):
        e[col] = e[col].where(e[col].notna(), None)
    return e[["uscc", *FIELDS]]


def sync(conn, dataset, actor: str) -> dict[str, int]:
    """Upserts the dataset's entities in one transaction with an audit entry per change;
    returns {added, changed, deactivated, unchanged}."""
    rows = entity_rows(dataset)
    cols = ", ".join(FIELDS)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE incoming (uscc text PRIMARY KEY, name text, kind text, category text, "
                    f"address text, lat double precision, lon double precision, grid text, level1 text, "
                    f"branch text) ON COMMIT DROP")
        with cur.copy(f"COPY incoming (uscc, {cols}) FROM STDIN") as copy:
            for r in rows.itertuples(index=False):
                copy.write_row([None if (isinstance(v, float) and v != v) else v for v in r])
        differs = " OR ".join(f"e.{c} IS DISTINCT FROM i.{c}" for c in FIELDS)
        after = "jsonb_build_object(" + ", ".join(f"'{c}', i.{c}" for c in FIELDS) + ")"
        before = "jsonb_build_object(" + ", ".join(f"'{c}', e.{c}" for c in FIELDS) + ")"
        # audit first (it reads the old rows), then the change itself
        cur.execute(f"INSERT INTO audit (actor, record_type, record_id, action, after) "
                    f"SELECT %s, 'entity', i.uscc, 'register', {after} FROM incoming i "
                    f"LEFT JOIN entities e USING (uscc) WHERE e.uscc IS NULL", (actor,))
        added = cur.rowcount
        cur.execute(f"INSERT INTO audit (actor, record_type, record_id, action, before, after) "
                    f"SELECT %s, 'entity', i.uscc, CASE WHEN e.active THEN 'update' ELSE 'reactivate' END, "
                    f"{before} || jsonb_build_object('active', e.active), {after} || '{{\"active\": true}}' "
                    f"FROM incoming i JOIN entities e USING (uscc) WHERE ({differs}) OR NOT e.active", (actor,))
        changed = cur.rowcount
        cur.execute("INSERT INTO audit (actor, record_type, record_id, action, before, after) "
                    "SELECT %s, 'entity', e.uscc, 'deactivate', '{\"active\": true}', '{\"active\": false}' "
                    "FROM entities e WHERE e.active AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.uscc = e.uscc)",
                    (actor,))
        deactivated = cur.rowcount
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in FIELDS)
        cur.execute(f"INSERT INTO entities (uscc, {cols}) SELECT uscc, {cols} FROM incoming "
                    f"ON CONFLICT (uscc) DO UPDATE SET {sets}, active = true, left_at = NULL, updated_at = now() "
                    f"WHERE " + " OR ".join(f"entities.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in FIELDS)
                    + " OR NOT entities.active")
        cur.execute("UPDATE entities e SET active = false, left_at = now(), updated_at = now() "
                    "WHERE e.active AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.uscc = e.uscc)")
    if added or changed or deactivated:
        conn.commit()
        # the name pairs' frequencies, which the search's plan is chosen by (migration 0002), and
        # the pages marked all visible, which the draws' index-only scan needs (migration 0011)
        was, conn.autocommit = conn.autocommit, True
        try:
            conn.execute("VACUUM (ANALYZE) entities")
        finally:
            conn.autocommit = was
    return {"added": added, "changed": changed, "deactivated": deactivated,
            "unchanged": len(rows) - added - changed}


# --- search ------------------------------------------------------------------------------

SEARCH_COLUMNS = "uscc, name, kind, category, address, lat, lon, grid, level1, branch, active"


def search(conn, q: str = "", *, grid: str | None = None, category: str | None = None,
           limit: int = 20, include_inactive: bool = False) -> list[dict]:
    """Entities whose name holds `q` anywhere, or whose USCC starts with it (upper-cased): the
    exact USCC first, then the shortest names (the likeliest meant). A fragment that many names
    hold ("有限公司") would cost a sort of every match, so the ranking is over the first
    CANDIDATES matches the index gives (in storage order): refine the query to see others.
    `grid` takes a level-1 or level-2 id."""
    q = (q or "").strip()
    if len(q) > 100:
        raise Invalid("q is at most 100 characters", field="q")
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be 1-{MAX_LIMIT}", field="limit")
    where, args = [], []
    if not include_inactive:
        where.append("active")
    if grid:
        where.append("(grid = %s OR level1 = %s)")
        args += [grid, grid]
    if category:
        where.append("category = %s")
        args.append(category)
    order = "name, uscc"          # without q: the register in name order (its own index)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        name = "(name_grams @> %s::text[] AND name ILIKE %s)"
        if USCC_PREFIX.match(q.upper()):
            where.append(f"(uscc LIKE %s OR {name})")
            args += [q.upper() + "%", grams(q), like]
            order = f"(uscc = {_lit(q.upper())}) DESC, length(name), name, uscc"
        else:
            where.append(name)
            args += [grams(q), like]
            order = "length(name), name, uscc"
    if not q:
        sql = (f"SELECT {SEARCH_COLUMNS} FROM entities" + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY {order} LIMIT %s")
        with conn.cursor() as cur:
            cur.execute(sql, (*args, limit))
            return list(cur.fetchall())
    sql = (f"SELECT * FROM (SELECT {SEARCH_COLUMNS} FROM entities WHERE {' AND '.join(where)} LIMIT {CANDIDATES}) c "
           f"ORDER BY {order} LIMIT %s")
    with conn.transaction(), conn.cursor() as cur:
        # the first matches in storage order, whichever scan another query has under way
        cur.execute("SET LOCAL synchronize_seqscans = off")
        cur.execute(sql, (*args, limit))
        return list(cur.fetchall())


def grams(q: str) -> list[str]:
    """What `name_grams` must hold for a name to contain q: its pairs of adjacent characters
    (lower case), or the character itself (migration 0002)."""
    q = q.lower()
    return [q] if len(q) == 1 else sorted({q[i:i + 2] for i in range(len(q) - 1)})


def _lit(s: str) -> str:
    # only ever called on a string that matched USCC_PREFIX: [0-9A-Z]
    return "'" + s + "'"


# --- one entity: history and risk -------------------------------------------------------

HISTORY_SQL = """
SELECT 'inspection' AS type, id, started_at AS at, kind AS what, coalesce(result, 'open') AS state,
       coalesce(array_to_string(failed_items, ','), '') AS detail
  FROM inspections WHERE uscc = %(u)s
UNION ALL
SELECT 'task', id, reported_at, category, state, left(description, 120) FROM tasks WHERE uscc = %(u)s
UNION ALL
SELECT 'complaint', id, received_at, category, state,
       CASE WHEN founded THEN 'founded' WHEN founded = false THEN 'unfounded' ELSE '' END
  FROM complaints WHERE respondent_uscc = %(u)s
UNION ALL
SELECT 'case', id, opened_at, source_type, state, coalesce(document_no, '') FROM cases WHERE uscc = %(u)s
ORDER BY at DESC, id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Risk:
    level: str          # A (lowest) .. D (highest)
    reasons: tuple[str, ...]


def risk_of(history: list[dict], now: datetime) -> Risk:
    """The entity's risk class from its own records (docs/records.md, "Risk"):
    D: a penalty decision in the last 24 months, or 2+ failed inspections in the last 12;
    C: a failed inspection, a founded complaint or a case opened in the last 12 months;
    B: an inspection to rectify or any complaint in the last 12 months, or no inspection in 36;
    A: otherwise."""
    y1, y2, y3 = now - timedelta(days=365), now - timedelta(days=730), now - timedelta(days=1095)
    recent = [h for h in history if h["at"] >= y1]
    fails = sum(1 for h in recent if h["type"] == "inspection" and h["state"] == "fail")
    decided = [h for h in history if h["type"] == "case" and h["state"] == "decided" and h["at"] >= y2]
    if decided or fails >= 2:
        return Risk("D", tuple(["penalty decision in the last 24 months"] * bool(decided)
                               + [f"{fails} failed inspections in the last 12 months"] * (fails >= 2)))
    reasons = []
    if fails:
        reasons.append("failed inspection in the last 12 months")
    if any(h["type"] == "complaint" and h["detail"] == "founded" for h in recent):
        reasons.append("founded complaint in the last 12 months")
    if any(h["type"] == "case" for h in recent):
        reasons.append("case opened in the last 12 months")
    if reasons:
        return Risk("C", tuple(reasons))
    if any(h["type"] == "inspection" and h["state"] == "rectify" for h in recent):
        reasons.append("inspection with items to rectify in the last 12 months")
    if any(h["type"] == "complaint" for h in recent):
        reasons.append("complaint in the last 12 months")
    if not any(h["type"] == "inspection" and h["at"] >= y3 for h in history):
        reasons.append("not inspected in the last 36 months")
    return Risk("B", tuple(reasons)) if reasons else Risk("A", ())


def get(conn, uscc: str, *, history_limit: int = 200, now: datetime | None = None) -> dict:
    now = now or datetime.now(timezone.utc)
    with conn.cursor() as cur:
        cur.execute(f"SELECT {SEARCH_COLUMNS}, registered_at, updated_at, left_at FROM entities WHERE uscc = %s",
                    (uscc.upper(),))
        ent = cur.fetchone()
        if ent is None:
            raise NotFound(f"no entity with USCC {uscc!r}")
        cur.execute(HISTORY_SQL, {"u": ent["uscc"], "limit": 100_000})
        history = list(cur.fetchall())
    r = risk_of(history, now)
    return {**ent, "risk": r.level, "risk_reasons": list(r.reasons), "history": history[:history_limit],
            "history_total": len(history)}
