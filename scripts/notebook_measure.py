#!/usr/bin/env python
"""What the notebook would keep from finished eval runs: each run's stored analysis replayed,
in run order, into one fresh notebook (research runs leave the Boss's notebook alone).

Prints a table per eval folder: requests, requests that proposed items, items proposed and
stored (grounded in the request's words), items merged into an earlier one, ideas kept (the
analysis already dropped the ungrounded ones: counted too, from the run's events where the
model's raw answer is not stored, so only kept ideas are counted), and notes per request.

    scripts/notebook_measure.py workspace/eval/final33-1.5b workspace/eval/final17-1.5b
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SWEEP_DB = "sweep.db"
REQUEST_CAUSES = ("UserRequirement", "Transcribe")


class NotebookFigures(BaseModel):
    """What replaying a set of analyses into one notebook kept."""

    requests: int = 0
    requests_with_items: int = 0
    items_proposed: int = 0
    items_stored: int = 0
    items_merged: int = 0
    items_ungrounded: int = 0
    ideas_stored: int = 0
    ideas_merged: int = 0
    notes_in_notebook: int = 0

    def per_request(self) -> float:
        """Notes kept in the notebook per request."""
        return self.notes_in_notebook / self.requests if self.requests else 0.0


def replay(folders: list[Path]) -> NotebookFigures:
    """Replay every analysis of the runs in ``folders`` (in task order) into a fresh notebook."""
    from company import grounding
    from company.notebook import Notebook, grounded_ideas
    from company.payloads import Analysis
    from company.store import Store

    figures = NotebookFigures()
    with tempfile.TemporaryDirectory() as scratch:
        book = Notebook(Store(Path(scratch) / "notebook.db"))
        for folder in folders:
            store = Store(folder / SWEEP_DB)
            tasks = sorted(store.list_tasks(limit=100_000, brief=True),
                           key=lambda t: t.created_at)
            for task in tasks:
                messages = store.messages(task.id)
                said = "\n\n".join(m.content for m in messages if m.cause_by in REQUEST_CAUSES)
                for message in messages:
                    if message.cause_by != "AnalyzeRequest" or not message.payload:
                        continue
                    analysis = Analysis.model_validate(message.payload)
                    figures.requests += 1
                    figures.requests_with_items += bool(analysis.action_items)
                    for idea in grounded_ideas(analysis, said):
                        _, new = book.add("idea", idea.text, priority=idea.priority,
                                          source=idea.source, task_id=task.id,
                                          message_id=message.id)
                        figures.ideas_stored += new
                        figures.ideas_merged += not new
                    for item in analysis.action_items:
                        figures.items_proposed += 1
                        source = grounding.item_source(item.text, item.source, said)
                        if source is None:
                            figures.items_ungrounded += 1
                            continue
                        _, new = book.add("item", item.text, priority=item.priority,
                                          source=source, task_id=task.id, message_id=message.id)
                        figures.items_stored += new
                        figures.items_merged += not new
            store.close()
        figures.notes_in_notebook = book.store.count_notes()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Print the table for the eval folders given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="finished eval output folders")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.folders if not (f / SWEEP_DB).is_file()]
    if missing:
        print(f"error: no {SWEEP_DB} in {', '.join(missing)}", file=sys.stderr)
        return 2
    f = replay(args.folders)
    rows = [
        ("requests analysed", f.requests),
        ("requests that proposed action items", f.requests_with_items),
        ("action items proposed", f.items_proposed),
        ("  stored as new items", f.items_stored),
        ("  merged into an earlier item", f.items_merged),
        ("  left out: not in the Boss's words", f.items_ungrounded),
        ("ideas stored (grounded)", f.ideas_stored),
        ("  merged into an earlier idea", f.ideas_merged),
        ("notes in the notebook", f.notes_in_notebook),
        ("notes per request", f"{f.per_request():.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
