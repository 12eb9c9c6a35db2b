"""Statistics rollups by grid and by category, kept current by statement-level triggers
(sql/0007_stats.sql, docs/statistics.md).

Revision ID: 0007
Revises: 0006
"""
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parents[2] / "sql" / "0007_stats.sql"


def upgrade() -> None:
    op.execute(SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    for t in ("inspections", "tasks", "complaints", "cases"):
        for op_ in ("ins", "upd", "del"):
            op.execute(f"DROP TRIGGER {t}_stats_{op_} ON {t}")
    for op_ in ("ins", "upd", "del"):
        op.execute(f"DROP TRIGGER entities_stats_{op_} ON entities")
    op.execute("DROP FUNCTION gw_stats_rebuild(); DROP FUNCTION gw_stats_entities_trigger(); "
               "DROP FUNCTION gw_stats_entities_sql(text); DROP FUNCTION gw_stats_trigger(); "
               "DROP FUNCTION gw_stats_add_sql(text); DROP FUNCTION gw_stats_source(text, text); "
               "DROP TABLE stats_grid, stats_category, stats_entities, stats_config")
