"""Double-random draws over HTTP (CONTRACT.md section 10) against real PostgreSQL and Redis:
a draw on the demo register redone with hashlib/hmac from its published inputs, the refusals
(422 naming the field, nothing stored), publish and seal, the public page, replacement,
commitments, the tasks for the inspectors, and `gridwatch draw verify`."""
import hashlib
import json
import math
from decimal import Decimal

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from typer.testing import CliRunner

from tests.casework.test_draws import redo_by_the_book
from tests.dashboard.test_api import h

SEED = "observers typed 2026-12-02 鹰潭"


@pytest.fixture(scope="module")
def api(web_stack):
    with psycopg.connect(web_stack.settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO checklists (id, name, categories, items) VALUES "
                     "('food-retail', '食品销售检查表', '{food_retail}', '[]'), ('general', '通用检查表', '{}', '[]') "
                     "ON CONFLICT DO NOTHING")
        # risky entities: a failed inspection in the last 12 months (the test history ends in 2018),
        # and one failed 13 months ago, which no longer counts
        conn.execute("INSERT INTO inspections (id, uscc, kind, inspectors, result, started_at) "
                     "SELECT 'risk-' || uscc, uscc, 'routine', '{x}', 'fail', now() - CASE WHEN n = 1 THEN "
                     "interval '13 months' ELSE interval '30 days' END FROM (SELECT uscc, row_number() OVER "
                     "(ORDER BY uscc) AS n FROM entities WHERE category = 'food_retail' AND active ORDER BY uscc "
                     "LIMIT 400) e")
    with TestClient(web_stack.server) as client:
        yield client


def db(stack):
    return psycopg.connect(stack.settings.database_url, row_factory=dict_row, autocommit=True)


def counts(stack) -> tuple[int, int, int]:
    with db(stack) as conn:
        return tuple(conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in ("draws", "tasks", "audit"))


def make(api, stack, who="coord1", **body):
    body = {"name": "2026年第四季度食品销售者双随机抽查", "checklist": "food-retail",
            "population": {"categories": ["food_retail"]}, **body}
    return api.post("/api/draws", json=body, headers=h(stack, who))


@pytest.fixture(scope="module")
def first(api, web_stack):
    res = make(api, web_stack, ratio=0.03, seed=SEED)
    assert res.status_code == 201, res.text
    return res.json()


def test_a_draw_is_redone_from_its_inputs_with_hmac_alone(api, web_stack, first):
    d = first
    raw = api.get(f"/api/draws/{d['id']}/inputs", headers=h(web_stack, "viewer1"))
    assert raw.status_code == 200
    assert hashlib.sha256(raw.content).hexdigest() == d["inputs_hash"]
    inputs = json.loads(raw.content)
    col = inputs["population"]
    pop = list(zip(col["uscc"], col["grid"], col["risky"]))
    risky = sum(e[2] for e in pop)
    assert d["population_size"] == len(pop) > 20000 and d["risk_population"] == risky == 399
    assert len(d["picks"]) == math.ceil(Decimal("0.03") * (len(pop) - risky)) + math.ceil(Decimal("0.06") * risky)
    assert d["seed"] == SEED and d["algorithm"].startswith("gridwatch-draw-v1")
    assert d["population_hash"] == hashlib.sha256(
        json.dumps(sorted(e[0] for e in pop), separators=(",", ":")).encode()).hexdigest()
    again = redo_by_the_book(SEED, inputs, "0.03", None, 2)
    assert [{"uscc": p["uscc"], "inspectors": p["inspectors"]} for p in d["picks"]] == again
    # the people of an entity's own grid and its declared conflicts are never sent
    reg = web_stack.ctx.registry
    grid = {e[0]: e[1] for e in pop}
    for p in d["picks"]:
        assert len(set(p["inspectors"])) == 2
        for pid in p["inspectors"]:
            assert grid[p["uscc"]] not in reg.person(pid).grids
            assert [pid, p["uscc"]] not in inputs["conflicts"]
    v = api.get(f"/api/draws/{d['id']}/verify", headers=h(web_stack, "viewer1")).json()
    assert v["match"] is True and v["problems"] == [] and v["picks"] == len(d["picks"])


