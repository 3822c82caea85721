"""The database behind the store: where it is (SQLite file or PostgreSQL URL), its schema
revisions (Alembic), the work queue with leases, and cross-node wake-ups (LISTEN/NOTIFY)."""
