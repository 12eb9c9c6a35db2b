"""Outages of the servers under the records: PostgreSQL killed (kill -9) mid-write leaves no
half record, the web answers 503 with a JSON reason while it is down and recovers by itself;
a Redis restart loses no record."""
import threading
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from casework import register
from gridwatch.db import DatabaseUnavailable, connect
from testkit.waiting import wait_for
from tests.conftest import loaded


@pytest.fixture
def demo_ds(demo_data):

    return loaded(demo_data)


def test_kill_9_mid_write_leaves_no_half_record(own_postgres, demo_ds):
    """The register's upsert of 70,000 entities and their audit entries is one transaction:
    killed in the middle, the restarted server has all of it or none."""
    errors = []

    def write():
        try:
            with connect(own_postgres.url) as conn:
                register.sync(conn, demo_ds, "load:test")
        except Exception as exc:  # noqa: BLE001 - the kill cuts it off
            errors.append(exc)

    t = threading.Thread(target=write)
    t.start()
    # kill while the transaction is under way (its temporary table exists)
    wait_for(lambda: psycopg.connect(own_postgres.url, autocommit=True).execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'INSERT INTO%%'").fetchone()[0] > 0
        or not t.is_alive(), timeout=60, what="the write to start")
    own_postgres.kill()
    t.join(30)
    own_postgres.start()
    with connect(own_postgres.url) as conn:
        n_ent = conn.execute("SELECT count(*) AS n FROM entities").fetchone()["n"]
        n_aud = conn.execute("SELECT count(*) AS n FROM audit WHERE record_type = 'entity'").fetchone()["n"]
    assert (n_ent, n_aud) in ((0, 0), (len(demo_ds.entities), len(demo_ds.entities)))
    assert errors or n_ent == len(demo_ds.entities)


def test_web_answers_503_while_the_database_is_down_and_recovers(own_postgres, demo_ds, settings, rdb, demo_data):
    from dashboard.auth import Accounts
    from dashboard.server import create_server
    from geodata.store import save_dataset

    save_dataset(rdb, demo_ds)
    with connect(own_postgres.url) as conn:
        register.sync(conn, demo_ds, "load:test")
    acc = Accounts(rdb)
    acc.add("viewer-x", "viewer", "pw")
    token = acc.new_token("viewer-x")
    web = create_server(settings.model_copy(update={"database_url": own_postgres.url}))
    auth = {"Authorization": f"Bearer {token}"}
    uscc = demo_ds.entities["uscc"].iloc[0]
    with TestClient(web) as client:
        public = "/api/public/complaints/AAAA-BBBB-CCCC?phone_last4=1234"   # its fast path's own pool
        assert client.get(f"/api/entities/{uscc}", headers=auth).status_code == 200
        assert client.get(public).status_code == 404
        own_postgres.kill()
        down = client.get(f"/api/entities/{uscc}", headers=auth)
        assert down.status_code == 503 and "unavailable" in down.json()["error"] and down.json()["detail"]
        down = client.get(public)
        assert down.status_code == 503 and "unavailable" in down.json()["error"] and down.json()["detail"]
        health = client.get("/api/health")
        assert health.status_code == 503 and health.json()["database"].startswith("down")
        assert client.get("/api/supervisors", headers=auth).status_code == 200   # the live wall goes on
        own_postgres.start()
        wait_for(lambda: client.get(f"/api/entities/{uscc}", headers=auth).status_code == 200, timeout=30,
                 what="the web to use the restarted database")
        assert client.get("/api/health").json()["database"] == "ok"
        assert client.get(public).status_code == 404          # a dropped connection is replaced, not reported
    web.state.ctx.close()


def test_a_redis_restart_loses_no_record(own_redis, records_url, demo_ds):
    import redis as redis_lib

    from geodata.store import save_dataset

    r = redis_lib.Redis.from_url(own_redis.url)
    save_dataset(r, demo_ds)
    with connect(records_url) as conn:
        before = conn.execute("SELECT (SELECT count(*) FROM inspections) i, (SELECT count(*) FROM seals) s, "
                              "(SELECT count(*) FROM audit) a").fetchone()
    r.flushall()           # the worst case: Redis comes back empty
    own_redis.kill()
    own_redis.start()
    with connect(records_url) as conn:
        after = conn.execute("SELECT (SELECT count(*) FROM inspections) i, (SELECT count(*) FROM seals) s, "
                             "(SELECT count(*) FROM audit) a").fetchone()
        from casework.seal import verify
        assert verify(conn).ok
    assert after == before and before["i"] > 0


def test_connect_to_a_stopped_server_is_database_unavailable(own_postgres):
    own_postgres.stop()
    with pytest.raises(DatabaseUnavailable, match="unavailable"):
        connect(own_postgres.url)
    own_postgres.start()
