"""The records' schema: Alembic migrations under casework/migrations (SQL in casework/sql).
`upgrade(url)` is `gridwatch db upgrade` (idempotent); `require_current(url)` is what every
other command that uses the database asks first: a schema behind the code (an empty database
is behind) is refused with the command to run."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from gridwatch.db import SESSION_OPTIONS, DatabaseUnavailable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaBehind(RuntimeError):
    """The database's schema is older than the code's (or absent)."""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _engine(url: str):
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
    return create_engine(sa_url, poolclass=NullPool, connect_args={"options": SESSION_OPTIONS, "connect_timeout": 5})


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(url: str) -> str | None:
    import sqlalchemy.exc

    try:
        with _engine(url).connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sqlalchemy.exc.OperationalError as exc:
        raise DatabaseUnavailable(f"the records database is unavailable: {exc.orig}") from exc


def upgrade(url: str) -> tuple[str | None, str]:
    """Applies every migration not yet applied; returns (revision before, revision now)."""
    before = current(url)
    cfg = _config()
    with _engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head()


def require_current(url: str) -> None:
    now, want = current(url), head()
    if now != want:
        raise SchemaBehind(
            f"the records database is at schema {now or 'none (empty)'}, the code needs {want}: "
            "run `gridwatch db upgrade`")
