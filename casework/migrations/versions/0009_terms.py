"""The agreement's terms on the complaint (`terms`, set by the `agree` action; before this only
in the audit note of that step). Complaints agreed earlier keep their terms in the audit trail
only: a sealed row never changes, and the old notes join the terms with other text.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE complaints ADD COLUMN terms text")


def downgrade() -> None:
    op.execute("ALTER TABLE complaints DROP COLUMN terms")
