"""A draw's tasks are made after the draw commits (`draws.tasks_made_at`, NULL while they are
being made): the draw (picks, inputs, hashes) is the legal record and is stored at once; its
one task per pick follows in a transaction of its own (casework/draw_store.make_tasks), by the
web process right after its answer, else by the dispatcher's periodic pass. Draws made before
this revision made their tasks in their own transaction: they count as made when drawn.

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the sealed draws refuse any UPDATE (trigger draws_sealed): the column is filled for the
    # unsealed ones, and the sealed ones' tasks were made with them (read as made: NULL with
    # sealed_at set is never pending, see draw_store.PENDING)
    op.execute("ALTER TABLE draws ADD COLUMN tasks_made_at timestamptz")
    op.execute("UPDATE draws SET tasks_made_at = created_at WHERE sealed_at IS NULL")
    op.execute("CREATE INDEX draws_tasks_pending ON draws (created_at) WHERE tasks_made_at IS NULL AND sealed_at IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX draws_tasks_pending")
    op.execute("ALTER TABLE draws DROP COLUMN tasks_made_at")
