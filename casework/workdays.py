"""Working days (CONTRACT.md section 11): the State Council's yearly schedule of statutory
holidays and adjusted working days, kept in PostgreSQL (calendar_years, calendar_days), and
the deadline arithmetic over it.

A day is a working day when the schedule of its year says so: `holiday` no, `workday` yes (an
adjusted Saturday or Sunday), otherwise Monday-Friday. A year with no schedule loaded counts
weekdays only, and a deadline counted through such a year is *provisional* until its schedule
is loaded. The years `chinesecalendar` knows (2004-2026) are written when a dataset is loaded;
later years come from a file (`calendar/2027.csv` in the dataset, or `gridwatch calendar load
FILE`), and loading one recomputes the open complaints' provisional deadlines.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from alerts.errors import Invalid
from casework import audit

KINDS = ("holiday", "workday")
HEADER = ["day", "kind", "name"]
LIBRARY = "chinesecalendar"
ACTOR_RECOMPUTE = "system:calendar"


class ScheduleError(Invalid):
    """A schedule file refused whole: names the file, the row (1 = the header) and the rule."""

    def __init__(self, file, row: int | None, rule: str):
        where = f"{file}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {rule}", field="file", file=str(file), row=row, rule=rule)


@dataclass
class Calendar:
    """The loaded years and their exceptional days (the part a count needs)."""

    years: frozenset[int]
    days: dict[date, str] = field(default_factory=dict)

    def is_workday(self, d: date) -> bool:
        kind = self.days.get(d) if d.year in self.years else None
        if kind == "holiday":
            return False
        if kind == "workday":
            return True
        return d.weekday() < 5


def add_working_days(cal: Calendar, start: date, n: int) -> tuple[date, bool]:
    """The n-th working day after `start` (the day of receipt is not counted): (that date,
    provisional). Provisional: some day counted lies in a year without a loaded schedule."""
    if n < 1:
        raise ValueError("n >= 1")
    d, left, provisional = start, n, False
    while left:
        d += timedelta(days=1)
        if d.year not in cal.years:
            provisional = True
        if cal.is_workday(d):
            left -= 1
    return d, provisional


def window(n: int) -> int:
    # calendar days enough to hold n working days (the longest holiday is 8-9 days)
    return n * 2 + 30


def calendar_for(cur, start: date, n: int) -> Calendar:
    """The part of the stored calendar that counting n working days from `start` reads."""
    end = start + timedelta(days=window(n))
    cur.execute("SELECT year FROM calendar_years")
    years = frozenset(r["year"] for r in cur.fetchall())
    cur.execute("SELECT day, kind FROM calendar_days WHERE day > %s AND day <= %s", (start, end))
    return Calendar(years, {r["day"]: r["kind"] for r in cur.fetchall()})


def deadline(cur, start: date, n: int) -> tuple[date, bool]:
    return add_working_days(calendar_for(cur, start, n), start, n)


# --- loading schedules -----------------------------------------------------------------------

def library_rows(year: int) -> list[tuple[date, str, str]]:
    """One year's schedule as chinesecalendar knows it: every holiday (weekends inside a holiday
    period too, named) and every adjusted working day. [] for a year it does not know."""
    import chinese_calendar

    rows = [(d, "holiday", name or "") for d, name in chinese_calendar.holidays.items() if d.year == year]
    rows += [(d, "workday", name or "") for d, name in chinese_calendar.workdays.items() if d.year == year]
    return sorted(rows)


def library_years() -> list[int]:
    import chinese_calendar

    return sorted({d.year for d in chinese_calendar.holidays})


def load_library(cur, actor: str) -> int:
    """Writes the years chinesecalendar knows that are not loaded yet; returns how many."""
    import chinese_calendar

    cur.execute("SELECT year FROM calendar_years")
    have = {r["year"] for r in cur.fetchall()}
    version = getattr(chinese_calendar, "__version__", "")
    n = 0
    for year in library_years():
        if year in have:
            continue
        _store(cur, year, library_rows(year), f"{LIBRARY} {version}".strip(), actor)
        n += 1
    return n


_YEAR_NAME = re.compile(r"^(\d{4})\.csv$")


def parse_schedule(path: Path) -> tuple[int, list[tuple[date, str, str]]]:
    """A schedule file `day,kind,name` (one year, ISO dates): (year, rows), or ScheduleError.
    Rules: the header; a date; one year (the one in a file name `YYYY.csv`); kind holiday or
    workday; a workday is a Saturday or Sunday (an adjusted working day), a holiday a named one;
    no day twice; at least one holiday."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError(path, None, f"cannot be read as UTF-8 text ({type(exc).__name__})") from None
    reader = csv.reader(text.splitlines())
    rows = list(reader)
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        raise ScheduleError(path, 1, f"the header must be {','.join(HEADER)}")
    m = _YEAR_NAME.match(path.name)
    year = int(m.group(1)) if m else None
    out: list[tuple[date, str, str]] = []
    seen: set[date] = set()
    for i, raw in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in raw):
            continue
        if len(raw) != 3:
            raise ScheduleError(path, i, f"a row has 3 fields (day,kind,name), this one {len(raw)}")
        day_s, kind, name = (c.strip() for c in raw)
        try:
            d = date.fromisoformat(day_s)
        except ValueError:
            raise ScheduleError(path, i, f"day {day_s!r} is not a date YYYY-MM-DD") from None
        year = d.year if year is None else year
        if d.year != year:
            raise ScheduleError(path, i, f"day {d} is not in {year} (one file, one year)")
        if kind not in KINDS:
            raise ScheduleError(path, i, f"kind {kind!r} is not holiday or workday")
        if kind == "workday" and d.weekday() < 5:
            raise ScheduleError(path, i, f"workday {d} is a weekday: an adjusted working day is a Saturday or Sunday")
        if kind == "holiday" and not name:
            raise ScheduleError(path, i, "a holiday has a name")
        if d in seen:
            raise ScheduleError(path, i, f"day {d} is listed twice")
        seen.add(d)
        out.append((d, kind, name))
    if not any(k == "holiday" for _d, k, _n in out):
        raise ScheduleError(path, None, "the schedule lists no holiday")
    return year, sorted(out)