def test_each_pick_is_a_task_for_its_team(api, web_stack, first):
    with db(web_stack) as conn:
        rows = conn.execute("SELECT uscc, assignee, team, category, source, state, checklist FROM tasks WHERE draw = %s",
                            (first["id"],)).fetchall()
        audited = conn.execute("SELECT count(*) AS n FROM audit WHERE record_type = 'task' AND action = 'draw' "
                               "AND after->>'draw' = %s", (first["id"],)).fetchone()["n"]
    by = {r["uscc"]: r for r in rows}
    assert len(rows) == len(first["picks"]) == audited
    for p in first["picks"]:
        t = by[p["uscc"]]
        assert t["team"] == p["inspectors"] and t["assignee"] == p["inspectors"][0]
        assert (t["category"], t["source"], t["state"], t["checklist"]) == ("double_random", "draw", "assigned", "food-retail")
    mine = api.get("/api/tasks", params={"assignee": first["picks"][0]["inspectors"][0]}, headers=h(web_stack, "coord1"))
    assert first["picks"][0]["task"] in {t["id"] for t in mine.json()}
    # the downlinks are in the outbox, one per team member with a device
    from alerts import keys
    sent = [json.loads(m[1][b"payload"]) for m in web_stack.r.xrange(keys.OUTBOX)]
    ours = [m for m in sent if m.get("_type") == "task" and m["id"] == first["picks"][0]["task"]]
    assert len(ours) == 2 and ours[0]["kind"] == "double_random" and ours[0]["uscc"] == first["picks"][0]["uscc"]


@pytest.mark.parametrize("body, field", [
    ({"ratio": 0}, "ratio"), ({"ratio": 1.5}, "ratio"), ({"ratio": "x"}, "ratio"),
    ({"count": 10_000_000}, "count"), ({"count": 0}, "count"), ({"count": 5, "ratio": 0.1}, "count"),
    ({"population": {"categories": ["no_such"]}}, "population.categories"),
    ({"population": {"kinds": ["no_such"]}}, "population.kinds"),
    ({"population": {"grids": ["999"]}}, "population.grids"),
    ({"checklist": "no-such-list"}, "checklist"),
    ({"population": {"categories": ["catering"]}}, "checklist"),
    ({"per_entity": 1}, "per_entity"), ({"per_entity": 40}, "per_entity"),
    ({"inspectors": {"roles": ["wizard"]}}, "inspectors.roles"),
    ({"replaces": "D-none", "reason": "x"}, "replaces"), ({"replaces": "D-none"}, "reason"),
    ({"name": ""}, "name"),
])
def test_bad_draws_are_refused_naming_the_field_and_nothing_is_stored(api, web_stack, first, body, field):
    before = counts(web_stack)
    res = make(api, web_stack, **body)
    assert res.status_code == 422, res.text
    assert res.json()["field"] == field, res.json()
    assert counts(web_stack) == before


def test_only_coordinators_and_admins_draw_and_reporters_do_not_read(api, web_stack, first):
    assert make(api, web_stack, who="viewer1", count=3).status_code == 403
    assert make(api, web_stack, who="sup1", count=3).status_code == 403
    assert api.get("/api/draws", headers=h(web_stack, "rep1")).status_code == 403
    assert api.get(f"/api/draws/{first['id']}", headers=h(web_stack, "rep1")).status_code == 403
    assert api.get("/api/draws").status_code == 401
    listed = api.get("/api/draws", headers=h(web_stack, "sup1")).json()
    assert first["id"] in {d["id"] for d in listed}


