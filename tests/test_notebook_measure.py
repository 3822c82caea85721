"""scripts/notebook_measure.py: stored analyses of eval runs replayed into one fresh notebook."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from company.message import Message
from company.store import Store

ROOT = Path(__file__).resolve().parent.parent


def load_script() -> ModuleType:
    """The script as a module."""
    spec = importlib.util.spec_from_file_location("notebook_measure",
                                                  ROOT / "scripts" / "notebook_measure.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(store: Store, task_id: str, said: str, analysis: dict) -> None:
    """One finished run: the Boss's request and the Analyst's stored analysis."""
    store.create_task(task_id, said, "default", "")
    store.append_message(Message(task_id=task_id, id=f"{task_id}-1", seq=1, content=said))
    store.append_message(Message(task_id=task_id, id=f"{task_id}-2", seq=2, content="analysis",
                                 cause_by="AnalyzeRequest", sent_from="Analyst",
                                 payload=analysis))


def test_items_are_counted_merged_and_ungrounded_ones_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "eval"
    folder.mkdir()
    store = Store(folder / "sweep.db")
    invoice = {"source": "Send the invoice to Bob", "text": "Send the invoice to Bob",
               "priority": "high"}
    run(store, "t1", "Send the invoice to Bob. I prefer PDF.", {
        "summary": "s", "action_items": [invoice],
        "ideas": [{"source": "I prefer PDF", "text": "The Boss prefers PDF",
                   "priority": "low"}]})
    run(store, "t2", "Please send the invoice to Bob today.", {
        "summary": "s", "ideas": [], "action_items": [
            invoice, {"source": "book a flight", "text": "Book a flight to Rome",
                      "priority": "medium"}]})
    store.close()
    figures = load_script().replay([folder])
    assert figures.requests == 2 and figures.requests_with_items == 2
    assert figures.items_proposed == 3
    assert (figures.items_stored, figures.items_merged, figures.items_ungrounded) == (1, 1, 1)
    assert figures.ideas_stored == 1
    assert figures.notes_in_notebook == 2 and figures.per_request() == 1.0


def test_a_folder_without_a_sweep_is_an_error(tmp_path: Path, capsys) -> None:
    assert load_script().main([str(tmp_path)]) == 2
    assert "no sweep.db" in capsys.readouterr().err
