"""The entity register: `gridwatch load` upserts by USCC with an audit entry per change, an
entity that leaves the dataset is marked inactive (never deleted), search and the risk rule."""
from datetime import datetime, timedelta, timezone

import pytest

from casework import register
from gridwatch.db import connect


def _dataset(demo):
    from geodata.dataset import load_dataset

    return load_dataset(demo)


@pytest.fixture(scope="module")
def demo_ds(demo_data):
    return _dataset(demo_data)


def test_sync_adds_changes_deactivates_and_audits(db_url, demo_ds):
    ds = demo_ds
    with connect(db_url) as conn:
        first = register.sync(conn, ds, "load:test")
        assert first["added"] == len(ds.entities) and first["changed"] == first["deactivated"] == 0
        assert register.sync(conn, ds, "load:test") == {"added": 0, "changed": 0, "deactivated": 0,
                                                        "unchanged": len(ds.entities)}
        gone, renamed = ds.entities["uscc"].iloc[0], ds.entities["uscc"].iloc[1]
        ds2 = type(ds)(grids=ds.grids, people=ds.people, entities=ds.entities.iloc[1:].copy())
        ds2.entities.loc[ds2.entities["uscc"] == renamed, "name"] = "改名后的测试商店"
        counts = register.sync(conn, ds2, "load:v2")
        assert (counts["added"], counts["changed"], counts["deactivated"]) == (0, 1, 1)
        left = conn.execute("SELECT active, left_at FROM entities WHERE uscc = %s", (gone,)).fetchone()
        assert left["active"] is False and left["left_at"] is not None      # kept, not deleted
        trail = conn.execute("SELECT action, before, after, actor FROM audit WHERE record_type = 'entity' "
                             "AND record_id = %s ORDER BY id", (renamed,)).fetchall()
        assert [t["action"] for t in trail] == ["register", "update"]
        assert trail[1]["after"]["name"] == "改名后的测试商店" and trail[1]["actor"] == "load:v2"
        assert trail[1]["before"]["name"] == ds.entities.loc[ds.entities["uscc"] == renamed, "name"].iloc[0]
        back = register.sync(conn, ds, "load:v3")                           # it comes back
        assert back["changed"] == 2
        assert conn.execute("SELECT active FROM entities WHERE uscc = %s", (gone,)).fetchone()["active"] is True


def test_search_by_name_part_and_uscc_prefix(records_url, demo_ds):
    e = demo_ds.entities.iloc[123]
    with connect(records_url) as conn:
        part = e["name"][2:6]
        hits = register.search(conn, part, limit=100)
        assert hits and all(part in h["name"] for h in hits)
        assert e["uscc"] in {h["uscc"] for h in register.search(conn, e["name"])}
        by_code = register.search(conn, e["uscc"][:12].lower())
        assert by_code[0]["uscc"].startswith(e["uscc"][:12])
        assert register.search(conn, e["uscc"])[0]["uscc"] == e["uscc"]
        in_grid = register.search(conn, "", grid=e["grid"], limit=100)
        assert in_grid and {h["grid"] for h in in_grid} == {e["grid"]}
        assert register.search(conn, "100%_不存在") == []


def test_entity_history_newest_first_with_risk(records_url):
    with connect(records_url) as conn:
        u = conn.execute("SELECT uscc FROM inspections GROUP BY uscc ORDER BY count(*) DESC LIMIT 1").fetchone()["uscc"]
        ent = register.get(conn, u)
    ats = [h["at"] for h in ent["history"]]
    assert len(ats) >= 2 and ats == sorted(ats, reverse=True)
    assert ent["risk"] in "ABCD" and ent["uscc"] == u


def _h(type_, state, days_ago, detail=""):
    return {"type": type_, "state": state, "detail": detail,
            "at": datetime(2026, 6, 1, tzinfo=timezone.utc) - timedelta(days=days_ago)}


NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("history, level", [
    ([_h("inspection", "pass", 30)], "A"),
    ([], "B"),                                                        # never inspected
    ([_h("inspection", "pass", 30), _h("complaint", "closed", 60, "unfounded")], "B"),
    ([_h("inspection", "rectify", 30)], "B"),
    ([_h("inspection", "fail", 100)], "C"),
    ([_h("inspection", "pass", 10), _h("complaint", "closed", 60, "founded")], "C"),
    ([_h("inspection", "fail", 10), _h("inspection", "fail", 200)], "D"),
    ([_h("inspection", "pass", 10), _h("case", "decided", 500)], "D"),
    ([_h("inspection", "pass", 10), _h("inspection", "fail", 400)], "A"),  # older than a year
])
def test_risk_rule(history, level):
    assert register.risk_of(history, NOW).level == level
