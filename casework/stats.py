"""Statistics over the records (CONTRACT.md section 12, docs/statistics.md): the measures by grid,
level-1 grid, branch, category or month over any range of days, per 1,000 entities and against
the previous period of the same length; the seed's summary figures; the weak spots.

Everything is read from the rollups of sql/0007_stats.sql (kept current by triggers), except
the part of `overdue_tasks` that depends on the clock: open tasks past their deadline are
counted live (their index keeps that set small)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

MEASURES = ("inspections", "failed_inspections", "tasks", "overdue_tasks", "complaints", "mediated",
            "cases", "penalties")
BY = ("grid", "level1", "branch", "category", "month")
WEAK_BY = ("grid", "level1", "category")
# a public measure -> the rollup measures it sums
ROLLUP_OF = {"overdue_tasks": ("tasks_late",)}
SUMMARY_MEASURES = ("inspections", "failed_inspections", "tasks", "tasks_late", "tasks_closed", "tasks_on_time",
                    "complaints", "complaints_founded", "mediated", "mediation_ended", "cases", "clues_verified",
                    "transferred_police", "cases_filed", "penalties")
OPEN_TASK = "state NOT IN ('handled', 'verified', 'closed', 'rejected') AND handled_at IS NULL"
WEAK_DEFAULT_DAYS = 3 * 365      # weak spots without a range: the last three years against the three before
TABLE_OF_BY = {"grid": "stats_grid", "level1": "stats_grid", "branch": "stats_grid",
               "category": "stats_category", "month": "stats_category"}


class StatsError(ValueError):
    """A bad parameter: `field` names it (the API answers 422 naming it)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Period:
    start: date | None      # both ends included; None: from the first record / to the last
    end: date | None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period | None":
        if self.start is None or self.end is None:
            return None
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def as_json(self) -> dict:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}


