"""`gridwatch load` writes the register and the history into the records, and again changes
nothing; without a database it still loads the live store and says the records were skipped."""
from typer.testing import CliRunner

from gridwatch.cli import app
from gridwatch.db import connect
from tests.conftest import loaded


def test_load_writes_register_and_history_once(redis_server, db_url, records_dataset, tmp_path):
    args = ["--redis-url", redis_server.url, "--database-url", db_url, "--var-dir", str(tmp_path), "load",
            str(records_dataset)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "records:" in first.output and "entities_added" in first.output
    with connect(db_url) as conn:
        n = conn.execute("SELECT (SELECT count(*) FROM entities) e, (SELECT count(*) FROM inspections) i, "
                         "(SELECT count(*) FROM seals) s").fetchone()
    assert n["e"] > 60_000 and n["i"] > 1000 and n["s"] > 1000
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "history" in again.output
    with connect(db_url) as conn:
        m = conn.execute("SELECT (SELECT count(*) FROM entities) e, (SELECT count(*) FROM inspections) i, "
                         "(SELECT count(*) FROM seals) s").fetchone()
    assert m == n


def test_load_without_a_database_loads_the_live_store_only(redis_server, records_dataset, tmp_path):
    res = CliRunner().invoke(app, ["--redis-url", redis_server.url, "--var-dir", str(tmp_path), "load",
                                   str(records_dataset)])
    assert res.exit_code == 0 and "records: not written" in res.output


def test_reporter_accounts_act_for_assistants_and_informants(redis_server, records_dataset, tmp_path):
    import redis

    from geodata.store import save_dataset

    r = redis.Redis.from_url(redis_server.url)
    save_dataset(r, loaded(records_dataset))
    people = loaded(records_dataset).people
    informant = people[people["role"] == "informant"]["id"].iloc[0]
    supervisor = people[people["role"] == "l2_supervisor"]["id"].iloc[0]
    base = ["--redis-url", redis_server.url, "users", "add"]
    ok = CliRunner().invoke(app, base + ["rep-a", "--role", "reporter", "--person", informant])
    assert ok.exit_code == 0 and "password" in ok.output
    wrong = CliRunner().invoke(app, base + ["rep-b", "--role", "reporter", "--person", supervisor])
    assert wrong.exit_code == 2 and "assistant or informant" in wrong.output
    none = CliRunner().invoke(app, base + ["rep-c", "--role", "reporter"])
    assert none.exit_code == 2 and "--person" in none.output
