"""Persistence on SQLite (the embedded default) or PostgreSQL (shared by API nodes and workers):
tasks, the message log, role cursors, events, LLM calls, usage, the notebook (ideas and action
items; the older ``ideas`` table stays readable), conversation summaries. The schema and its
revisions live in ``company.db``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from company.db.backend import connect
from company.db.target import DatabaseTarget, parse_target
from company.events import Event
from company.message import Message, utc_now
from company.status import TaskStatus

NOTE_COLUMNS = ("id", "kind", "text", "priority", "status", "tags", "source", "task_id",
                "message_id", "mentions", "search", "created_at", "updated_at")
"""The notebook table's columns, in order (``tags`` is a JSON list; ``search`` the normalised
text, source and tags that searches read)."""
_NOTE_WRITABLE = frozenset(NOTE_COLUMNS) - {"id"}

_HEADS_SQLITE = (
    "SELECT seq, id, cause_by, sent_from, json_extract(body, '$.send_to'),"
    " json_extract(body, '$.created_at'), substr(json_extract(body, '$.content'), 1, ?),"
    " length(json_extract(body, '$.content')), CASE WHEN"
    " length(json_extract(body, '$.payload')) <= ? THEN json_extract(body, '$.payload')"
    " END, length(json_extract(body, '$.payload'))"
    " FROM messages WHERE task_id=? ORDER BY seq")
_HEADS_POSTGRES = (  # json (not jsonb) keeps each value's text as stored, like json_extract
    "SELECT seq, id, cause_by, sent_from, (b->'send_to')::text, b->>'created_at',"
    " substr(b->>'content', 1, ?), length(b->>'content'),"
    " CASE WHEN length(p) <= ? THEN p END, length(p)"
    " FROM (SELECT seq, id, cause_by, sent_from, body::json AS b,"
    " NULLIF((body::json->'payload')::text, 'null') AS p"
    " FROM messages WHERE task_id=?) AS m ORDER BY seq")
"""A task's message previews: the values are cut in the database (the bodies stay there)."""

_BRIEF_COLUMNS = ("id, request, sop_name, '' AS sop_text, llm_spec, options, status, error,"
                  " NULL AS report, rounds, created_at, updated_at")


class TaskRecord(BaseModel):
    """A task as stored."""

    id: str
    request: str
    sop_name: str
    sop_text: str
    llm_spec: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    status: TaskStatus
    error: str | None = None
    report: str | None = None
    rounds: int = 0
    created_at: str
    updated_at: str


class UsageRow(BaseModel):
    """LLM usage of one role with one model in one task."""

    role: str
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class MessageHead(BaseModel):
    """A message as listed: its content cut to a preview, its payload only when small, and the
    full sizes (characters) of both."""

    id: str
    seq: int
    cause_by: str
    sent_from: str
    send_to: list[str]
    created_at: str
    content: str
    content_chars: int
    payload: dict[str, Any] | None = None
    payload_chars: int | None = None


class HistorySummary(BaseModel):
    """A summary of a task's conversation: turns 1 to ``last_turn``, the last of them ending
    with message ``last_seq`` (actions/conversation.py)."""

    task_id: str
    last_turn: int
    last_seq: int
    text: str
    created_at: str