def parse_date(field: str, value: str | None) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise StatsError(field, f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None


def period(start: str | None, end: str | None) -> Period:
    p = Period(parse_date("from", start), parse_date("to", end))
    if p.start and p.end and p.end < p.start:
        raise StatsError("to", f"to ({p.end}) is before from ({p.start})")
    return p


def check(measure: str | None = None, by: str | None = None, *, by_allowed=BY) -> None:
    if measure is not None and measure not in MEASURES:
        raise StatsError("measure", f"measure: {measure!r} is none of {', '.join(MEASURES)}")
    if by is not None and by not in by_allowed:
        raise StatsError("by", f"by: {by!r} is none of {', '.join(by_allowed)}")


def _ranges(p: Period) -> list[tuple[str, date | None, date | None]]:
    """The (span, first, last-exclusive) pieces of the rollups that make up the period: its whole
    months from the monthly rows, the days at its edges from the daily rows."""
    if p.start is None and p.end is None:
        return [("m", None, None)]
    start = p.start or date(1970, 1, 1)
    end_x = (p.end or date(9999, 12, 30)) + timedelta(days=1)
    m0 = start if start.day == 1 else (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    m1 = end_x.replace(day=1)
    if m0 >= m1:
        return [("d", start, end_x)]
    out = [("m", m0, m1)]
    if start < m0:
        out.append(("d", start, m0))
    if m1 < end_x:
        out.append(("d", m1, end_x))
    return out


def _rollup_sql(table: str, key_sql: str, measures: list[str], p: Period) -> tuple[str, list]:
    parts, args = [], []
    for span, a, b in _ranges(p):
        cond = ["measure = ANY(%s)", "span = %s"]
        args += [measures, span]
        if a is not None:
            cond.append("period >= %s")
            args.append(a)
        if b is not None:
            cond.append("period < %s")
            args.append(b)
        parts.append(f"SELECT {key_sql} AS key, measure, n FROM {table} WHERE {' AND '.join(cond)}")
    return " UNION ALL ".join(parts), args


def _key_sql(by: str) -> str:
    return {"grid": "grid", "level1": "level1", "branch": "branch", "category": "category",
            "month": "to_char(period, 'YYYY-MM')", "kind": "kind", "all": "''"}[by]


def rollup(cur, measures: tuple[str, ...], by: str, p: Period) -> dict[tuple[str, str], int]:
    """{(key, rollup measure): sum} over the period."""
    table = "stats_category" if by in ("category", "month", "kind", "all") else "stats_grid"
    sql, args = _rollup_sql(table, _key_sql(by), list(measures), p)
    cur.execute(f"SELECT key, measure, sum(n)::bigint AS n FROM ({sql}) u GROUP BY key, measure", args)
    return {(r["key"], r["measure"]): r["n"] for r in cur.fetchall()}


def _open_overdue(cur, by: str, p: Period, tz: str) -> dict[str, int]:
    """Open tasks past their deadline now, by the day of the deadline (as tasks_late dates the
    ones handled late)."""
    key = {"grid": "coalesce(grid, '')", "level1": "coalesce(level1, '')", "branch": "coalesce(branch, '')",
           "category": "category", "month": "to_char(deadline AT TIME ZONE %(tz)s, 'YYYY-MM')",
           "kind": "source", "all": "''"}[by]
    cond = [OPEN_TASK, "deadline < now()"]
    if p.start:
        cond.append("(deadline AT TIME ZONE %(tz)s)::date >= %(a)s")
    if p.end:
        cond.append("(deadline AT TIME ZONE %(tz)s)::date <= %(b)s")
    cur.execute(f"SELECT {key} AS key, count(*) AS n FROM tasks WHERE {' AND '.join(cond)} GROUP BY 1",
                {"tz": tz, "a": p.start, "b": p.end})
    return {r["key"]: r["n"] for r in cur.fetchall()}


def _values(cur, measure: str, by: str, p: Period, tz: str) -> dict[str, int]:
    parts = ROLLUP_OF.get(measure, (measure,))
    got = rollup(cur, parts, by, p)
    out: dict[str, int] = {}
    for (key, _m), n in got.items():
        out[key] = out.get(key, 0) + n
    if measure == "overdue_tasks":
        for key, n in _open_overdue(cur, by, p, tz).items():
            out[key] = out.get(key, 0) + n
    return {k: v for k, v in out.items() if v}


def entity_counts(cur, by: str, by2: str | None = None) -> dict:
    """Active entities of the register by grid, level-1 grid, branch or category (from the
    trigger-kept stats_entities); with `by2`, by (key, key2)."""
    cols = ("grid", "level1", "branch", "category")
    if by not in cols or (by2 is not None and by2 not in cols):
        raise StatsError("by", f"by: {by!r} has no entity counts")
    if by2 is None:
        cur.execute(f"SELECT {by} AS key, sum(n)::bigint AS n FROM stats_entities GROUP BY 1")
        return {r["key"]: r["n"] for r in cur.fetchall() if r["n"]}
    cur.execute(f"SELECT {by} AS key, {by2} AS key2, sum(n)::bigint AS n FROM stats_entities GROUP BY 1, 2")
    return {(r["key"], r["key2"]): r["n"] for r in cur.fetchall() if r["n"]}


def _per_1000(value: int, entities: int | None) -> float | None:
    return round(1000.0 * value / entities, 2) if entities else None


def _change(now: int | float, before: int | float | None) -> float | None:
    if before is None or before == 0:
        return None
    return round((now - before) / before, 4)


def query(cur, measure: str, by: str, p: Period, tz: str = "Asia/Shanghai", names: dict | None = None) -> list[dict]:
    """`GET /api/stats`: [{key, value, per_1000_entities?, previous?, change?}] sorted by key."""
    check(measure, by)
    values = _values(cur, measure, by, p, tz)
    prev_p = p.previous() if by != "month" else None
    prev = _values(cur, measure, by, prev_p, tz) if prev_p else None
    ents = entity_counts(cur, by) if by != "month" else {}
    rows = []
    for key in sorted(set(values) | set(prev or {})):
        v = values.get(key, 0)
        row = {"key": key, "value": v}
        if names is not None and key in names:
            row["name"] = names[key]
        if by != "month":
            row["per_1000_entities"] = _per_1000(v, ents.get(key))
        if prev is not None:
            row["previous"] = prev.get(key, 0)
            row["change"] = _change(v, prev.get(key, 0))
        rows.append(row)
    return rows


def summary(cur, p: Period, tz: str = "Asia/Shanghai") -> dict:
    """`GET /api/stats/summary`: the figures the seed reports, over the period."""
    got = rollup(cur, SUMMARY_MEASURES, "kind", p)
    tot: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for (kind, m), n in got.items():
        tot[m] = tot.get(m, 0) + n
        if m == "inspections" and n:
            by_kind[kind] = by_kind.get(kind, 0) + n
    g = lambda m: int(tot.get(m, 0))  # noqa: E731
    overdue = g("tasks_late") + sum(_open_overdue(cur, "all", p, tz).values())
    return {
        "period": p.as_json(),
        "inspections": g("inspections"),
        "inspections_by_kind": dict(sorted(by_kind.items())),
        "failed_inspections": g("failed_inspections"),
        "complaints": g("complaints"),
        "complaints_founded": g("complaints_founded"),
        "clues": g("cases"),
        "clues_verified": g("clues_verified"),
        "transferred_police": g("transferred_police"),
        "cases_filed": g("cases_filed"),
        "penalty_decisions": g("penalties"),
        "tasks": g("tasks"),
        "overdue_tasks": overdue,
        "tasks_closed": g("tasks_closed"),
        "tasks_on_time_pct": round(100.0 * g("tasks_on_time") / g("tasks_closed"), 1) if g("tasks_closed") else None,
        "mediated": g("mediated"),
        "mediation_rate": round(g("mediated") / g("mediation_ended"), 4) if g("mediation_ended") else None,
    }


def default_weak_period(today: date) -> Period:
    return Period(today - timedelta(days=WEAK_DEFAULT_DAYS - 1), today)


WEAK_PRIOR = 20      # pseudo-count of expected events added to both sides of a ratio (shrinks small areas)


def _ratio(observed: float, expected: float) -> float:
    return (observed + WEAK_PRIOR) / (expected + WEAK_PRIOR)


def weak(cur, by: str, p: Period, top: int = 10, names: dict | None = None) -> list[dict]:
    """`GET /api/stats/weak`: the weakest spots, highest `score` first.

    by grid or level1: the area's failed inspections against those expected from its entities
    (each entity category at its failure rate over all areas: a grid of restaurants is not weak
    for failing as restaurants do), and its founded complaints against its entities' share of
    all; the score is the larger of the two ratios, shrunk towards 1 for small areas
    ((observed + 20) / (expected + 20)).
    by category: an entity category (food_retail, ...) by its failures against its entities'
    share; a complaint category (prepaid, ...) has no entities of its own, so by the rise of its
    founded complaints against the previous period. Each row carries its rates per 1,000
    entities, the previous period's, and `reasons`: what makes it weak, with the figures."""
    check(None, by, by_allowed=WEAK_BY)
    prev_p = p.previous()
    ms = ("inspections", "failed_inspections", "complaints_founded")
    now = rollup(cur, ms, by, p)
    before = rollup(cur, ms, by, prev_p) if prev_p else {}
    ents = entity_counts(cur, by)
    get = lambda d, k, m: int(d.get((k, m), 0))  # noqa: E731
    all_ents = sum(ents.values()) or 1
    keys = ({k for k, _m in now} | {k for k, _m in before} | set(ents)) - {""}

    # the expected failures of each key, from the failure rate of each entity category
    def expected_failures(period, got) -> dict[str, float]:
        cat_fail = rollup(cur, ("failed_inspections",), "category", period) if period else {}
        cat_ents = entity_counts(cur, "category")
        rate = {c: cat_fail.get((c, "failed_inspections"), 0) / n for c, n in cat_ents.items()}
        if by == "category":
            total = sum(cat_fail.values())
            return {c: total * n / all_ents for c, n in cat_ents.items()}
        out: dict[str, float] = {}
        for (k, c), n in entity_counts(cur, by, "category").items():
            out[k] = out.get(k, 0.0) + n * rate.get(c, 0.0)
        return out

    exp_f = expected_failures(p, now)
    founded_total = sum(get(now, k, "complaints_founded") for k in keys if ents.get(k))
    rows = []
    for k in keys:
        e = ents.get(k)
        f, f0 = get(now, k, "failed_inspections"), get(before, k, "failed_inspections")
        c, c0 = get(now, k, "complaints_founded"), get(before, k, "complaints_founded")
        row = {"key": k, "name": (names or {}).get(k), "entities": e, "inspections": get(now, k, "inspections"),
               "failed_inspections": f, "failed_previous": f0 if prev_p else None,
               "founded_complaints": c, "founded_previous": c0 if prev_p else None,
               "failure_rate": None, "failure_rate_previous": None, "failure_change": None,
               "founded_rate": None, "founded_rate_previous": None, "founded_change": _change(c, c0) if prev_p else None}
        reasons = []
        if e:
            row["failure_rate"] = round(1000.0 * f / e, 2)
            row["failure_rate_previous"] = round(1000.0 * f0 / e, 2) if prev_p else None
            row["failure_change"] = _change(f, f0) if prev_p else None
            ef = exp_f.get(k, 0.0)
            reasons.append({"code": "failure_rate", "rate": row["failure_rate"], "observed": f,
                            "expected": round(ef, 1), "ratio": round(_ratio(f, ef), 3),
                            "change": row["failure_change"]})
            if by != "category":
                row["founded_rate"] = round(1000.0 * c / e, 2)
                row["founded_rate_previous"] = round(1000.0 * c0 / e, 2) if prev_p else None
                ec = founded_total * e / all_ents
                reasons.append({"code": "founded_rate", "rate": row["founded_rate"], "observed": c,
                                "expected": round(ec, 1), "ratio": round(_ratio(c, ec), 3),
                                "change": row["founded_change"]})
        elif c or c0:
            # a complaint category: per 1,000 entities of the whole register, against its past
            row["founded_rate"] = round(1000.0 * c / all_ents, 2)
            row["founded_rate_previous"] = round(1000.0 * c0 / all_ents, 2) if prev_p else None
            if prev_p:
                reasons.append({"code": "founded_rising", "rate": row["founded_rate"], "observed": c,
                                "expected": c0, "ratio": round(_ratio(c, c0), 3), "change": row["founded_change"]})
        else:
            continue
        if not reasons:
            continue
        reasons.sort(key=lambda r: -r["ratio"])
        row["score"] = reasons[0]["ratio"]
        row["reasons"] = reasons
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], r["key"]))
    return rows[:top]


