"""The work queue in the database: one job row per task and kind (``company`` runs the task,
``transcribe`` turns its voice note into a transcript), claimed with a lease.

A claim takes the oldest queued jobs, or jobs whose lease has run out (their worker died), with
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (claimers never wait for each other or take
the same row) and under SQLite's single writer lock. The holder renews its lease while it works
and deletes the job when done; a new holder of an expired lease resumes the task from its
message log and LLM journal. Times come from the database's clock, so workers' clocks may
differ.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from company.message import utc_now
from company.store import Store

JobKind = Literal["company", "transcribe"]


class Job(BaseModel):
    """A claimed job."""

    id: int
    task_id: str
    kind: JobKind
    attempts: int


class JobQueue:
    """The ``jobs`` table of a store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.now = store.dialect.now

    def enqueue(self, task_id: str, kind: JobKind = "company") -> bool:
        """Queue a job for the task (none twice: False when one is already queued or held)."""
        changed = self.store.execute(
            "INSERT INTO jobs (task_id, kind, state, created_at) VALUES (?,?,'queued',?)"
            " ON CONFLICT (task_id, kind) DO NOTHING",
            (task_id, kind, utc_now().isoformat()),
        )
        return changed > 0

    def claim(self, owner: str, kinds: tuple[JobKind, ...], limit: int, lease_s: float
              ) -> list[Job]:
        """Take up to ``limit`` ready jobs of these kinds, oldest first, leased to ``owner``."""
        if limit <= 0 or not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        sql = (
            f"UPDATE jobs SET state='leased', lease_owner=?, lease_until={self.now} + ?,"
            " attempts=attempts+1 WHERE id IN (SELECT id FROM jobs WHERE"
            f" kind IN ({marks}) AND (state='queued' OR lease_until < {self.now})"
            f" ORDER BY id LIMIT ?{self.store.dialect.skip_locked})"
            " RETURNING id, task_id, kind, attempts")
        with self.store.transaction():
            rows = self.store.query(sql, (owner, lease_s, *kinds, limit))
        jobs = [Job(id=r[0], task_id=r[1], kind=r[2], attempts=r[3]) for r in rows]
        return sorted(jobs, key=lambda j: j.id)

    def renew(self, owner: str, job_ids: list[int], lease_s: float) -> set[int]:
        """Extend the leases ``owner`` holds; return the ids it no longer holds."""
        if not job_ids:
            return set()
        marks = ",".join("?" * len(job_ids))
        rows = self.store.query(
            f"UPDATE jobs SET lease_until={self.now} + ? WHERE lease_owner=? AND state='leased'"
            f" AND id IN ({marks}) RETURNING id", (lease_s, owner, *job_ids))
        return set(job_ids) - {int(r[0]) for r in rows}

    def finish(self, owner: str, job_id: int) -> bool:
        """Delete a job its holder has done (False: it was no longer the holder's)."""
        return self.store.execute("DELETE FROM jobs WHERE id=? AND lease_owner=?",
                                  (job_id, owner)) > 0

    def release(self, owner: str, job_id: int) -> bool:
        """Hand a held job back to the queue (a worker stopping)."""
        return self.store.execute(
            "UPDATE jobs SET state='queued', lease_owner=NULL, lease_until=NULL"
            " WHERE id=? AND lease_owner=?", (job_id, owner)) > 0

    def drop_queued(self, task_id: str, kind: JobKind = "company") -> bool:
        """Take a task's job out of the queue if nobody holds it (a cancel)."""
        return self.store.execute(
            f"DELETE FROM jobs WHERE task_id=? AND kind=? AND (state='queued' OR"
            f" lease_until < {self.now})", (task_id, kind)) > 0

    def state(self, task_id: str) -> Literal["queued", "leased"] | None:
        """Whether the task has a job waiting, one held by a live worker, or none."""
        rows = self.store.query(
            f"SELECT CASE WHEN state='leased' AND lease_until >= {self.now} THEN 'leased'"
            " ELSE 'queued' END FROM jobs WHERE task_id=? ORDER BY id", (task_id,))
        states = {r[0] for r in rows}
        if "leased" in states:
            return "leased"
        return "queued" if states else None

    def position(self, task_id: str) -> int | None:
        """1-based place of the task's waiting company job, or None."""
        rows = self.store.query(
            "SELECT COUNT(*) FROM jobs WHERE kind='company' AND state='queued' AND id <="
            " (SELECT id FROM jobs WHERE task_id=? AND kind='company' AND state='queued')",
            (task_id,))
        count = int(rows[0][0]) if rows else 0
        return count or None

    def counts(self) -> tuple[int, int]:
        """Jobs waiting and jobs held by live workers."""
        rows = self.store.query(
            f"SELECT COALESCE(SUM(CASE WHEN state='leased' AND lease_until >= {self.now}"
            " THEN 0 ELSE 1 END), 0), COALESCE(SUM(CASE WHEN state='leased' AND"
            f" lease_until >= {self.now} THEN 1 ELSE 0 END), 0) FROM jobs")
        return int(rows[0][0]), int(rows[0][1])
