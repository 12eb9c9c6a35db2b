"""The sealed-record chain: sealing, `records verify` finding what was edited around the
triggers, and a chain that never forks under concurrent sealers."""
import threading
from datetime import datetime, timezone

import psycopg
import pytest

from alerts.errors import Conflict
from casework import seal
from gridwatch.db import connect
from tests.conftest import loaded


def _new_task(conn, tid: str) -> None:
    conn.execute("INSERT INTO tasks (id, category, lat, lon, state, reported_at, deadline) "
                 "VALUES (%s, 'other', 28.2, 117.0, 'closed', now(), now())", (tid,))


def _edit_behind_the_triggers(conn, sql: str, args=()) -> None:
    # what someone with the database's superuser can do: switch the triggers off for a session
    conn.execute("SET session_replication_role = replica")
    conn.execute(sql, args)
    conn.execute("SET session_replication_role = origin")
    conn.commit()


def test_the_demo_history_is_sealed_and_verifies(records_url):
    with connect(records_url) as conn:
        v = seal.verify(conn)
        n = conn.execute("SELECT count(*) AS n FROM seals").fetchone()["n"]
    assert v.ok and v.checked == n > 1000, v.text()


def test_seal_links_to_the_previous_record_and_refuses_a_second_seal(records_url):
    with connect(records_url) as conn:
        last = conn.execute("SELECT hash FROM seals ORDER BY seq DESC LIMIT 1").fetchone()["hash"]
        _new_task(conn, "T-test-1")
        with conn.cursor() as cur:
            out = seal.seal(cur, "task", "T-test-1")
        conn.commit()
        assert out["prev_hash"] == last and len(out["hash"]) == 64
        row = conn.execute("SELECT hash, sealed_at FROM tasks WHERE id = 'T-test-1'").fetchone()
        assert row["hash"] == out["hash"] and row["sealed_at"] == out["sealed_at"]
        with pytest.raises(Conflict), conn.cursor() as cur:
            seal.seal(cur, "task", "T-test-1")
        conn.rollback()
        assert seal.verify(conn).ok


def test_verify_names_the_first_record_edited_with_sql(records_url):
    with connect(records_url) as conn:
        victim = conn.execute("SELECT record_type, record_id, seq FROM seals WHERE record_type = 'complaint' "
                              "ORDER BY seq LIMIT 1 OFFSET 20").fetchone()
        later = conn.execute("SELECT record_id FROM seals WHERE record_type = 'inspection' AND seq > %s "
                             "ORDER BY seq DESC LIMIT 1", (victim["seq"],)).fetchone()
        _edit_behind_the_triggers(conn, "UPDATE inspections SET result = 'pass', notes = 'changed afterwards' WHERE id = %s",
                                  (later["record_id"],))
        _edit_behind_the_triggers(conn, "UPDATE complaints SET description = description || '（已改）' WHERE id = %s",
                                  (victim["record_id"],))
        v = seal.verify(conn)
    assert not v.ok
    assert (v.bad["type"], v.bad["id"], v.bad["seq"]) == ("complaint", victim["record_id"], victim["seq"])
    assert "no longer matches" in v.text() and victim["record_id"] in v.text()


def test_verify_finds_a_deleted_record_and_a_forged_hash(records_url):
    with connect(records_url) as conn:
        s = conn.execute("SELECT record_id, seq FROM seals WHERE record_type = 'task' ORDER BY seq LIMIT 1 OFFSET 5").fetchone()
        _edit_behind_the_triggers(conn, "DELETE FROM tasks WHERE id = %s", (s["record_id"],))
        v = seal.verify(conn)
        assert not v.ok and v.bad["id"] == s["record_id"] and "missing" in v.bad["problem"]


def test_records_verify_command_exits_1_naming_the_record(records_url):
    from typer.testing import CliRunner

    from gridwatch.cli import app

    res = CliRunner().invoke(app, ["--database-url", records_url, "records", "verify"])
    assert res.exit_code == 0 and "chain intact" in res.output
    with connect(records_url) as conn:
        s = conn.execute("SELECT record_id FROM seals WHERE record_type = 'case' ORDER BY seq LIMIT 1").fetchone()
        _edit_behind_the_triggers(conn, "UPDATE cases SET fine_yuan = coalesce(fine_yuan, 0) + 1 WHERE id = %s", (s["record_id"],))
    res = CliRunner().invoke(app, ["--database-url", records_url, "records", "verify"])
    assert res.exit_code == 1 and s["record_id"] in res.output


def test_concurrent_sealers_never_fork_the_chain(records_url):
    with connect(records_url) as conn:
        for i in range(40):
            _new_task(conn, f"T-race-{i}")
        conn.commit()
    errors = []

    def sealer(ids):
        try:
            with connect(records_url) as c:
                for tid in ids:
                    with c.transaction(), c.cursor() as cur:
                        seal.seal(cur, "task", tid)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=sealer, args=([f"T-race-{i}" for i in range(k, 40, 4)],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with connect(records_url) as conn:
        prevs = conn.execute("SELECT prev_hash, count(*) AS n FROM seals GROUP BY prev_hash HAVING count(*) > 1").fetchall()
        assert prevs == []   # no two records share a predecessor: one chain
        assert seal.verify(conn).ok


def test_history_load_is_idempotent(records_url, records_dataset):
    from casework.records import load_dataset_records

    with connect(records_url) as conn:
        before = conn.execute("SELECT (SELECT count(*) FROM seals) AS s, (SELECT count(*) FROM inspections) AS i").fetchone()
        counts = load_dataset_records(conn, loaded(records_dataset), records_dataset)
        after = conn.execute("SELECT (SELECT count(*) FROM seals) AS s, (SELECT count(*) FROM inspections) AS i").fetchone()
    assert counts["history"] == 0 and counts["entities_added"] == 0 and before == after
