"""Complaints in the records on real PostgreSQL and Redis: the transition table, masking,
query codes, the national platform's hand-ons imported whole or refused whole, and the
`complaint_overdue` alert raised once per cause (also after a restart)."""
import json
from datetime import date, datetime, timedelta, timezone

import orjson
import pytest
import redis
from typer.testing import CliRunner

from alerts import keys
from alerts.alerts import Alerts
from alerts.errors import Conflict, Forbidden, Invalid
from casework import complaint_escalation as E
from casework import complaint_store as S
from casework import complaints as C
from gridwatch.db import connect
from tests.casework.test_workdays import _intake, _jurisdiction
from tests.conftest import loaded

COORD = S.Viewer("coord1", "coordinator")


@pytest.mark.parametrize("state,action,target", [
    ("received", "accept", "accepted"), ("received", "refuse", "refused"), ("accepted", "mediate", "mediating"),
    ("mediating", "agree", "agreed"), ("mediating", "fail", "failed"), ("received", "transfer", "transferred"),
    ("accepted", "transfer", "transferred"), ("agreed", "close", "closed"), ("failed", "close", "closed"),
])
def test_the_table_allows(state, action, target):
    assert C.decide(state, action, frozenset({"branch"}), reason="r", terms="t", to="x") == target


@pytest.mark.parametrize("state,action", [
    ("received", "mediate"), ("accepted", "accept"), ("mediating", "transfer"), ("received", "close"),
    ("closed", "accept"), ("refused", "close"), ("transferred", "accept"), ("closed", "task"),
])
def test_the_table_refuses_with_409(state, action):
    with pytest.raises(Conflict):
        C.decide(state, action, frozenset({"coordinator"}), reason="r", terms="t", to="x")


def test_no_capacity_is_403_and_the_queue_is_the_command_centres():
    with pytest.raises(Forbidden):
        C.decide("received", "accept", frozenset())
    assert C.capacities("supervisor", "p1", None, lambda b: {"p1"}) == frozenset()
    assert C.capacities("supervisor", "p1", "月湖分局", lambda b: {"p1"}) == {"branch"}
    assert C.capacities("viewer", None, "月湖分局", lambda b: set()) == frozenset()


