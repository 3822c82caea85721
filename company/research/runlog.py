"""``runs.jsonl``: one metrics row per finished run, appended as runs finish (the resume log)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from company.research.errors import ResearchInputError
from company.research.metrics import RunRow

RUNS_FILE = "runs.jsonl"


class RunLog:
    """Appends rows durably; reads them back, dropping a line torn by a kill."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, RunRow]:
        """The finished runs by id (a torn last line is dropped and the file repaired)."""
        if not self.path.is_file():
            return {}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        rows: dict[str, RunRow] = {}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = RunRow.model_validate_json(line)
            except ValidationError as exc:
                if number == len(lines):
                    self.rewrite(rows.values())
                    break
                raise ResearchInputError(f"{self.path}:{number}: not a run row: {exc}") from None
            rows[row.run_id] = row
        return rows

    def append(self, row: RunRow) -> None:
        """Add one row and flush it to disk."""
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(row.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def rewrite(self, rows: Iterable[RunRow]) -> None:
        """Replace the file with these rows, atomically."""
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8")
        os.replace(tmp, self.path)
