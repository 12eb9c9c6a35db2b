"""Accounts, sessions, tokens and login throttling against a real Redis."""
import pytest

from dashboard.auth import Accounts, AuthError, login_throttled, record_login_failure, LOGIN_MAX_FAILURES


def test_password_is_hashed_with_argon2_and_verifies(rdb):
    acc = Accounts(rdb)
    pw = acc.add("li", "coordinator", "s3cret-pass")
    assert pw == "s3cret-pass"
    stored = rdb.hget("gw:auth:users", "li")
    assert b"s3cret-pass" not in stored and b"$argon2" in stored
    assert acc.verify("li", "s3cret-pass").role == "coordinator"
    assert acc.verify("li", "wrong") is None
    assert acc.verify("nobody", "s3cret-pass") is None


def test_generated_password_when_none_given(rdb):
    acc = Accounts(rdb)
    pw = acc.add("wang", "viewer")
    assert len(pw) >= 12 and acc.verify("wang", pw) is not None


@pytest.mark.parametrize("name,role,person", [("x", "root", None), ("a b", "viewer", None), ("s", "supervisor", None)])
def test_bad_accounts_refused(rdb, name, role, person):
    with pytest.raises(AuthError):
        Accounts(rdb).add(name, role, "pw", person)


def test_session_cookie_round_trip_and_tamper(rdb):
    acc = Accounts(rdb)
    acc.add("zhao", "admin", "pw")
    cookie = acc.session_cookie(acc.get("zhao"))
    assert acc.user_of_session(cookie).name == "zhao"
    assert acc.user_of_session(cookie[:-2] + "xx") is None
    # A second process shares the signing key through Redis.
    assert Accounts(rdb).user_of_session(cookie).name == "zhao"


def test_bearer_token_stored_as_digest(rdb):
    acc = Accounts(rdb)
    acc.add("bot", "viewer", "pw")
    token = acc.new_token("bot")
    assert acc.user_of_token(token).name == "bot"
    assert token.encode() not in b"".join(rdb.hkeys("gw:auth:tokens"))
    assert acc.user_of_token(token + "x") is None
    with pytest.raises(AuthError):
        acc.new_token("ghost")


def test_login_throttle_after_repeated_failures(rdb):
    assert not login_throttled(rdb, "1.2.3.4", "li")
    for _ in range(LOGIN_MAX_FAILURES):
        record_login_failure(rdb, "1.2.3.4", "li")
    assert login_throttled(rdb, "1.2.3.4", "someone-else")
    assert login_throttled(rdb, "5.6.7.8", "li")
    assert not login_throttled(rdb, "5.6.7.8", "zhang")
    assert 0 < rdb.ttl("gw:auth:fail:ip:1.2.3.4") <= 300


def test_cli_device_secret_opens_http_ingest_for_that_device_only(rdb, redis_server):
    from typer.testing import CliRunner

    from dashboard.auth import device_secret_ok
    from gridwatch.cli import app

    res = CliRunner().invoke(app, ["--redis-url", redis_server.url, "users", "device-secret", "dev-7"])
    assert res.exit_code == 0, res.output
    secret = res.output.strip()
    assert device_secret_ok(rdb, "dev-7", secret)
    assert not device_secret_ok(rdb, "dev-8", secret) and not device_secret_ok(rdb, "dev-7", secret + "x")


def test_cli_users_add_and_token(rdb, redis_server):
    from typer.testing import CliRunner

    from gridwatch.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["--redis-url", redis_server.url, "users", "add", "ops", "--role", "coordinator"])
    assert res.exit_code == 0 and "password:" in res.output
    pw = res.output.rsplit("password:", 1)[1].strip()
    assert Accounts(rdb).verify("ops", pw).role == "coordinator"
    bad = runner.invoke(app, ["--redis-url", redis_server.url, "users", "add", "x", "--role", "root"])
    assert bad.exit_code == 2
    tok = runner.invoke(app, ["--redis-url", redis_server.url, "users", "token", "ops"]).output.strip()
    assert Accounts(rdb).user_of_token(tok).name == "ops"