def _store(cur, year: int, rows, source: str, actor: str) -> None:
    cur.execute("DELETE FROM calendar_days WHERE day >= %s AND day <= %s", (date(year, 1, 1), date(year, 12, 31)))
    with cur.copy("COPY calendar_days (day, kind, name) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute("INSERT INTO calendar_years (year, source) VALUES (%s, %s) "
                "ON CONFLICT (year) DO UPDATE SET source = EXCLUDED.source, loaded_at = now()", (year, source))
    audit.record(cur, actor=actor, record_type="calendar", record_id=str(year), action="load",
                 after={"source": source, "holidays": sum(1 for r in rows if r[1] == "holiday"),
                        "workdays": sum(1 for r in rows if r[1] == "workday")})


def load_schedule(conn, path: Path, actor: str, *, tz: str | None = None) -> dict:
    """Loads one year's schedule from a file (refused whole on any bad row) and recomputes the
    open complaints' provisional deadlines, all in one transaction (each change audited)."""
    year, rows = parse_schedule(path)
    with conn.transaction(), conn.cursor() as cur:
        _store(cur, year, rows, f"file {Path(path).name}", actor)
        changed = recompute(cur, tz)
    return {"year": year, "days": len(rows), "recomputed": len(changed)}


def read_dir(dataset_dir: Path) -> list[tuple[Path, int, list]]:
    """Every `calendar/*.csv` of a dataset, parsed and validated (ScheduleError on the first bad
    one): called before `gridwatch load` writes anything."""
    return [(f, *parse_schedule(f)) for f in sorted((Path(dataset_dir) / "calendar").glob("*.csv"))]


def load_dataset_calendar(cur, dataset_dir: Path, actor: str, parsed=None, tz: str | None = None) -> dict[str, int]:
    """`gridwatch load`: the library's years, then each of the dataset's schedule files whose
    year is not loaded from that file yet (`parsed`: read_dir's, else read here)."""
    parsed = read_dir(dataset_dir) if parsed is None else parsed
    out = {"calendar_years": load_library(cur, actor)}
    cur.execute("SELECT year, source FROM calendar_years")
    have = {r["year"]: r["source"] for r in cur.fetchall()}
    n = 0
    for f, year, rows in parsed:
        if have.get(year) == f"file {f.name}":
            continue
        _store(cur, year, rows, f"file {f.name}", actor)
        n += 1
    if n:
        recompute(cur, tz)
    out["calendar_files"] = n
    return out


# The open complaints whose deadlines were counted without a schedule: received (accept_by) or
# accepted/mediating (mediate_by).
_PROVISIONAL = ("SELECT id, state, received_at, accepted_at, accept_by, mediate_by, provisional FROM complaints "
                "WHERE provisional <> '{}' AND state IN ('received', 'accepted', 'mediating') "
                "AND sealed_at IS NULL ORDER BY id FOR UPDATE")


def recompute(cur, tz: str | None = None) -> list[str]:
    """Recounts every provisional deadline of an open complaint with the calendar as it now is;
    writes each change with its audit entry (in the caller's transaction). Returns the ids."""
    from casework.complaints import ACCEPT_DAYS, MEDIATE_DAYS, local_day

    cur.execute(_PROVISIONAL)
    done = []
    for row in cur.fetchall():
        change = {}
        prov = set(row["provisional"])
        if "accept_by" in prov:
            d, p = deadline(cur, local_day(row["received_at"], tz), ACCEPT_DAYS)
            change["accept_by"] = d
            if not p:
                prov.discard("accept_by")
        if "mediate_by" in prov and row["accepted_at"] is not None:
            d, p = deadline(cur, local_day(row["accepted_at"], tz), MEDIATE_DAYS)
            change["mediate_by"] = d
            if not p:
                prov.discard("mediate_by")
        change["provisional"] = sorted(prov)
        before, after = audit.changed(row, change)
        if not after:
            continue
        sets = ", ".join(f"{k} = %s" for k in change)
        cur.execute(f"UPDATE complaints SET {sets}, updated_at = now() WHERE id = %s", (*change.values(), row["id"]))
        audit.record(cur, actor=ACTOR_RECOMPUTE, record_type="complaint", record_id=row["id"],
                     action="recompute", before=before, after=after, note="the year's schedule was loaded")
        done.append(row["id"])
    return done