def failed_entities(cur, grid: str, p: Period, tz: str = "Asia/Shanghai", limit: int = 50) -> list[dict]:
    """The entities of a level-1 or level-2 grid with failed inspections in the period, most
    failures first (for the choropleth's click)."""
    cond = ["i.result = 'fail'", "i.sealed_at IS NOT NULL", "(i.grid = %(g)s OR i.level1 = %(g)s)"]
    if p.start:
        cond.append("i.started_at >= (%(a)s::date::timestamp AT TIME ZONE %(tz)s)")
    if p.end:
        cond.append("i.started_at < ((%(b)s::date + 1)::timestamp AT TIME ZONE %(tz)s)")
    cur.execute(f"SELECT e.uscc, e.name, e.category, i.grid, count(*) AS failed, max(i.started_at) AS last "
                f"FROM inspections i JOIN entities e USING (uscc) WHERE {' AND '.join(cond)} "
                f"GROUP BY e.uscc, e.name, e.category, i.grid ORDER BY failed DESC, last DESC LIMIT %(n)s",
                {"g": grid, "a": p.start, "b": p.end, "tz": tz, "n": limit})
    return [{**r, "last": r["last"].isoformat()} for r in cur.fetchall()]


def ensure_tz(conn, tz: str) -> bool:
    """The rollups' days must be the bureau's (GRIDWATCH_TZ): when the database was built for
    another zone, it is switched and the rollups rebuilt (once). True when it rebuilt."""
    ZoneInfo(tz)  # a bad zone fails here, before anything changes
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT tz FROM stats_config")
        if cur.fetchone()["tz"] == tz:
            return False
        cur.execute("LOCK TABLE stats_config")
        cur.execute("UPDATE stats_config SET tz = %s", (tz,))
        cur.execute("SELECT gw_stats_rebuild()")
    return True


def defer(cur) -> None:
    """For a bulk load: the triggers skip this transaction's changes; call `rebuild_in(cur)`
    before it commits."""
    cur.execute("SET LOCAL gridwatch.stats_defer = 'on'")


def rebuild_in(cur) -> None:
    cur.execute("SET LOCAL gridwatch.stats_defer = 'off'")
    cur.execute("SELECT gw_stats_rebuild()")


def rebuild(conn) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT gw_stats_rebuild()")


def today(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()
