"""The statistics (casework/stats.py over the rollups of sql/0007_stats.sql) equal counts made
in Python over the raw records of the generated history, at every grouping and at the borders
of periods in the bureau's time zone; records written later (a sealed inspection, a task that
moves on) count at once; a rebuild gives the same rollups."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from casework import seal, stats
from gridwatch.db import connect

TZ = ZoneInfo("Asia/Shanghai")
PERIODS = [(None, None), ("2018-03-01", "2018-03-31"), ("2018-02-15", "2018-04-10"), ("2018-05-17", "2018-05-17"),
           ("2018-01-01", "2018-06-30"), ("2018-04-30", "2018-06-02")]


def _day(ts: datetime) -> date:
    return ts.astimezone(TZ).date()


def _raw(conn) -> dict[str, list[dict]]:
    """Every record's contributions, computed here in Python from the raw rows: (measure, day,
    grid, level1, branch, category)."""
    out: list[tuple] = []
    now = datetime.now(timezone.utc)
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM inspections")
        for r in cur.fetchall():
            if r["sealed_at"] is None:
                continue
            out.append(("inspections", _day(r["started_at"]), r, r["category"]))
            if r["result"] == "fail":
                out.append(("failed_inspections", _day(r["started_at"]), r, r["category"]))
        cur.execute("SELECT * FROM tasks")
        for r in cur.fetchall():
            out.append(("tasks", _day(r["reported_at"]), r, r["category"]))
            late = r["state"] != "rejected" and (
                (r["handled_at"] is not None and r["handled_at"] > r["deadline"])
                or (r["handled_at"] is None and r["state"] not in ("handled", "verified", "closed")
                    and r["deadline"] < now))
            if late:
                out.append(("overdue_tasks", _day(r["deadline"]), r, r["category"]))
        cur.execute("SELECT * FROM complaints")
        for r in cur.fetchall():
            out.append(("complaints", _day(r["received_at"]), r, r["category"]))
            if r["outcome"] == "agreed" or r["state"] == "agreed":
                out.append(("mediated", _day(r["received_at"]), r, r["category"]))
        cur.execute("SELECT * FROM cases")
        for r in cur.fetchall():
            out.append(("cases", _day(r["opened_at"]), r, r["category"]))
            if r["state"] == "decided":
                out.append(("penalties", _day(r["decided_at"]), r, r["category"]))
    by: dict[str, list[dict]] = {}
    for m, d, r, cat in out:
        by.setdefault(m, []).append({"day": d, "grid": r["grid"] or "", "level1": r["level1"] or "",
                                     "branch": r["branch"] or "", "category": cat or "",
                                     "month": f"{d:%Y-%m}"})
    return by


def _expected(raw, measure, by, start, end) -> dict[str, int]:
    a = date.fromisoformat(start) if start else date.min
    b = date.fromisoformat(end) if end else date.max
    return dict(Counter(x[by] for x in raw.get(measure, []) if a <= x["day"] <= b))


def _got(conn, measure, by, start, end) -> dict[str, int]:
    with conn.cursor() as cur:
        return {r["key"]: r["value"] for r in stats.query(cur, measure, by, stats.period(start, end)) if r["value"]}


def test_stats_equal_raw_counts_at_every_grouping_and_period(records_url):
    with connect(records_url) as conn:
        raw = _raw(conn)
        assert len(raw["inspections"]) > 5000 and raw["failed_inspections"] and raw["penalties"]
        for measure in stats.MEASURES:
            for by in stats.BY:
                for start, end in PERIODS:
                    assert _got(conn, measure, by, start, end) == _expected(raw, measure, by, start, end), \
                        (measure, by, start, end)


def test_previous_period_and_rates_per_1000_entities(records_url):
    with connect(records_url) as conn, conn.cursor() as cur:
        raw = _raw(conn)
        rows = stats.query(cur, "inspections", "level1", stats.period("2018-04-01", "2018-04-30"))
        prev = _expected(raw, "inspections", "level1", "2018-03-02", "2018-03-31")   # 30 days before
        cur.execute("SELECT level1, count(*) AS n FROM entities WHERE active GROUP BY level1")
        ents = {r["level1"]: r["n"] for r in cur.fetchall()}
        assert rows
        for r in rows:
            assert r["previous"] == prev.get(r["key"], 0)
            assert r["per_1000_entities"] == round(1000 * r["value"] / ents[r["key"]], 2)
            if r["previous"]:
                assert r["change"] == round((r["value"] - r["previous"]) / r["previous"], 4)


def _insert_inspection(cur, iid: str, uscc: str, started: datetime, result: str | None):
    cur.execute("SELECT grid, level1, branch, category FROM entities WHERE uscc = %s", (uscc,))
    e = cur.fetchone()
    cur.execute("INSERT INTO inspections (id, uscc, kind, inspectors, grid, level1, branch, category, result, "
                "started_at) VALUES (%s, %s, 'routine', '{p1,p2}', %s, %s, %s, %s, %s, %s)",
                (iid, uscc, e["grid"], e["level1"], e["branch"], e["category"], result, started))
    return e


def test_a_sealed_inspection_counts_at_once_on_its_local_day(records_url):
    """Two inspections on the same UTC day but either side of local midnight between March and
    April: each counts in its own month and range, and only once sealed."""
    with connect(records_url) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT uscc FROM entities WHERE grid IS NOT NULL ORDER BY uscc LIMIT 1")
            uscc = cur.fetchone()["uscc"]
            late_march = datetime(2018, 3, 31, 23, 30, tzinfo=TZ)       # 15:30 UTC on 31 March
            early_april = datetime(2018, 4, 1, 0, 10, tzinfo=TZ)        # 16:10 UTC on 31 March
            e = _insert_inspection(cur, "T-1", uscc, late_march, "fail")
            _insert_inspection(cur, "T-2", uscc, early_april, "pass")
        conn.commit()
        march = ("2018-03-01", "2018-03-31")
        april = ("2018-04-01", "2018-04-30")
        before = {p: _got(conn, "inspections", "grid", *p).get(e["grid"], 0) for p in (march, april)}
        failed_before = _got(conn, "failed_inspections", "month", None, None).get("2018-03", 0)
        day_before = _got(conn, "inspections", "grid", "2018-03-31", "2018-03-31").get(e["grid"], 0)
        with conn.transaction(), conn.cursor() as cur:
            seal.seal(cur, "inspection", "T-1")
            seal.seal(cur, "inspection", "T-2")
        assert _got(conn, "inspections", "grid", *march).get(e["grid"], 0) == before[march] + 1
        assert _got(conn, "inspections", "grid", *april).get(e["grid"], 0) == before[april] + 1
        assert _got(conn, "inspections", "grid", "2018-03-31", "2018-03-31").get(e["grid"], 0) == day_before + 1
        assert _got(conn, "failed_inspections", "month", None, None).get("2018-03", 0) == failed_before + 1
        with conn.cursor() as cur:
            s = stats.summary(cur, stats.period("2018-04-01", "2018-04-01"))
        assert s["inspections_by_kind"].get("routine", 0) >= 1


def test_tasks_moving_on_and_a_rebuild_give_the_same_rollups(records_url):
    with connect(records_url) as conn:
        with conn.cursor() as cur:
            # a late task handled, an open one closed, one deleted by hand: the triggers follow
            cur.execute("SELECT id FROM tasks WHERE state = 'closed' AND sealed_at IS NULL ORDER BY id LIMIT 3")
            ids = [r["id"] for r in cur.fetchall()]
            cur.execute("UPDATE tasks SET handled_at = deadline + interval '1 hour' WHERE id = ANY(%s)", (ids,))
            cur.execute("UPDATE tasks SET state = 'rejected' WHERE id = %s", (ids[0],))
            cur.execute("UPDATE complaints SET outcome = 'agreed', state = 'closed' WHERE id IN "
                        "(SELECT id FROM complaints WHERE sealed_at IS NULL ORDER BY id LIMIT 5)")
        conn.commit()
        raw = _raw(conn)
        for measure in ("overdue_tasks", "tasks", "mediated"):
            for by in ("grid", "category", "month"):
                assert _got(conn, measure, by, None, None) == _expected(raw, measure, by, None, None), (measure, by)
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM stats_grid WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6")
            g1 = cur.fetchall()
            cur.execute("SELECT * FROM stats_category WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5")
            c1 = cur.fetchall()
        stats.rebuild(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM stats_grid WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6")
            assert cur.fetchall() == g1
            cur.execute("SELECT * FROM stats_category WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5")
            assert cur.fetchall() == c1


def test_summary_is_the_seed_figures_over_raw_rows(records_url):
    with connect(records_url) as conn, conn.cursor() as cur:
        s = stats.summary(cur, stats.period("2018-02-01", "2018-05-31"))
        a = datetime(2018, 2, 1, tzinfo=TZ)
        b = datetime(2018, 6, 1, tzinfo=TZ)
        cur.execute("SELECT kind, count(*) AS n FROM inspections WHERE sealed_at IS NOT NULL AND started_at >= %s "
                    "AND started_at < %s GROUP BY kind", (a, b))
        kinds = {r["kind"]: r["n"] for r in cur.fetchall()}
        assert s["inspections_by_kind"] == kinds and s["inspections"] == sum(kinds.values())
        cur.execute("SELECT count(*) FILTER (WHERE state = 'closed' AND closed_at >= %(a)s AND closed_at < %(b)s) AS c, "
                    "count(*) FILTER (WHERE state = 'closed' AND closed_at >= %(a)s AND closed_at < %(b)s "
                    "AND handled_at <= deadline) AS ok FROM tasks", {"a": a, "b": b})
        t = cur.fetchone()
        assert s["tasks_closed"] == t["c"] and s["tasks_on_time_pct"] == round(100 * t["ok"] / t["c"], 1)
        cur.execute("SELECT count(*) FILTER (WHERE filed_at >= %(a)s AND filed_at < %(b)s) AS filed, "
                    "count(*) FILTER (WHERE state = 'decided' AND decided_at >= %(a)s AND decided_at < %(b)s) AS dec, "
                    "count(*) FILTER (WHERE verified_at >= %(a)s AND verified_at < %(b)s) AS ver FROM cases",
                    {"a": a, "b": b})
        k = cur.fetchone()
        assert (s["cases_filed"], s["penalty_decisions"], s["clues_verified"]) == (k["filed"], k["dec"], k["ver"])
        cur.execute("SELECT count(*) AS n, count(*) FILTER (WHERE outcome = 'agreed') AS ag, "
                    "count(*) FILTER (WHERE outcome IN ('agreed', 'failed')) AS ended FROM complaints "
                    "WHERE received_at >= %s AND received_at < %s", (a, b))
        c = cur.fetchone()
        assert s["complaints"] == c["n"] and s["mediation_rate"] == round(c["ag"] / c["ended"], 4)


def test_bad_parameters_name_the_field():
    with pytest.raises(stats.StatsError) as e:
        stats.check("bogus", "grid")
    assert e.value.field == "measure"
    with pytest.raises(stats.StatsError) as e:
        stats.check("tasks", "week")
    assert e.value.field == "by"
    with pytest.raises(stats.StatsError) as e:
        stats.period("2018-13-01", None)
    assert e.value.field == "from"
    with pytest.raises(stats.StatsError) as e:
        stats.period("2018-02-01", "2018-01-01")
    assert e.value.field == "to"


def test_ranges_cover_each_day_once():
    for start, end in [("2018-01-15", "2018-03-10"), ("2018-01-01", "2018-01-31"), ("2018-02-03", "2018-02-20"),
                       ("2018-01-31", "2018-02-01"), ("2017-12-01", "2019-01-01")]:
        p = stats.period(start, end)
        covered = []
        for span, a, b in stats._ranges(p):
            d = a
            while d < b:
                covered.append(d)
                d += timedelta(days=1)
        want = [p.start + timedelta(days=i) for i in range(p.days)]
        assert sorted(covered) == want