def test_publish_seals_and_the_public_page_shows_both_draws(api, web_stack):
    a = make(api, web_stack, count=4, seed="first").json()
    assert api.get(f"/public/draws/{a['id']}").status_code == 404          # not yet published
    pub = api.post(f"/api/draws/{a['id']}/publish", headers=h(web_stack, "coord1"))
    assert pub.status_code == 200 and len(pub.json()["hash"]) == 64 and pub.json()["published_at"]
    assert api.post(f"/api/draws/{a['id']}/publish", headers=h(web_stack, "coord1")).status_code == 409
    with db(web_stack) as conn, pytest.raises(psycopg.Error) as e:
        conn.execute("UPDATE draws SET name = 'x' WHERE id = %s", (a["id"],))
    assert e.value.sqlstate == "GWS01"
    b = make(api, web_stack, count=4, seed="second", replaces=a["id"], reason="抽取时名录库未更新").json()
    assert b["replaces"] == a["id"] and b["reason"] == "抽取时名录库未更新"
    old = api.get(f"/api/draws/{a['id']}", headers=h(web_stack, "viewer1")).json()
    assert old["replaced_by"] == b["id"] and old["hash"] == pub.json()["hash"]
    again = make(api, web_stack, count=4, replaces=a["id"], reason="again")
    assert again.status_code == 409
    page = api.get(f"/public/draws/{a['id']}")                               # no login
    assert page.status_code == 200 and "双随机" in page.text and b["id"] in page.text
    with db(web_stack) as conn:
        names = [r["name"] for r in conn.execute("SELECT name FROM entities WHERE uscc = ANY(%s)",
                                                  ([p["uscc"] for p in a["picks"]],))]
    assert all(n in page.text for n in names) and "检查中" in page.text
    assert a["seed"] in page.text
    assert api.post(f"/api/draws/{b['id']}/publish", headers=h(web_stack, "admin1")).status_code == 200
    page_b = api.get(f"/public/draws/{b['id']}").text
    assert a["id"] in page_b and "抽取时名录库未更新" in page_b
    from casework.seal import verify
    from gridwatch.db import connect
    with connect(web_stack.settings.database_url) as conn:
        assert verify(conn).ok


def test_a_committed_seed_is_shown_before_and_used_once(api, web_stack):
    c = api.post("/api/draws/commitments", headers=h(web_stack, "coord1"))
    assert c.status_code == 201 and "seed" not in c.json()
    d = make(api, web_stack, count=3, commitment=c.json()["id"]).json()
    assert d["seed_commitment"] == c.json()["commitment"] == hashlib.sha256(d["seed"].encode()).hexdigest()
    assert d["params"]["seed"] == "committed"
    assert make(api, web_stack, count=3, commitment=c.json()["id"]).status_code == 409


def test_cli_verify_finds_a_changed_draw(api, web_stack):
    from gridwatch.cli import app

    d = make(api, web_stack, count=5, seed="cli").json()
    env = {"GRIDWATCH_DATABASE_URL": web_stack.settings.database_url, "GRIDWATCH_REDIS_URL": web_stack.settings.redis_url}
    ok = CliRunner().invoke(app, ["draw", "verify", d["id"]], env=env)
    assert ok.exit_code == 0, ok.output
    assert "ok" in ok.output
    swapped = [{**p, "inspectors": p["inspectors"][::-1]} for p in d["picks"]]
    with db(web_stack) as conn:
        conn.execute("UPDATE draws SET picks = %s WHERE id = %s", (json.dumps(swapped), d["id"]))
    bad = CliRunner().invoke(app, ["draw", "verify", d["id"]], env=env)
    assert bad.exit_code == 1 and "MISMATCH" in bad.output and "picks differ" in bad.output
    assert api.get(f"/api/draws/{d['id']}/verify", headers=h(web_stack, "viewer1")).json()["match"] is False


