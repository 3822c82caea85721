"""``startup.py notebook``: list and search, done/edit/drop/reopen by id, Markdown and CSV
exports, clear errors for unknown ids and conflicts; nothing heavy imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from company.cli import main
from company.notebook import Notebook
from company.store import Store
from tests.conftest import ROOT


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace whose notebook holds two items and an idea."""
    store = Store(tmp_path / "ws" / "company.db")
    notebook = Notebook(store)
    notebook.add("item", "Send the invoice to Bob by Friday", priority="high", tags=["money"])
    notebook.add("item", "Offer 50% off to the team")
    notebook.add("idea", "Bob prefers PDF invoices", priority="low")
    store.close()
    return tmp_path / "ws"


def run(ws: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["notebook", *args, "--workspace", str(ws)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lists_filters_and_searches(ws, capsys):
    code, out, _ = run(ws, capsys)
    assert code == 0 and out.splitlines() == [
        "   3  idea  kept     low     Bob prefers PDF invoices",
        "   2  item  open     medium  Offer 50% off to the team",
        "   1  item  open     high    Send the invoice to Bob by Friday  #money"]
    assert [line.split()[0] for line in run(ws, capsys, "items")[1].splitlines()] == ["2", "1"]
    assert run(ws, capsys, "ideas", "--search", "pdf")[1].split()[0] == "3"
    assert run(ws, capsys, "--search", "0%")[1].split()[0] == "2"  # literal, not a wildcard
    assert run(ws, capsys, "--search", "'; DROP TABLE notebook; --")[1] == "no notes match\n"
    code, out, _ = run(ws, capsys, "items", "--open", "--json")
    assert code == 0 and [n["id"] for n in json.loads(out)] == [2, 1]
    assert json.loads(out)[1]["tags"] == ["money"]


def test_done_edit_drop_reopen_by_id(ws, capsys):
    code, out, _ = run(ws, capsys, "done", "1")
    assert code == 0 and out.split()[:3] == ["1", "item", "done"]
    assert run(ws, capsys, "items", "--open")[1].split()[0] == "2"
    code, out, _ = run(ws, capsys, "edit", "2", "Offer 40% off", "--priority", "high", "--json")
    assert code == 0 and json.loads(out)["text"] == "Offer 40% off"
    assert json.loads(out)["priority"] == "high"
    assert run(ws, capsys, "drop", "3")[0] == 0
    assert "PDF" not in run(ws, capsys)[1] and "PDF" in run(ws, capsys, "--all")[1]
    code, _, err = run(ws, capsys, "edit", "3", "new words")
    assert code == 1 and err.startswith("error: idea 3 was dropped")
    assert run(ws, capsys, "reopen", "3")[0] == 0
    assert run(ws, capsys, "edit", "3", "Bob wants PDF")[0] == 0


def test_unknown_ids_and_bad_input_are_one_clear_line(ws, capsys):
    for args in (("done", "99"), ("drop", "99"), ("edit", "99", "x"), ("reopen", "0")):
        code, out, err = run(ws, capsys, *args)
        assert code == 2 and out == "" and err.startswith("error: no note"), args
    code, _, err = run(ws, capsys, "done", "3")
    assert code == 2 and "ideas are kept or dropped" in err
    code, _, err = run(ws, capsys, "edit", "1")
    assert code == 2 and "say what to change" in err
    with pytest.raises(SystemExit) as exc:
        run(ws, capsys, "done", "one")
    assert exc.value.code == 2


def test_exports_markdown_and_csv(ws, capsys, tmp_path):
    code, out, _ = run(ws, capsys, "export")
    assert code == 0 and out.startswith("# Notebook\n\n## Open items\n\n- [ ] Send the invoice")
    target = tmp_path / "notes.csv"
    code, _, err = run(ws, capsys, "export", "items", "--format", "csv", "--out", str(target))
    assert code == 0 and str(target) in err
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,kind,status,priority,text") and len(lines) == 3


@pytest.mark.subprocess
def test_the_command_imports_nothing_heavy(ws):
    out = subprocess.run([sys.executable, "-X", "importtime", "startup.py", "notebook",
                          "--workspace", str(ws)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "Send the invoice" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert not imported & {"torch", "whisper", "fastapi", "uvicorn", "xllamacpp"}