def test_masks_and_codes():
    assert C.mask_name("张三") == "张*" and C.mask_phone("13812341234") == "138****1234"
    assert C.scrub("请回电13812341234，身份证36060219900101123X", {}) == "请回电138****1234，身份证360*************3X"
    codes = {C.new_query_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(len(c) == 12 and set(c) <= set(C.ALPHABET) for c in codes)
    c = next(iter(codes))
    assert C.normalize_code(C.show_code(c).lower()) == c
    assert C.normalize_code("abc0-o1iL") == "ABC00111"
    assert C.normalize_code("Q0123456789") == "Q0123456789"          # the demo history's codes


def _csv(path, rows):
    head = ["platform_id", "channel", "received_at", "complainant_name", "complainant_phone", "respondent_uscc",
            "respondent_name", "respondent_address", "respondent_lat", "respondent_lon", "category", "description"]
    path.write_text(",".join(head) + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_import_keeps_received_at_refuses_whole_and_skips_what_is_there(records_url, demo_data, tmp_path):
    from gridwatch.cli import app

    with connect(records_url) as conn:
        ent = conn.execute("SELECT uscc, branch FROM entities WHERE branch IS NOT NULL ORDER BY uscc LIMIT 1").fetchone()
    good = [["N2026001", "12315", "2026-09-29T10:00:00+08:00", "赵六", "13611112222", ent["uscc"], "", "", "", "",
             "food", "变质"],
            ["N2026002", "12331", "2026-11-30T09:00:00+08:00", "钱七", "13611113333", "", "某店", "某路", "", "",
             "quality", "假货"],
            ["N2026004", "12315", "2026-11-30T09:00:00+08:00", "吴十", "13611115555", "91110000MA01ABCD1X", "", "", "",
             "", "price", "外地企业"]]
    f = _csv(tmp_path / "handons.csv", good)
    bad = _csv(tmp_path / "bad.csv", good + [["N2026003", "12315", "2026-11-30T09:00:00+08:00", "孙八", "1361111",
                                                ent["uscc"], "", "", "", "", "food", "x"]])
    args = ["--database-url", records_url, "--data", str(demo_data)]
    res = CliRunner().invoke(app, [*args, "complaints", "import", str(bad)])
    assert res.exit_code == 1 and "bad.csv, row 5" in res.output and "complainant.phone" in res.output
    with connect(records_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM complaints WHERE id LIKE 'P-%'").fetchone()["n"] == 0
    res = CliRunner().invoke(app, [*args, "complaints", "import", str(f)])
    assert res.exit_code == 0 and "3 complaints imported" in res.output, res.output
    with connect(records_url) as conn:
        got = {r["id"]: r for r in conn.execute("SELECT id, received_at, accept_by, branch, channel FROM complaints "
                                                "WHERE id LIKE 'P-%'")}
    assert got["P-N2026001"]["received_at"] == datetime(2026, 9, 29, 2, tzinfo=timezone.utc)
    assert got["P-N2026001"]["accept_by"] == date(2026, 10, 14) and got["P-N2026001"]["branch"] == ent["branch"]
    assert got["P-N2026002"]["branch"] is None and got["P-N2026002"]["channel"] == "12331"
    assert got["P-N2026004"]["branch"] is None         # a respondent outside the register: the queue
    res = CliRunner().invoke(app, [*args, "complaints", "import", str(f)])
    assert res.exit_code == 0 and "0 complaints imported, 3 already there" in res.output
    # JSON, shaped like POST /api/complaints; received_at required
    j = tmp_path / "handons.json"
    j.write_text(json.dumps([{"channel": "12315", "complainant": {"name": "周九", "phone": "13611114444"},
                              "respondent": {"uscc": ent["uscc"]}, "category": "food", "description": "x"}]))
    res = CliRunner().invoke(app, [*args, "complaints", "import", str(j)])
    assert res.exit_code == 1 and "item 1" in res.output and "received_at" in res.output


@pytest.fixture
def r(settings):
    c = redis.Redis.from_url(settings.redis_url)
    c.flushall()
    yield c
    c.close()


def test_overdue_alerts_once_per_cause_also_after_a_restart(records_url, demo_data, settings, r):
    j = _jurisdiction(demo_data)
    now = datetime(2026, 12, 2, 2, tzinfo=timezone.utc)
    with connect(records_url) as conn:
        uscc = conn.execute("SELECT uscc FROM entities WHERE branch IS NOT NULL ORDER BY uscc LIMIT 1").fetchone()["uscc"]
        late = S.create(conn, _intake(uscc, now - timedelta(days=20)), placer=j.placer, actor="t", now=now)
        fresh = S.create(conn, _intake(uscc, now - timedelta(days=1)), placer=j.placer, actor="t", now=now)
        slow = S.create(conn, _intake(uscc, now - timedelta(days=90)), placer=j.placer, actor="t", now=now)
        S.act(conn, slow["id"], "accept", COORD, now=now - timedelta(days=89))
        devices = {late["handler"]: "dev-x"}
        got = E.escalate_due(conn, Alerts(r, settings), devices.get, now=now)
    assert sorted(got) == sorted([(late["id"], "not_accepted"), (slow["id"], "mediation_overdue")])
    alerts = {(a["data"]["complaint"], a["data"]["cause"]): a for a in Alerts(r, settings).list()
              if a["kind"] == "complaint_overdue"}
    a = alerts[(late["id"], "not_accepted")]
    assert a["person"] == late["handler"] and a["grid"] == late["grid"] and "张" not in a["title"]
    queued = [orjson.loads(f[b"payload"]) for _id, f in r.xrange(keys.OUTBOX)]
    assert any(m.get("kind") == "complaint_overdue" and m.get("complaint") == late["id"] for m in queued)
    for cause in E.CAUSES:
        Alerts(r, settings).clear(E.KIND, E.subject(late["id"], cause), "test", "cleared")
    with connect(records_url) as conn:
        assert E.escalate_due(conn, Alerts(r, settings), devices.get, now=now + timedelta(hours=1)) == []
        assert fresh["accept_by"] >= now.date()
        # answered: accepting clears the alert's cause
        S.act(conn, late["id"], "accept", COORD, now=now)
    E.clear_answered(Alerts(r, settings), late["id"], "accept", "user:coord1")
    open_ = [x for x in Alerts(r, settings).list() if x["kind"] == "complaint_overdue" and x["state"] == "open"]
    assert [(x["data"]["complaint"], x["data"]["cause"]) for x in open_] == [(slow["id"], "mediation_overdue")]


def test_dispatcher_delivers_complaint_overdue_to_the_handlers_device(demo_data, settings, records_url):
    """The dispatcher's periodic job (as `gridwatch dispatcher` runs it) raises the alert and
    the handler's phone gets it over MQTT."""
    import threading

    from alerts.dispatcher import Dispatcher
    from alerts.live import RedisWorld
    from tests.alerts.field import Terminal
    from testkit.waiting import wait_for

    ds = loaded(demo_data)
    j = _jurisdiction(demo_data)
    now = datetime.now(timezone.utc)
    with connect(records_url) as conn:
        uscc = conn.execute("SELECT uscc FROM entities WHERE branch IS NOT NULL ORDER BY uscc LIMIT 1").fetchone()["uscc"]
        c = S.create(conn, _intake(uscc, now - timedelta(days=30)), placer=j.placer, actor="t", now=now)
    dev = j.registry.person(c["handler"]).device
    assert dev
    s = settings.model_copy(update={"database_url": records_url, "check_interval_s": 0.2})
    phone = Terminal(s, dev)
    d = Dispatcher(s, name="complaints-esc", world_factory=lambda rr: RedisWorld(rr, s, dataset=ds),
                   periodic=(E.job(s),))
    th = threading.Thread(target=d.run, kwargs={"install_signals": False}, daemon=True)
    th.start()
    try:
        wait_for(lambda: any(m.get("complaint") == c["id"] for m in phone.received), what="complaint_overdue on the device")
        msg = next(m for m in phone.received if m.get("complaint") == c["id"])
        assert msg["kind"] == "complaint_overdue" and msg["cause"] == "not_accepted" and msg["_topic"].endswith(f"/{dev}/alerts")
        assert "张" not in orjson.dumps(msg).decode() and "13812341234" not in orjson.dumps(msg).decode()
    finally:
        d.stop.set()
        th.join(10)
        phone.disconnect()


def test_import_counts_deadlines_from_the_day_in_the_settings_time_zone(records_url, demo_data, tmp_path):
    """Received 30 September 01:00 in Beijing is still 29 September in UTC: with `--tz UTC` (the
    settings' `tz`, GRIDWATCH_TZ) the 7 working days count from the 29th (-> 14 October across
    National Day), with the default Asia/Shanghai from the 30th (-> 15 October)."""
    from gridwatch.cli import app

    with connect(records_url) as conn:
        ent = conn.execute("SELECT uscc FROM entities WHERE branch IS NOT NULL ORDER BY uscc LIMIT 1").fetchone()
    row = ["{id}", "12315", "2026-09-30T01:00:00+08:00", "郑一", "13611116666", ent["uscc"], "", "", "", "", "food", "x"]
    args = ["--database-url", records_url, "--data", str(demo_data)]
    for tz, pid, want in (("UTC", "TZ2026UTC", date(2026, 10, 14)), (None, "TZ2026CST", date(2026, 10, 15))):
        f = _csv(tmp_path / f"{pid}.csv", [[v.format(id=pid) for v in row]])
        res = CliRunner().invoke(app, [*args, *(["--tz", tz] if tz else []), "complaints", "import", str(f)])
        assert res.exit_code == 0 and "1 complaints imported" in res.output, res.output
        with connect(records_url) as conn:
            got = conn.execute("SELECT accept_by FROM complaints WHERE id = %s", (f"P-{pid}",)).fetchone()
        assert got["accept_by"] == want, tz
