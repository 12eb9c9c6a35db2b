"""The statistics' routes over the demo register and its short history (real PostgreSQL): the
figures, 422 naming a bad parameter, the roles, CSV and XLSX exports, and no complainant's
name, phone or id number in any role's answers or exports."""
import csv
import io

import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.dashboard.test_api import h

ROLES = ("viewer1", "coord1", "admin1", "sup1")


@pytest.fixture(scope="module")
def api(web_stack):
    with TestClient(web_stack.server) as client:
        yield client


def _db(web_stack):
    return psycopg.connect(web_stack.settings.database_url)


def test_stats_by_level1_over_a_range_count_the_raw_rows(api, web_stack):
    res = api.get("/api/stats", params={"measure": "inspections", "by": "level1", "from": "2018-03-01",
                                        "to": "2018-03-31"}, headers=h(web_stack, "viewer1"))
    assert res.status_code == 200
    rows = {r["key"]: r for r in res.json()}
    with _db(web_stack) as conn:
        raw = dict(conn.execute(
            "SELECT level1, count(*) FROM inspections WHERE sealed_at IS NOT NULL AND "
            "(started_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN '2018-03-01' AND '2018-03-31' GROUP BY 1").fetchall())
    assert {k: r["value"] for k, r in rows.items() if r["value"]} == raw
    some = next(iter(rows.values()))
    assert some["name"] and some["per_1000_entities"] > 0 and "previous" in some and "change" in some


def test_summary_and_weak(api, web_stack):
    s = api.get("/api/stats/summary", headers=h(web_stack, "coord1")).json()
    for k in ("inspections", "inspections_by_kind", "complaints", "clues_verified", "transferred_police",
              "cases_filed", "penalty_decisions", "tasks_closed", "tasks_on_time_pct", "mediation_rate"):
        assert k in s
    with _db(web_stack) as conn:
        assert s["inspections"] == conn.execute("SELECT count(*) FROM inspections WHERE sealed_at IS NOT NULL").fetchone()[0]
        assert s["complaints"] == conn.execute("SELECT count(*) FROM complaints").fetchone()[0]
    w = api.get("/api/stats/weak", params={"by": "level1", "top": 3, "from": "2018-01-01", "to": "2018-06-30"},
                headers=h(web_stack, "viewer1"))
    assert w.status_code == 200 and len(w.json()) == 3
    assert w.json()[0]["score"] >= w.json()[1]["score"] and w.json()[0]["reasons"]


@pytest.mark.parametrize("path,params,field", [
    ("/api/stats", {"measure": "bogus"}, "measure"),
    ("/api/stats", {"by": "week"}, "by"),
    ("/api/stats", {"from": "2018-02-30"}, "from"),
    ("/api/stats", {"from": "2018-03-01", "to": "2018-02-01"}, "to"),
    ("/api/stats/summary", {"to": "yesterday"}, "to"),
    ("/api/stats/weak", {"by": "month"}, "by"),
    ("/api/stats.pdf", {}, "format"),
])
def test_bad_parameters_are_422_naming_the_field(api, web_stack, path, params, field):
    res = api.get(path, params=params, headers=h(web_stack, "viewer1"))
    assert res.status_code == 422 and res.json()["field"] == field, res.text
    assert field in res.json()["error"]


def test_roles(api, web_stack):
    assert api.get("/api/stats").status_code == 401
    assert api.get("/api/stats", headers=h(web_stack, "rep1")).status_code == 403
    assert api.get("/api/stats/summary.csv", headers=h(web_stack, "rep1")).status_code == 403


def test_csv_and_xlsx_exports_hold_the_same_table(api, web_stack):
    params = {"measure": "complaints", "by": "category", "from": "2018-01-01", "to": "2018-06-30"}
    js = api.get("/api/stats", params=params, headers=h(web_stack, "viewer1")).json()
    c = api.get("/api/stats.csv", params=params, headers=h(web_stack, "viewer1"))
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert rows[0] == ["key", "name", "value", "per_1000_entities", "previous", "change"]
    assert [(r[0], int(r[2])) for r in rows[1:]] == [(r["key"], r["value"]) for r in js]
    x = api.get("/api/stats.xlsx", params=params, headers=h(web_stack, "viewer1"))
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    got = [tuple(c.value for c in row) for row in ws.iter_rows()]
    assert got[0][:3] == ("key", "name", "value")
    assert [(r[0], r[2]) for r in got[1:]] == [(r["key"], r["value"]) for r in js]
    w = api.get("/api/stats/weak.xlsx", params={"by": "level1"}, headers=h(web_stack, "viewer1"))
    ws = load_workbook(io.BytesIO(w.content)).active
    header = [c.value for c in next(ws.iter_rows())]
    assert "reason" in header and any("倍" in (r[header.index("reason")].value or "") for r in list(ws.iter_rows())[1:])


