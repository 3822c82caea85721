"""The schema as it was before migrations: tasks, messages, cursors, events, the LLM journal,
usage, ideas, the notebook, summaries and graph executions (an existing SQLite file already
has it: every statement is ``IF NOT EXISTS``, so the file is stamped and kept).

Revision ID: 0001_baseline
Revises:
"""

from alembic import op

from company.db.ddl import baseline

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the baseline tables."""
    bind = op.get_bind()
    for statement in baseline(bind.dialect.name):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    """Revisions are not undone; restore a backup instead."""
    raise NotImplementedError("restore a backup to go back")
