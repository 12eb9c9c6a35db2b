"""Working days on real PostgreSQL: the State Council's schedule from chinesecalendar (2026's
National Day with its adjusted Saturday), a year without a schedule counted by weekdays and
marked provisional, then a schedule file loaded (refused whole when bad) and the open
complaints' deadlines recomputed, audited; the command `gridwatch calendar load`."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from casework import complaint_store as S
from casework import complaints as C
from casework import workdays as W
from gridwatch.db import connect
from tests.conftest import loaded

TZ = ZoneInfo("Asia/Shanghai")
SCHEDULE_2027 = "day,kind,name\n2027-01-01,holiday,元旦\n2027-01-02,holiday,元旦\n2027-01-03,holiday,元旦\n" \
                "2027-02-06,holiday,春节\n2027-02-07,workday,春节\n"


def library_calendar(years=(2026,)):
    days = {}
    for y in years:
        days.update({d: k for d, k, _n in W.library_rows(y)})
    return W.Calendar(frozenset(years), days)


def test_across_national_day_2026_with_its_adjusted_saturday():
    cal = library_calendar()
    assert not cal.is_workday(date(2026, 10, 1)) and not cal.is_workday(date(2026, 10, 7))
    assert cal.is_workday(date(2026, 10, 10))          # Saturday, an adjusted working day
    # received Tue 29 Sep: 30 Sep (1), 8, 9 Oct, Sat 10 Oct (4), 12, 13, 14 Oct (7)
    assert W.add_working_days(cal, date(2026, 9, 29), 7) == (date(2026, 10, 14), False)
    # the day of receipt is not counted, even when it is a working day
    assert W.add_working_days(cal, date(2026, 10, 9), 1) == (date(2026, 10, 10), False)
    # weekdays only would have said 8 Oct
    assert W.add_working_days(W.Calendar(frozenset()), date(2026, 9, 29), 7) == (date(2026, 10, 8), True)


def test_across_the_end_of_2026_without_2027_then_with_it(tmp_path):
    cal = library_calendar()
    # Mon 28 Dec 2026: 29, 30, 31 Dec, then 2027 by weekdays: Fri 1 Jan, 4, 5, 6 Jan
    assert W.add_working_days(cal, date(2026, 12, 28), 7) == (date(2027, 1, 6), True)
    # entirely inside 2026: not provisional
    assert W.add_working_days(cal, date(2026, 12, 21), 7) == (date(2026, 12, 30), False)
    f = tmp_path / "2027.csv"
    f.write_text(SCHEDULE_2027, encoding="utf-8")
    year, rows = W.parse_schedule(f)
    cal27 = W.Calendar(frozenset({2026, 2027}), {**cal.days, **{d: k for d, k, _n in rows}})
    assert year == 2027 and W.add_working_days(cal27, date(2026, 12, 28), 7) == (date(2027, 1, 7), False)


@pytest.mark.parametrize("text,row,rule", [
    ("date,kind,name\n2027-01-01,holiday,元旦\n", 1, "header"),
    (SCHEDULE_2027 + "2027-13-01,holiday,x\n", 7, "not a date"),
    (SCHEDULE_2027 + "2026-12-31,holiday,x\n", 7, "not in 2027"),
    (SCHEDULE_2027 + "2027-05-01,feast,劳动节\n", 7, "holiday or workday"),
    (SCHEDULE_2027 + "2027-05-06,workday,劳动节\n", 7, "is a weekday"),
    (SCHEDULE_2027 + "2027-01-01,holiday,元旦\n", 7, "listed twice"),
    (SCHEDULE_2027 + "2027-05-01,holiday\n", 7, "3 fields"),
    ("day,kind,name\n2027-02-07,workday,春节\n", None, "no holiday"),
])
def test_a_bad_schedule_is_refused_whole_naming_file_row_rule(tmp_path, db_url, text, row, rule):
    f = tmp_path / "2027.csv"
    f.write_text(text, encoding="utf-8")
    with connect(db_url) as conn:
        with pytest.raises(W.ScheduleError) as e:
            W.load_schedule(conn, f, "test")
        assert e.value.detail["row"] == row and rule in e.value.detail["rule"] and "2027.csv" in e.value.message
        assert conn.execute("SELECT count(*) AS n FROM calendar_days").fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM calendar_years").fetchone()["n"] == 0


def test_the_library_years_are_written_once(db_url):
    with connect(db_url) as conn, conn.cursor() as cur:
        assert W.load_library(cur, "test") == 23               # 2004 .. 2026
        assert W.load_library(cur, "test") == 0
        cur.execute("SELECT kind, name FROM calendar_days WHERE day = '2026-10-10'")
        assert cur.fetchone() == {"kind": "workday", "name": "National Day"}
        assert W.deadline(cur, date(2026, 9, 29), 7) == (date(2026, 10, 14), False)


def _jurisdiction(demo_data):
    from geodata.index import GridIndex
    from geodata.registry import Registry

    ds = loaded(demo_data)
    return C.Jurisdiction(ds.grids, Registry(ds), GridIndex.from_grids(ds.grids))


def _intake(uscc, received):
    return C.parse_intake({"channel": "12315", "received_at": received.isoformat(),
                           "complainant": {"name": "张三", "phone": "13812341234"},
                           "respondent": {"uscc": uscc}, "category": "food", "description": "过期面包"})


def test_loading_2027_recomputes_open_deadlines_audited_by_command(records_url, demo_data, tmp_path):
    j = _jurisdiction(demo_data)
    now = datetime(2027, 1, 2, 10, tzinfo=timezone.utc)
    with connect(records_url) as conn:
        uscc = conn.execute("SELECT uscc FROM entities WHERE branch IS NOT NULL ORDER BY uscc LIMIT 1").fetchone()["uscc"]
        c1 = S.create(conn, _intake(uscc, datetime(2026, 12, 28, 9, tzinfo=TZ)), placer=j.placer, actor="t", now=now)
        c2 = S.create(conn, _intake(uscc, datetime(2026, 12, 28, 9, tzinfo=TZ)), placer=j.placer, actor="t", now=now)
        inside = S.create(conn, _intake(uscc, datetime(2026, 12, 18, 9, tzinfo=TZ)), placer=j.placer, actor="t", now=now)
        assert (c1["accept_by"], c1["provisional"]) == (date(2027, 1, 6), ["accept_by"])
        assert (inside["accept_by"], inside["provisional"]) == (date(2026, 12, 29), [])
        # c2 is accepted on 30 Dec: its 45 working days reach far into 2027
        held = S.Viewer("coord1", "coordinator")
        c2 = S.act(conn, c2["id"], "accept", held, now=datetime(2026, 12, 30, 3, tzinfo=timezone.utc))
        assert c2["mediate_by"] == W.add_working_days(W.Calendar(frozenset({2026}), {}), date(2026, 12, 30), 45)[0]
        assert "mediate_by" in c2["provisional"]
    f = tmp_path / "2027.csv"
    f.write_text(SCHEDULE_2027, encoding="utf-8")
    from gridwatch.cli import app

    res = CliRunner().invoke(app, ["--database-url", records_url, "calendar", "load", str(f)])
    assert res.exit_code == 0, res.output
    assert "calendar 2027" in res.output and "2 complaints" in res.output
    with connect(records_url) as conn:
        got = {r["id"]: r for r in conn.execute("SELECT id, accept_by, mediate_by, provisional FROM complaints "
                                                "WHERE id = ANY(%s)", ([c1["id"], c2["id"], inside["id"]],))}
        assert (got[c1["id"]]["accept_by"], got[c1["id"]]["provisional"]) == (date(2027, 1, 7), [])
        assert got[c2["id"]]["provisional"] == []
        cal = W.Calendar(frozenset({2026, 2027}), {date(2027, 1, d): "holiday" for d in (1, 2, 3)}
                         | {date(2027, 2, 6): "holiday", date(2027, 2, 7): "workday"})
        assert got[c2["id"]]["mediate_by"] == W.add_working_days(cal, date(2026, 12, 30), 45)[0]
        assert got[inside["id"]]["accept_by"] == date(2026, 12, 29)
        trail = conn.execute("SELECT actor, before, after FROM audit WHERE record_type = 'complaint' AND record_id = %s "
                             "AND action = 'recompute'", (c1["id"],)).fetchall()
        assert trail == [{"actor": "system:calendar", "before": {"accept_by": "2027-01-06", "provisional": ["accept_by"]},
                          "after": {"accept_by": "2027-01-07", "provisional": []}}]
        assert conn.execute("SELECT count(*) AS n FROM audit WHERE record_type = 'calendar' AND record_id = '2027'"
                            ).fetchone()["n"] == 1
    bad = tmp_path / "bad" / "2028.csv"
    bad.parent.mkdir()
    bad.write_text("day,kind,name\n2028-01-01,holiday,元旦\n2028-01-03,workday,x\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["--database-url", records_url, "calendar", "load", str(bad)])
    assert res.exit_code == 1 and "row 3" in res.output and "is a weekday" in res.output


def test_a_datasets_calendar_files_are_loaded_with_the_library_and_a_bad_one_refused(db_url, tmp_path):
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "2027.csv").write_text(SCHEDULE_2027, encoding="utf-8")
    with connect(db_url) as conn:
        with conn.transaction(), conn.cursor() as cur:
            assert W.load_dataset_calendar(cur, tmp_path, "load:test") == {"calendar_years": 23, "calendar_files": 1}
        with conn.transaction(), conn.cursor() as cur:       # loaded again: nothing to do
            assert W.load_dataset_calendar(cur, tmp_path, "load:test") == {"calendar_years": 0, "calendar_files": 0}
            cur.execute("SELECT source FROM calendar_years WHERE year = 2027")
            assert cur.fetchone()["source"] == "file 2027.csv"
            assert W.deadline(cur, date(2026, 12, 28), 7) == (date(2027, 1, 7), False)
        (tmp_path / "calendar" / "2028.csv").write_text("day,kind,name\n2028-01-01,holiday,\n", encoding="utf-8")
        with pytest.raises(W.ScheduleError) as e:
            with conn.transaction(), conn.cursor() as cur:
                W.load_dataset_calendar(cur, tmp_path, "load:test")
        assert "2028.csv, row 2" in e.value.message and "a holiday has a name" in e.value.message
        assert conn.execute("SELECT count(*) AS n FROM calendar_years WHERE year = 2028").fetchone()["n"] == 0


def test_gridwatch_load_refuses_a_bad_schedule_before_writing_anything(db_url, demo_data, tmp_path):
    from casework.records import load_dataset_records

    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "2027.csv").write_text("day,kind,name\n2027-01-01,holiday,元旦\n2027-01-04,workday,x\n",
                                                    encoding="utf-8")
    with connect(db_url) as conn:
        with pytest.raises(W.ScheduleError) as e:
            load_dataset_records(conn, None, tmp_path)        # refused before the dataset is even read
        assert "2027.csv, row 3" in e.value.message
        assert conn.execute("SELECT count(*) AS n FROM entities").fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM calendar_years").fetchone()["n"] == 0