class StoredCall(BaseModel):
    """A recorded LLM answer."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    model: str


class Store:
    """One database (a SQLite file in WAL mode, or PostgreSQL), safe to share between threads
    and tasks. ``location``: a path, ``sqlite:///path``, ``:memory:`` or
    ``postgresql://user:pw@host:5432/db``; a schema this code does not know raises
    ``company.db.schema.SchemaError`` naming ``python startup.py db upgrade``."""

    def __init__(self, location: str | Path | DatabaseTarget) -> None:
        self.target = location if isinstance(location, DatabaseTarget) else parse_target(
            location)
        self.path = self.target.describe()
        self._lock = threading.RLock()
        self._conn = connect(self.target)
        self.dialect = self._conn.dialect
        self.errors = self._conn.errors
        """The exceptions a failing database raises (``sqlite3.Error`` or ``psycopg.Error``)."""
        self._in_tx = 0

    @property
    def shared(self) -> bool:
        """True on PostgreSQL: other machines' processes use the same database."""
        return self.target.shared

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one atomic transaction (nests)."""
        with self._lock:
            if self._in_tx == 0:
                self._exec(self.dialect.begin)
            self._in_tx += 1
            try:
                yield
            except BaseException:
                self._in_tx -= 1
                if self._in_tx == 0:
                    self._conn.execute("ROLLBACK")
                raise
            self._in_tx -= 1
            if self._in_tx == 0:
                self._conn.execute("COMMIT")

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except self.errors:
                if self._in_tx or not getattr(self._conn, "broken", False):
                    raise
                self._conn.reconnect()  # type: ignore[union-attr]  # PostgreSQL restarted
                return self._conn.execute(sql, params)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._exec(sql, params).fetchall())

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement written with ``?`` placeholders; return the rows it changed (for
        the store's companion modules: the work queue, uploads)."""
        with self._lock:
            return int(self._exec(sql, params).rowcount)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement written with ``?`` placeholders."""
        return self._rows(sql, params)

    def writable(self) -> bool:
        """True when a write goes through."""
        with self._lock:
            if self._in_tx:
                return True
            return self._conn.writable()

    def integrity(self) -> str:
        """``ok``, or the database's first complaint (SQLite: ``PRAGMA quick_check``)."""
        with self._lock:
            return self._conn.integrity()

    # tasks -------------------------------------------------------------
    def create_task(
        self,
        task_id: str,
        request: str,
        sop_name: str,
        sop_text: str,
        *,
        llm_spec: str = "",
        options: dict[str, Any] | None = None,
        status: TaskStatus = TaskStatus.QUEUED,
    ) -> TaskRecord:
        """Insert a new task (``queued`` unless told otherwise)."""
        status = TaskStatus.parse(status)
        now = utc_now().isoformat()
        self._exec(
            "INSERT INTO tasks (id, request, sop_name, sop_text, llm_spec, options, status,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (task_id, request, sop_name, sop_text, llm_spec, json.dumps(options or {}),
             status.value, now, now),
        )
        task = self.get_task(task_id)
        assert task is not None
        return task

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The stored task, or None."""
        rows = self._rows("SELECT * FROM tasks WHERE id=?", (task_id,))
        return self._task(rows[0]) if rows else None

    def list_tasks(
        self, *, limit: int = 50, offset: int = 0, status: TaskStatus | None = None,
        brief: bool = False,
    ) -> list[TaskRecord]:
        """Tasks, newest first, all or those with one status (``brief``: without their report
        and SOP text)."""
        where, params = (("WHERE status=?", (TaskStatus.parse(status).value,)) if status
                         else ("", ()))
        columns = _BRIEF_COLUMNS if brief else "*"
        tie = "rowid" if self.dialect.name == "sqlite" else "id"
        rows = self._rows(
            f"SELECT {columns} FROM tasks {where} ORDER BY created_at DESC, {tie} DESC"
            " LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self._task(r) for r in rows]

    def count_tasks(self) -> int:
        """How many tasks are stored."""
        return int(self._rows("SELECT COUNT(*) FROM tasks")[0][0])

    def update_task(self, task_id: str, *, status: TaskStatus | None = None, **fields: Any
                    ) -> None:
        """Change some columns of a task (a status must be a TaskStatus or one's value; the
        moves the runtime makes are listed in ``company.status.TRANSITIONS``)."""
        if status is not None:
            fields["status"] = TaskStatus.parse(status).value
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"])
        fields["updated_at"] = utc_now().isoformat()
        cols = ", ".join(f"{k}=?" for k in fields)
        self._exec(f"UPDATE tasks SET {cols} WHERE id=?", (*fields.values(), task_id))

    def _task(self, row: tuple[Any, ...]) -> TaskRecord:
        keys = ("id", "request", "sop_name", "sop_text", "llm_spec", "options", "status",
                "error", "report", "rounds", "created_at", "updated_at")
        data = dict(zip(keys, row, strict=True))
        data["options"] = json.loads(data["options"] or "{}")
        return TaskRecord.model_validate(data)

    # messages ----------------------------------------------------------
    def append_message(self, message: Message) -> None:
        """Write one message to the append-only log."""
        self._exec(
            "INSERT INTO messages (task_id, seq, id, cause_by, sent_from, body)"
            " VALUES (?,?,?,?,?,?)",
            (message.task_id, message.seq, message.id, message.cause_by, message.sent_from,
             message.to_json()),
        )

    def messages(self, task_id: str, after_seq: int = 0) -> list[Message]:
        """A task's messages in order."""
        rows = self._rows(
            "SELECT body FROM messages WHERE task_id=? AND seq>? ORDER BY seq", (task_id, after_seq)
        )
        return [Message.from_json(r[0]) for r in rows]

    def message(self, task_id: str, seq: int) -> Message | None:
        """One message of a task, or None."""
        rows = self._rows("SELECT body FROM messages WHERE task_id=? AND seq=?", (task_id, seq))
        return Message.from_json(rows[0][0]) if rows else None

    def message_heads(self, task_id: str, max_chars: int, max_payload_chars: int
                      ) -> list[MessageHead]:
        """A task's messages in order, reading only what a preview shows: the content's first
        ``max_chars`` characters, and the payload when its JSON has at most
        ``max_payload_chars`` (SQLite cuts the values; the full bodies never reach Python)."""
        sql = _HEADS_SQLITE if self.dialect.name == "sqlite" else _HEADS_POSTGRES
        rows = self._rows(sql, (max_chars, max_payload_chars, task_id))
        return [MessageHead(seq=seq, id=mid, cause_by=cause, sent_from=sender,
                            send_to=json.loads(send_to or "[]"), created_at=created or "",
                            content=content or "", content_chars=content_chars or 0,
                            payload=json.loads(payload) if payload is not None else None,
                            payload_chars=payload_chars)
                for (seq, mid, cause, sender, send_to, created, content, content_chars, payload,
                     payload_chars) in rows]

    def last_message_seq(self, task_id: str) -> int:
        """The highest message seq of a task (0 when none)."""
        row = self._rows("SELECT MAX(seq) FROM messages WHERE task_id=?", (task_id,))[0]
        return int(row[0] or 0)

    # role state --------------------------------------------------------
    def save_role_state(self, task_id: str, role: str, watch: list[str], cursor: int) -> None:
        """Remember a role's watch set and how far it has read the log."""
        self._exec(
            "INSERT INTO role_state (task_id, role, watch, cursor) VALUES (?,?,?,?)"
            " ON CONFLICT(task_id, role) DO UPDATE SET watch=excluded.watch,"
            " cursor=excluded.cursor",
            (task_id, role, json.dumps(sorted(watch)), cursor),
        )

    def role_states(self, task_id: str) -> dict[str, tuple[list[str], int]]:
        """Each role's saved watch set and cursor."""
        rows = self._rows("SELECT role, watch, cursor FROM role_state WHERE task_id=?", (task_id,))
        return {r[0]: (json.loads(r[1]), int(r[2])) for r in rows}

    # events ------------------------------------------------------------
    def append_event(self, event: Event) -> None:
        """Persist one event of a task's stream."""
        self._exec(
            "INSERT INTO events (task_id, seq, kind, body) VALUES (?,?,?,?) ON CONFLICT"
            " (task_id, seq) DO UPDATE SET kind=excluded.kind, body=excluded.body",
            (event.task_id, event.seq, event.kind.value, event.model_dump_json()),
        )

    def events(self, task_id: str, after_seq: int = 0) -> list[Event]:
        """A task's stored events in order."""
        rows = self._rows(
            "SELECT body FROM events WHERE task_id=? AND seq>? ORDER BY seq", (task_id, after_seq)
        )
        return [Event.model_validate_json(r[0]) for r in rows]

    def last_event_seq(self, task_id: str) -> int:
        """The highest event seq of a task (0 when none)."""
        row = self._rows("SELECT MAX(seq) FROM events WHERE task_id=?", (task_id,))[0]
        return int(row[0] or 0)

    # LLM calls ---------------------------------------------------------
    def get_call(self, namespace: str, key: str, occurrence: int) -> StoredCall | None:
        """A recorded LLM answer, or None."""
        rows = self._rows(
            "SELECT content, prompt_tokens, completion_tokens, model FROM llm_calls"
            " WHERE namespace=? AND key=? AND occurrence=?",
            (namespace, key, occurrence),
        )
        if not rows:
            return None
        content, prompt_tokens, completion_tokens, model = rows[0]
        return StoredCall(content=content, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, model=model)

    def put_call(self, namespace: str, key: str, occurrence: int, call: StoredCall) -> None:
        """Record an LLM answer."""
        self._exec(
            "INSERT INTO llm_calls (namespace, key, occurrence, content, prompt_tokens,"
            " completion_tokens, model, created_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT"
            " (namespace, key, occurrence) DO UPDATE SET content=excluded.content,"
            " prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens,"
            " model=excluded.model, created_at=excluded.created_at",
            (namespace, key, occurrence, call.content, call.prompt_tokens, call.completion_tokens,
             call.model, utc_now().isoformat()),
        )

    def calls(self, namespace_prefix: str) -> list[tuple[str, str, int, StoredCall]]:
        """Every recorded call whose namespace starts with the prefix."""
        rows = self._rows(
            "SELECT namespace, key, occurrence, content, prompt_tokens, completion_tokens, model"
            " FROM llm_calls WHERE substr(namespace, 1, ?) = ? ORDER BY namespace, key, occurrence",
            (len(namespace_prefix), namespace_prefix),
        )
        return [(ns, key, occ, StoredCall(content=c, prompt_tokens=p, completion_tokens=k,
                                          model=m))
                for ns, key, occ, c, p, k, m in rows]

    def count_calls(self, namespace_prefix: str) -> int:
        """How many recorded calls have a namespace starting with the prefix."""
        row = self._rows("SELECT COUNT(*) FROM llm_calls WHERE substr(namespace, 1, ?) = ?",
                         (len(namespace_prefix), namespace_prefix))[0]
        return int(row[0])

    # usage -------------------------------------------------------------
    def add_usage(
        self, task_id: str, role: str, model: str, prompt_tokens: int, completion_tokens: int,
        cost: float,
    ) -> None:
        """Add one LLM call to a task's usage totals."""
        self._exec(
            "INSERT INTO usage (task_id, role, model, calls, prompt_tokens, completion_tokens,"
            " cost) VALUES (?,?,?,1,?,?,?) ON CONFLICT(task_id, role, model) DO UPDATE SET"
            " calls=usage.calls+1, prompt_tokens=usage.prompt_tokens+excluded.prompt_tokens,"
            " completion_tokens=usage.completion_tokens+excluded.completion_tokens,"
            " cost=usage.cost+excluded.cost",
            (task_id, role, model, prompt_tokens, completion_tokens, cost),
        )

    def usage(self, task_id: str) -> list[UsageRow]:
        """A task's usage per role and model."""
        rows = self._rows(
            "SELECT role, model, calls, prompt_tokens, completion_tokens, cost FROM usage"
            " WHERE task_id=? ORDER BY role, model",
            (task_id,),
        )
        keys = ("role", "model", "calls", "prompt_tokens", "completion_tokens", "cost")
        return [UsageRow.model_validate(dict(zip(keys, r, strict=True))) for r in rows]

    # ideas -------------------------------------------------------------
    def add_idea(self, task_id: str, message_id: str, text: str, priority: str) -> None:
        """Remember an idea (once per message and text)."""
        self._exec(
            "INSERT INTO ideas (task_id, message_id, text, priority, created_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            (task_id, message_id, text, priority, utc_now().isoformat()),
        )

    def ideas(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """Stored ideas, of one task or all, oldest first."""
        where, params = ("WHERE task_id=?", (task_id,)) if task_id else ("", ())
        rows = self._rows(
            "SELECT task_id, message_id, text, priority, created_at FROM ideas"
            f" {where} ORDER BY id",
            params,
        )
        keys = ("task_id", "message_id", "text", "priority", "created_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # notebook ----------------------------------------------------------
    def insert_note(self, values: dict[str, Any]) -> int:
        """Insert a notebook row (``tags`` a list) and return its id."""
        row = self._note_values(values)
        cols = ", ".join(row)
        marks = ",".join("?" * len(row))
        rows = self._rows(f"INSERT INTO notebook ({cols}) VALUES ({marks}) RETURNING id",
                          tuple(row.values()))
        return int(rows[0][0])

    def update_note(self, note_id: int, values: dict[str, Any]) -> None:
        """Change some columns of a notebook row."""
        row = self._note_values(values)
        cols = ", ".join(f"{k}=?" for k in row)
        self._exec(f"UPDATE notebook SET {cols} WHERE id=?", (*row.values(), note_id))

    def note(self, note_id: int) -> dict[str, Any] | None:
        """One notebook row, or None."""
        rows = self._rows(f"SELECT {', '.join(NOTE_COLUMNS)} FROM notebook WHERE id=?",
                          (note_id,))
        return self._note(rows[0]) if rows else None

    def find_notes(
        self, *, kinds: tuple[str, ...] = (), statuses: tuple[str, ...] = (),
        words: tuple[str, ...] = (), tag: str | None = None, limit: int = 50, offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Notebook rows, most recently updated first: of these kinds and statuses (any when
        empty), whose ``search`` column holds every one of ``words`` (as literal text: LIKE
        wildcards are escaped), carrying ``tag``."""
        where, params = self._note_filter(kinds, statuses, words, tag)
        rows = self._rows(
            f"SELECT {', '.join(NOTE_COLUMNS)} FROM notebook {where}"
            " ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self._note(r) for r in rows]

    def count_notes(self, *, kinds: tuple[str, ...] = (), statuses: tuple[str, ...] = (),
                    words: tuple[str, ...] = (), tag: str | None = None) -> int:
        """How many notebook rows ``find_notes`` would give without a limit."""
        where, params = self._note_filter(kinds, statuses, words, tag)
        return int(self._rows(f"SELECT COUNT(*) FROM notebook {where}", params)[0][0])

    def _note_filter(self, kinds: tuple[str, ...], statuses: tuple[str, ...],
                     words: tuple[str, ...], tag: str | None) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("kind", kinds), ("status", statuses)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params += values
        for word in words:
            clauses.append("search LIKE ? ESCAPE '\\'")
            params.append("%" + like_literal(word) + "%")
        if tag is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(notebook.tags) WHERE value = ?)"
                           if self.dialect.name == "sqlite" else
                           "EXISTS (SELECT 1 FROM json_array_elements_text(notebook.tags::json)"
                           " AS t(value) WHERE t.value = ?)")
            params.append(tag)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    @staticmethod
    def _note_values(values: dict[str, Any]) -> dict[str, Any]:
        unknown = set(values) - _NOTE_WRITABLE
        if unknown:
            raise ValueError(f"not notebook columns: {', '.join(sorted(unknown))}")
        row = dict(values)
        if "tags" in row:
            row["tags"] = json.dumps(list(row["tags"]), ensure_ascii=False)
        return row

    @staticmethod
    def _note(row: tuple[Any, ...]) -> dict[str, Any]:
        data = dict(zip(NOTE_COLUMNS, row, strict=True))
        data["tags"] = json.loads(data["tags"] or "[]")
        return data

    # conversation summaries --------------------------------------------
    def save_summary(self, task_id: str, last_turn: int, last_seq: int, text: str) -> None:
        """Keep the summary of a task's turns 1 to ``last_turn`` (replacing an older one)."""
        self._exec(
            "INSERT INTO summaries (task_id, last_turn, last_seq, text, created_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (task_id, last_turn) DO UPDATE SET"
            " last_seq=excluded.last_seq, text=excluded.text, created_at=excluded.created_at",
            (task_id, last_turn, last_seq, text, utc_now().isoformat()),
        )

    def summaries(self, task_id: str) -> list[HistorySummary]:
        """A task's conversation summaries, by the last turn they cover."""
        rows = self._rows(
            "SELECT task_id, last_turn, last_seq, text, created_at FROM summaries"
            " WHERE task_id=? ORDER BY last_turn", (task_id,))
        keys = ("task_id", "last_turn", "last_seq", "text", "created_at")
        return [HistorySummary.model_validate(dict(zip(keys, r, strict=True))) for r in rows]

    # graph executions --------------------------------------------------
    def record_execution(
        self, task_id: str, step_key: str, where_run: str, graph_id: str, execution_id: str
    ) -> None:
        """Remember a remote graph execution before polling it."""
        self._exec(
            "INSERT INTO graph_executions (task_id, step_key, where_run, graph_id,"
            " execution_id, created_at) VALUES (?,?,?,?,?,?) ON CONFLICT (task_id, step_key)"
            " DO UPDATE SET where_run=excluded.where_run, graph_id=excluded.graph_id,"
            " execution_id=excluded.execution_id, created_at=excluded.created_at",
            (task_id, step_key, where_run, graph_id, execution_id, utc_now().isoformat()),
        )

    def recorded_execution(self, task_id: str, step_key: str) -> str | None:
        """The execution id recorded for a step, if any."""
        rows = self._rows(
            "SELECT execution_id FROM graph_executions WHERE task_id=? AND step_key=?",
            (task_id, step_key),
        )
        return rows[0][0] if rows else None


def like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with ``ESCAPE '\\'``: its ``%``, ``_`` and ``\\`` match
    themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
