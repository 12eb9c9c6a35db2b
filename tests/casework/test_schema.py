"""The records' schema on a real PostgreSQL: migrations from empty and again, the refusal of a
schema that is behind, and the triggers that keep sealed rows and the audit as they were."""
import psycopg
import pytest

from casework import schema
from gridwatch.db import connect
from tests.conftest import fresh_database


def _empty_database(pg_server) -> str:
    name = f"gw_empty_{id(object())}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.url_of(name)


def test_upgrade_from_empty_then_again_changes_nothing(pg_server):
    url = _empty_database(pg_server)
    with pytest.raises(schema.SchemaBehind, match="gridwatch db upgrade"):
        schema.require_current(url)
    assert schema.upgrade(url) == (None, schema.head())
    with connect(url) as conn:
        tables = {r["table_name"] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"entities", "tasks", "inspections", "draws", "complaints", "cases", "media", "record_media",
            "audit", "seals", "checklists", "task_categories", "complaint_categories"} <= tables
    assert schema.upgrade(url) == (schema.head(), schema.head())
    schema.require_current(url)


def test_the_cli_refuses_a_schema_behind_and_upgrades(pg_server, tmp_path):
    from typer.testing import CliRunner

    from gridwatch.cli import app

    url = _empty_database(pg_server)
    res = CliRunner().invoke(app, ["--database-url", url, "--var-dir", str(tmp_path), "records", "verify"])
    assert res.exit_code == 1 and "gridwatch db upgrade" in res.output
    res = CliRunner().invoke(app, ["--database-url", url, "db", "upgrade"])
    assert res.exit_code == 0 and "was empty" in res.output
    res = CliRunner().invoke(app, ["--database-url", url, "db", "upgrade"])
    assert res.exit_code == 0 and "already current" in res.output
    res = CliRunner().invoke(app, ["--database-url", url, "records", "verify"])
    assert res.exit_code == 0 and "0 sealed records" in res.output


def test_audit_and_seal_chain_are_append_only(records_url):
    with connect(records_url) as conn:
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("UPDATE audit SET actor = 'someone else'")
        conn.rollback()
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("DELETE FROM seals")
        conn.rollback()


@pytest.mark.parametrize("table", ["inspections", "tasks", "complaints", "cases"])
def test_the_database_refuses_to_change_or_delete_a_sealed_row(records_url, table):
    with connect(records_url) as conn:
        sealed = conn.execute(f"SELECT id FROM {table} WHERE sealed_at IS NOT NULL LIMIT 1").fetchone()
        assert sealed, f"the history seals some {table}"
        with pytest.raises(psycopg.Error, match="sealed record") as err:
            conn.execute(f"UPDATE {table} SET updated_at = now() WHERE id = %s", (sealed["id"],))
        assert err.value.sqlstate == "GWS01"
        conn.rollback()
        with pytest.raises(psycopg.Error, match="sealed record"):
            conn.execute(f"DELETE FROM {table} WHERE id = %s", (sealed["id"],))
        conn.rollback()
        open_row = conn.execute(f"SELECT id FROM {table} WHERE sealed_at IS NULL LIMIT 1").fetchone()
        if open_row:   # an open record still changes
            conn.execute(f"UPDATE {table} SET updated_at = now() WHERE id = %s", (open_row["id"],))
            conn.commit()


def test_the_open_complaints_index_holds_the_open_states_and_serves_the_walls_layer(records_url):
    """Migration 0008's partial index: its states are casework.complaints.OPEN, and the wall's
    open-complaints query reads it (EXPLAIN) among 20,000 more closed complaints."""
    import re

    from casework import complaints as C
    from dashboard.wall_casework import OPEN_COMPLAINTS

    with connect(records_url) as conn:
        indexdef = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'complaints_open'").fetchone()["indexdef"]
        assert set(re.findall(r"'(\w+)'::text", indexdef)) == set(C.OPEN)
        conn.execute(
            "INSERT INTO complaints (id, query_code, channel, received_at, complainant_name, complainant_phone, "
            "category, description, state, accept_by, closed_at) "
            "SELECT 'X-' || g, 'QX' || g, channel, received_at, complainant_name, complainant_phone, category, "
            "description, 'closed', accept_by, received_at FROM complaints, generate_series(1, 20000) g "
            "WHERE id = (SELECT min(id) FROM complaints)")
        conn.execute("ANALYZE complaints")
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute("EXPLAIN " + OPEN_COMPLAINTS, {"n": 5000}))
        rows = conn.execute(OPEN_COMPLAINTS, {"n": 5000}).fetchall()
        located = conn.execute("SELECT count(*) AS n FROM complaints c LEFT JOIN entities e ON e.uscc = c.respondent_uscc "
                               "WHERE c.state = ANY(%s) AND coalesce(e.lat, c.lat) IS NOT NULL", (sorted(C.OPEN),)).fetchone()
    assert "complaints_open" in plan, plan
    assert sum(r["n"] for r in rows) == located["n"] > 0      # every open complaint with a point, counted once
