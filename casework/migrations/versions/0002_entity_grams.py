"""Entity search by any part of the name through its characters and pairs (sql/0002_entity_grams.sql).

Revision ID: 0002
Revises: 0001
"""
from pathlib import Path

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parents[2] / "sql" / "0002_entity_grams.sql"


def upgrade() -> None:
    op.execute(SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute("DROP INDEX entities_name_order; DROP INDEX entities_name_grams; "
               "ALTER TABLE entities DROP COLUMN name_grams; DROP FUNCTION gw_grams(text); "
               "CREATE INDEX entities_name_trgm ON entities USING gin (name gin_trgm_ops)")
