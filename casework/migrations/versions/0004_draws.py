"""The draws' stored inputs, commitments, conflicts and the draw tasks' columns (sql/0004_draws.sql).

Revision ID: 0004
Revises: 0002
"""
from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parents[2] / "sql" / "0004_draws.sql"


def upgrade() -> None:
    op.execute(SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("DROP INDEX draws_replaces; DROP INDEX tasks_draw; "
               "ALTER TABLE tasks DROP COLUMN checklist, DROP COLUMN team, DROP COLUMN draw; "
               "DROP TABLE draw_commitments; DROP TABLE draw_inputs; "
               "ALTER TABLE draws DROP COLUMN cap, DROP COLUMN inputs_hash; DROP TABLE conflicts")