def test_the_publication_limit_counts_national_day_2026_and_the_adjusted_saturday(api, web_stack):
    """Made at 01:00 on Mon 28 Sep 2026 in Beijing (Sun 27 Sep in UTC): 20 working days after
    28 Sep, by the State Council's 2026 schedule (1-7 Oct off, Sat 10 Oct worked), end on Fri 30 Oct:
    29, 30 Sep; 8, 9, 10 Oct; 12-16; 19-23; 26-30. Weekdays alone would say Mon 26 Oct, the UTC
    day 29 Oct. A limit counted into a year with no schedule is provisional."""
    from datetime import date, datetime, timezone

    from casework import draw_store as S
    from dashboard.console_draws import detail
    from dashboard.draw_routes import parse_request, pool_of

    with db(web_stack) as conn:
        years = {r["year"] for r in conn.execute("SELECT year FROM calendar_years").fetchall()}
        assert 2026 in years
        req = parse_request({"name": "国庆期限测试", "checklist": "food-retail",
                             "population": {"categories": ["food_retail"]}, "count": 3, "seed": "国庆"},
                            set(web_stack.ctx.dataset.grids["id"]))
        made = datetime(2026, 9, 27, 17, 0, tzinfo=timezone.utc)
        row = S.create(conn, name=req["name"], checklist=req["checklist"], params=req["params"],
                       spec=req["spec"], pool=pool_of(web_stack.ctx, req["params"]), actor="user:coord1",
                       account="coord1", seed=req["seed"], now=made)
        with conn.cursor() as cur:
            late = S.publish_deadline(cur, datetime(2026, 12, 20, 2, 0, tzinfo=timezone.utc), "Asia/Shanghai")
            cal = S.calendar_between(cur, date(2026, 9, 28), date(2026, 10, 30))
    res = api.get(f"/api/draws/{row['id']}", headers=h(web_stack, "viewer1"))
    assert res.status_code == 200, res.text
    got = res.json()
    assert (got["publish_by"], got["publish_by_provisional"]) == ("2026-10-30", False)
    assert S.working_days_between(cal, date(2026, 9, 28), date(2026, 10, 30)) == 20
    assert S.working_days_between(cal, date(2026, 9, 30), date(2026, 10, 8)) == 1    # the holiday week counts none
    # 20 working days after Sun 20 Dec 2026 reach into 2027: provisional unless 2027 is loaded
    assert late[1] is (2027 not in years) and late[0] > date(2027, 1, 1)

    def text(day):
        return str(detail(web_stack.ctx, row["id"], "zh", today=day))

    assert "仅剩" not in text(date(2026, 9, 30))                  # 19 working days left
    assert "仅剩 5 个工作日" in text(date(2026, 10, 23))             # 26-30 Oct
    assert "仅剩" not in text(date(2026, 10, 22))                  # 6 left: no warning yet
    assert "已超过公示期限" in text(date(2026, 11, 2))


def _stored_without_tasks(stack, name: str, seed: str) -> dict:
    """A draw as a web process that died right after committing it leaves it: no tasks yet."""
    from casework import draw_store as S
    from dashboard.draw_routes import parse_request, pool_of

    req = parse_request({"name": name, "checklist": "food-retail", "population": {"categories": ["food_retail"]},
                         "count": 5, "seed": seed}, set(stack.ctx.dataset.grids["id"]))
    with db(stack) as conn:
        return S.create(conn, name=req["name"], checklist=req["checklist"], params=req["params"], spec=req["spec"],
                        pool=pool_of(stack.ctx, req["params"]), actor="user:coord1", account="coord1",
                        seed=req["seed"])


def test_a_draw_whose_tasks_a_crash_left_unmade_gets_them_once_from_the_repair(api, web_stack):
    from casework import draw_store as S
    from casework.task_delivery import SENT_KEY

    row = _stored_without_tasks(web_stack, "中断后补建任务", "crash after commit")
    got = api.get(f"/api/draws/{row['id']}", headers=h(web_stack, "viewer1")).json()
    assert got["tasks_pending"] is True and [p["task_state"] for p in got["picks"]] == [None] * 5
    listed = {d["id"]: d for d in api.get("/api/draws", headers=h(web_stack, "viewer1")).json()}
    assert listed[row["id"]]["tasks_pending"] is True
    reg = web_stack.ctx.registry

    def device_of(pid):
        person = reg.person(pid)
        return person.device if person else None

    # a process already making them holds the draw: the repair passes it by
    with db(web_stack) as holder, holder.transaction():
        holder.execute("SELECT 1 FROM draws WHERE id = %s FOR UPDATE", (row["id"],))
        with db(web_stack) as conn:
            assert S.make_tasks(conn, row["id"], skip_locked=True) is None
            assert row["id"] not in S.make_pending(conn, web_stack.r, web_stack.settings.topic_root, device_of,
                                                   older_than_s=0)
    with db(web_stack) as conn:
        assert conn.execute("SELECT count(*) AS n FROM tasks WHERE draw = %s", (row["id"],)).fetchone()["n"] == 0
        assert row["id"] in S.make_pending(conn, web_stack.r, web_stack.settings.topic_root, device_of, older_than_s=0)
        assert row["id"] not in S.make_pending(conn, web_stack.r, web_stack.settings.topic_root, device_of,
                                               older_than_s=0)
        assert S.make_tasks(conn, row["id"]) == []
        tasks = conn.execute("SELECT id, uscc, assignee, team, reported_at, reporter_account FROM tasks WHERE draw = %s",
                             (row["id"],)).fetchall()
        audited = conn.execute("SELECT count(*) AS n FROM audit WHERE record_type = 'task' AND action = 'draw' "
                               "AND after->>'draw' = %s", (row["id"],)).fetchone()["n"]
    assert len(tasks) == audited == 5
    by = {p["uscc"]: p for p in row["picks"]}
    for t in tasks:
        assert t["id"] == by[t["uscc"]]["task"] and t["team"] == by[t["uscc"]]["inspectors"]
        assert t["reported_at"] == row["created_at"] and t["reporter_account"] == "coord1"
        # queued with the marker that keeps task_delivery's repair from sending it again
        assert web_stack.r.get(SENT_KEY + t["id"]) in (t["assignee"], t["assignee"].encode())
    got = api.get(f"/api/draws/{row['id']}", headers=h(web_stack, "viewer1")).json()
    assert got["tasks_pending"] is False and {p["task_state"] for p in got["picks"]} == {"assigned"}
    # a marker lost (Redis down at the time): task_delivery's repair sends the draw's own downlink
    from alerts import keys
    from casework.task_delivery import resend_unsent

    lost = next(t for t in tasks if device_of(t["assignee"]))
    web_stack.r.delete(SENT_KEY + lost["id"])
    start = web_stack.r.xinfo_stream(keys.OUTBOX)["last-generated-id"]
    with db(web_stack) as conn:
        assert lost["id"] in resend_unsent(conn, web_stack.r, web_stack.settings.topic_root, device_of, grace_s=0)
    again = [json.loads(m[1][b"payload"]) for m in web_stack.r.xrange(keys.OUTBOX, min=start)]
    mine = [m for m in again if m.get("id") == lost["id"]]
    assert mine and mine[0]["kind"] == "double_random" and mine[0]["uscc"] == lost["uscc"]


