"""PostgreSQL connections for the bureau's records (GRIDWATCH_DATABASE_URL). Every process
makes its connections here: sessions run in UTC (so timestamps read back the same wherever the
server stands; the bureau's day is applied where dates are shown), and an unreachable server is
one error type, `DatabaseUnavailable`, that the web answers with 503."""
from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

CONNECT_TIMEOUT_S = 5
# libpq options every session gets: UTC (timestamps read back the same wherever the server is).
SESSION_OPTIONS = "-c timezone=UTC"
# The web's sessions also give up on a statement that hangs (a lock held by a dead client)
# instead of holding a worker for ever; batch commands (load, verify) run as long as they need.
WEB_OPTIONS = SESSION_OPTIONS + " -c statement_timeout=30000"


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached (down, restarting, refusing connections)."""


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """One connection with dict rows; raises DatabaseUnavailable when the server is not there."""
    try:
        return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row,
                               connect_timeout=CONNECT_TIMEOUT_S, options=SESSION_OPTIONS)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(_reason(exc)) from exc


def pool(url: str, *, max_size: int = 8) -> ConnectionPool:
    """A pool for a long-running process (the web). Connections are checked before use, so a
    restarted server is picked up again without restarting the process."""
    return ConnectionPool(
        url, min_size=0, max_size=max_size, open=True, timeout=CONNECT_TIMEOUT_S,
        kwargs={"row_factory": dict_row, "options": WEB_OPTIONS, "connect_timeout": CONNECT_TIMEOUT_S},
        check=ConnectionPool.check_connection, reconnect_timeout=0,
    )


# What a database outage raises before `unavailable` names it: catch these, then re-raise what
# `unavailable` does not call an outage (a cancelled statement), so real bugs are never hidden.
OUTAGE_ERRORS = (DatabaseUnavailable, psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The DatabaseUnavailable an exception amounts to, or None when it is something else
    (a constraint, a bad query). A connection lost mid-query and a pool that cannot get a
    connection both mean the server is not there."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable("no database connection could be had (the server is down or busy)")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
            exc, psycopg.errors.QueryCanceled):
        return DatabaseUnavailable(_reason(exc))
    return None


def unless_down(fn, *args):
    """`fn(*args)`, or None while the records database is unavailable (not configured, down,
    no connection to be had): for a page's panel that says so and goes on. Anything else is a
    bug and raises."""
    try:
        return fn(*args)
    except OUTAGE_ERRORS as exc:
        if unavailable(exc) is None:     # a cancelled statement: not an outage
            raise
        return None


def _reason(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the records database is unavailable: {first}"