def test_no_complainant_data_in_any_roles_statistics(api, web_stack):
    with _db(web_stack) as conn:
        people = conn.execute("SELECT complainant_name, complainant_phone, complainant_id_number FROM complaints "
                              "ORDER BY id LIMIT 3000").fetchall()
        grid = conn.execute("SELECT grid FROM inspections WHERE result = 'fail' GROUP BY grid "
                            "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    phones = {p[1] for p in people} | {p[2] for p in people if p[2]}
    names = {p[0] for p in people if len(p[0]) >= 3}
    urls = [("/api/stats", {"measure": m, "by": b}) for m in ("complaints", "mediated") for b in ("grid", "category", "month")]
    urls += [("/api/stats/summary", {}), ("/api/stats/weak", {"by": "category"}), ("/api/stats/weak", {"by": "grid"})]
    urls += [(u, {}) for u in ("/api/stats.csv", "/api/stats/summary.csv", "/api/stats/weak.csv", "/api/stats/weak.xlsx")]
    urls += [("/api/stats/failed_entities", {"grid": grid}), ("/api/stats/failed_entities.csv", {"grid": grid})]
    for who in ROLES:
        for url, params in urls:
            res = api.get(url, params=params, headers=h(web_stack, who))
            assert res.status_code == 200, (who, url, res.text)
            body = res.content.decode("utf-8", "replace") if not url.endswith(".xlsx") else \
                "\n".join(str(c.value) for row in load_workbook(io.BytesIO(res.content)).active.iter_rows() for c in row)
            assert not [p for p in phones if p in body], (who, url)
            if "failed_entities" not in url:     # entity (business) names may hold a person's name
                assert not [n for n in names if n in body], (who, url)


def test_the_walls_casework_strip_counts_the_records(web_stack):
    from datetime import date

    from dashboard import stats_wall

    f = stats_wall.figures(web_stack.ctx)
    year = date.today().year
    with _db(web_stack) as conn:
        q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        assert f["cw_open_tasks"] == q("SELECT count(*) FROM tasks WHERE state NOT IN ('closed', 'rejected')")
        assert f["cw_complaints_waiting"] == q("SELECT count(*) FROM complaints WHERE state = 'received'")
        assert f["sum_since_2018"] == q("SELECT count(*) FROM inspections WHERE sealed_at IS NOT NULL")
        assert f["cw_clues_year"] == q(f"SELECT count(*) FROM cases WHERE opened_at >= '{year}-01-01T00:00+08:00'")
    assert f["cw_open_tasks"] > 0 and f["cw_overdue_tasks"] > 0      # the short history's open tasks are long late
    cells = stats_wall.strip(f, "zh")
    assert len(cells) == len(stats_wall.CELLS) and "alert" in cells[1].className


def test_the_walls_weak_spot_layer_scores_the_level2_grids(web_stack):
    from casework import stats
    from dashboard import stats_wall

    assert stats_wall.weak_hideout(web_stack.ctx)["max"] == 0    # the short history has no last three years
    h = stats_wall.weak_hideout(web_stack.ctx, stats.period("2018-01-01", "2018-06-30"))
    grids = set(web_stack.ctx.dataset.grids.query("level == 2")["id"])
    assert h["max"] > 0 and set(h["values"]) <= grids and len(h["values"]) > len(grids) // 2
    assert all(v >= 0 for v in h["values"].values())


def test_the_walls_strip_says_dash_only_while_the_database_is_down_and_raises_on_bugs(web_stack):
    """A records database that is not there gives "–" cells; a bad query or any other error is a
    bug and raises out of the callback (it is not hidden behind "–")."""
    from dashboard import stats_wall
    from dashboard.context import WebContext
    from gridwatch.services import free_port

    down = WebContext.build(web_stack.settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/gridwatch"}))
    try:
        assert stats_wall.unless_down(stats_wall.figures, down) is None
        assert stats_wall.unless_down(stats_wall.weak_hideout, down) is None
        assert [c.children[0].children for c in stats_wall.strip(None, "zh")] == ["–"] * len(stats_wall.CELLS)
    finally:
        down.close()
    ctx = web_stack.ctx
    assert stats_wall.unless_down(stats_wall.figures, ctx)["cw_open_tasks"] >= 0

    def bad_query(c):
        with c.db.connection() as conn:
            conn.execute("SELECT no_such_column FROM tasks")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        stats_wall.unless_down(bad_query, ctx)
    with pytest.raises(ZeroDivisionError):
        stats_wall.unless_down(lambda c: 1 / 0, ctx)