def test_the_population_is_the_same_read_in_index_order_or_sorted_here(api, web_stack, monkeypatch):
    """The register's pages all visible (the load's VACUUM): read in USCC order from the index;
    else read as it lies and sorted by numpy. Both give the same columns, byte-ordered."""
    from datetime import datetime, timezone

    from casework import draw_store as S

    now = datetime.now(timezone.utc)
    with db(web_stack) as conn, conn.transaction(), S._cursor(conn) as cur:
        cur.execute(S._VISIBLE)
        assert cur.fetchone()["v"] >= S.ORDERED_SCAN_VISIBLE
        ordered = S.population(cur, categories=["food_retail"], now=now, cover=["food_retail"])
        monkeypatch.setattr(S, "ORDERED_SCAN_VISIBLE", 2.0)
        sorted_here = S.population(cur, categories=["food_retail"], now=now, cover=["food_retail"])
        everyone = S.population(cur, now=now, cover=["food_retail"])
    assert ordered == sorted_here
    (usccs, grids, risky), outside = ordered
    assert usccs == sorted(usccs, key=str.encode) and len(set(usccs)) == len(usccs) > 20000
    assert sum(risky) == 399 and outside == set()
    assert "catering" in everyone[1] and "food_retail" not in everyone[1]


def test_publishing_a_draw_whose_tasks_are_unmade_makes_them_first(api, web_stack):
    row = _stored_without_tasks(web_stack, "公示前补建任务", "publish while pending")
    res = api.post(f"/api/draws/{row['id']}/publish", headers=h(web_stack, "coord1"))
    assert res.status_code == 200, res.text
    assert res.json()["tasks_pending"] is False and res.json()["sealed_at"]
    with db(web_stack) as conn:
        made = conn.execute("SELECT d.tasks_made_at, count(t.id) AS n FROM draws d LEFT JOIN tasks t ON t.draw = d.id "
                            "WHERE d.id = %s GROUP BY d.tasks_made_at", (row["id"],)).fetchone()
    assert made["n"] == 5 and made["tasks_made_at"] is not None


def login(stack, person: str) -> dict:
    """A supervisor account for a person of the demo (the inspectors have none by default)."""
    name = f"insp-{person}"
    stack.accounts.add(name, "supervisor", "pw", person=person)
    return {"Authorization": f"Bearer {stack.accounts.new_token(name)}"}


