"""The work queue (jobs with leases), uploaded audio (blobs) and stored transcripts; on
PostgreSQL, NOTIFY triggers on events and jobs.

Revision ID: 0002_queue
Revises: 0001_baseline
"""

from alembic import op

from company.db.ddl import queue

revision = "0002_queue"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the queue, blob and transcript tables."""
    bind = op.get_bind()
    for statement in queue(bind.dialect.name):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    """Revisions are not undone; restore a backup instead."""
    raise NotImplementedError("restore a backup to go back")
