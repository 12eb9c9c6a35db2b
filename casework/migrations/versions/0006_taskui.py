"""Indexes for the supervisor's open tasks and the dispatcher's passes (sql/0006_taskui.sql).

Revision ID: 0006
Revises: 0004
"""
from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parents[2] / "sql" / "0006_taskui.sql"


def upgrade() -> None:
    op.execute(SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("DROP INDEX tasks_level1_open; DROP INDEX tasks_assignee_open; DROP INDEX tasks_reporter_account; "
               " DROP INDEX tasks_assigned")