def test_a_co_inspector_sees_his_teams_tasks(api, web_stack, first):
    pick = first["picks"][0]
    lead, co = pick["inspectors"][:2]
    mine = api.get("/api/tasks", params={"limit": 1000}, headers=login(web_stack, co))
    assert mine.status_code == 200
    assert pick["task"] in {t["id"] for t in mine.json()}
    one = api.get(f"/api/tasks/{pick['task']}", headers=login(web_stack, co))
    assert one.status_code == 200 and one.json()["assignee"] == lead and "team" not in one.json()
    # he sees it, but its steps are the lead's
    assert api.post(f"/api/tasks/{pick['task']}/accept", json={}, headers=login(web_stack, co)).status_code == 403
    # a supervisor in neither the team nor the grid still does not
    grid = api.get(f"/api/tasks/{pick['task']}", headers=h(web_stack, "coord1")).json()
    outsider = next(i for p in first["picks"] for i in p["inspectors"] if i not in pick["inspectors"]
                    and not {grid["grid"], grid["level1"]} & set(web_stack.ctx.registry.person(i).grids))
    assert api.get(f"/api/tasks/{pick['task']}", headers=login(web_stack, outsider)).status_code == 404
    # on his terminal's my tasks, marked as a co-inspector's
    from dashboard.terminal_tasks import my_tasks
    cards = {x["id"]: x for x in my_tasks(web_stack.ctx, web_stack.accounts.get(f"insp-{co}"))}
    assert cards[pick["task"]].get("co_inspector") is True
    login(web_stack, lead)
    lead_cards = {x["id"]: x for x in my_tasks(web_stack.ctx, web_stack.accounts.get(f"insp-{lead}"))}
    assert not lead_cards[pick["task"]].get("co_inspector")


def test_a_replacing_draw_withdraws_the_open_tasks_of_the_one_it_replaces(api, web_stack):
    a = make(api, web_stack, count=6, seed="to be replaced").json()
    p0, p1 = a["picks"][:2]
    lead0, lead1 = login(web_stack, p0["inspectors"][0]), login(web_stack, p1["inspectors"][0])
    assert api.post(f"/api/tasks/{p0['task']}/accept", json={}, headers=lead0).status_code == 200
    for act, body in (("accept", {}), ("start", {}), ("handle", {"note": "检查完毕"})):
        res = api.post(f"/api/tasks/{p1['task']}/{act}", json=body, headers=lead1)
        assert res.status_code == 200, res.text
    b = make(api, web_stack, count=6, seed="the replacement", replaces=a["id"], reason="名录库更新后重新抽取").json()
    with db(web_stack) as conn:
        state = {r["id"]: r for r in conn.execute("SELECT id, state, reason FROM tasks WHERE draw = %s",
                                                  (a["id"],)).fetchall()}
        audited = conn.execute("SELECT record_id, actor, before, after, note FROM audit WHERE record_type = 'task' "
                               "AND action = 'withdraw' AND record_id = ANY(%s)", (list(state),)).fetchall()
        new = conn.execute("SELECT state FROM tasks WHERE draw = %s", (b["id"],)).fetchall()
    assert state[p1["task"]]["state"] == "handled"                       # the work done is kept
    gone = {t for t, r in state.items() if t != p1["task"]}
    assert all(state[t]["state"] == "rejected" and state[t]["reason"] == "replaced" for t in gone)
    assert {r["record_id"] for r in audited} == gone and len(audited) == len(gone)
    assert all(r["note"] == f"replaced by draw {b['id']}" and r["after"]["state"] == "rejected" for r in audited)
    assert {r["before"]["state"] for r in audited} == {"accepted", "assigned"}
    assert [r["state"] for r in new] == ["assigned"] * 6
    # the task's own history says so, and the old draw's page follows it
    hist = api.get(f"/api/tasks/{p0['task']}", headers=h(web_stack, "coord1")).json()["history"]
    assert hist[-1]["action"] == "withdraw" and hist[-1]["note"] == f"replaced by draw {b['id']}"
    old = api.get(f"/api/draws/{a['id']}", headers=h(web_stack, "coord1")).json()
    assert {p["task_state"] for p in old["picks"]} == {"rejected", "handled"}
    # a withdrawn task takes no more steps
    assert api.post(f"/api/tasks/{p0['task']}/start", json={}, headers=lead0).status_code == 409
