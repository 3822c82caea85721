"""The schema's SQL, per revision and per dialect: what the Alembic revisions execute, and
what a new SQLite file gets at once (the same statements, in order)."""

from __future__ import annotations

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

_BASELINE_COMMON = [
    """CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    sop_name TEXT NOT NULL,
    sop_text TEXT NOT NULL,
    llm_spec TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    error TEXT,
    report TEXT,
    rounds INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status, created_at)",
    """CREATE TABLE IF NOT EXISTS messages (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    cause_by TEXT NOT NULL,
    sent_from TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
)""",
    """CREATE TABLE IF NOT EXISTS role_state (
    task_id TEXT NOT NULL,
    role TEXT NOT NULL,
    watch TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    PRIMARY KEY (task_id, role)
)""",
    """CREATE TABLE IF NOT EXISTS events (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
)""",
    """CREATE TABLE IF NOT EXISTS llm_calls (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    content TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    model TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (namespace, key, occurrence)
)""",
    """CREATE TABLE IF NOT EXISTS usage (
    task_id TEXT NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost {REAL} NOT NULL,
    PRIMARY KEY (task_id, role, model)
)""",
    """CREATE TABLE IF NOT EXISTS ideas (
    id {SERIAL},
    task_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    text TEXT NOT NULL,
    priority TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (message_id, text)
)""",
    """CREATE TABLE IF NOT EXISTS notebook (
    id {SERIAL},
    kind TEXT NOT NULL CHECK (kind IN ('idea', 'item')),
    text TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    source TEXT NOT NULL DEFAULT '',
    task_id TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    mentions INTEGER NOT NULL DEFAULT 1,
    search TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS notebook_by_kind ON notebook(kind, status, updated_at)",
    "CREATE INDEX IF NOT EXISTS notebook_by_update ON notebook(updated_at)",
    """CREATE TABLE IF NOT EXISTS summaries (
    task_id TEXT NOT NULL,
    last_turn INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, last_turn)
)""",
    """CREATE TABLE IF NOT EXISTS graph_executions (
    task_id TEXT NOT NULL,
    step_key TEXT NOT NULL,
    where_run TEXT NOT NULL,
    graph_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, step_key)
)""",
]

_QUEUE_COMMON = [
    """CREATE TABLE IF NOT EXISTS jobs (
    id {SERIAL},
    task_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('company', 'transcribe')),
    state TEXT NOT NULL CHECK (state IN ('queued', 'leased')),
    lease_owner TEXT,
    lease_until {REAL},
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (task_id, kind)
)""",
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(kind, state, id)",
    """CREATE TABLE IF NOT EXISTS blobs (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    filename TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL,
    data {BLOB} NOT NULL,
    created_at TEXT NOT NULL,
    expires_at {REAL}
)""",
    "CREATE INDEX IF NOT EXISTS blobs_by_expiry ON blobs(expires_at)",
    """CREATE TABLE IF NOT EXISTS transcripts (
    blob_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
)""",
]

_PG_NOTIFY = [
    """CREATE OR REPLACE FUNCTION company_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('company_events', NEW.task_id || ':' || NEW.seq);
    RETURN NULL;
END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS events_notify ON events",
    """CREATE TRIGGER events_notify AFTER INSERT OR UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION company_event_notify()""",
    """CREATE OR REPLACE FUNCTION company_job_notify() RETURNS trigger AS $$
BEGIN
    IF NEW.state = 'queued' THEN
        PERFORM pg_notify('company_jobs', NEW.kind);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS jobs_notify ON jobs",
    """CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION company_job_notify()""",
]

_TYPES = {
    SQLITE: {"REAL": "REAL", "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB": "BLOB"},
    POSTGRESQL: {"REAL": "DOUBLE PRECISION",
                 "SERIAL": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                 "BLOB": "BYTEA"},
}


def _typed(statements: list[str], dialect: str) -> list[str]:
    types = _TYPES[dialect]
    return [s.replace("{REAL}", types["REAL"]).replace("{SERIAL}", types["SERIAL"])
            .replace("{BLOB}", types["BLOB"]) for s in statements]


def baseline(dialect: str) -> list[str]:
    """Revision 0001: the schema as it was before migrations (an existing SQLite file has it)."""
    return _typed(_BASELINE_COMMON, dialect)


def queue(dialect: str) -> list[str]:
    """Revision 0002: the work queue (jobs with leases), uploaded audio and stored transcripts,
    and on PostgreSQL the NOTIFY triggers that wake API nodes and workers."""
    extra = _PG_NOTIFY if dialect == POSTGRESQL else []
    return _typed(_QUEUE_COMMON, dialect) + extra


REVISIONS: tuple[tuple[str, object], ...] = (("0001_baseline", baseline), ("0002_queue", queue))
"""Every revision, oldest first, with the function giving its statements."""
HEAD = REVISIONS[-1][0]
"""The revision this code reads and writes."""


def head_statements(dialect: str) -> list[str]:
    """Every revision's statements in order: a new database at ``HEAD``."""
    out: list[str] = []
    for _, statements in REVISIONS:
        out += statements(dialect)  # type: ignore[operator]
    return out
