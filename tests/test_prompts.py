"""The prompt library's data files (company/prompts.py): parsed once, again when they change."""

from __future__ import annotations

import os
from pathlib import Path

from company.prompts import load_data_file

CALLS: list[object] = []


def counted(data: object) -> object:
    CALLS.append(data)
    return data


def test_a_data_file_is_parsed_once_and_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text("units: {a: 1}\n")
    CALLS.clear()
    assert load_data_file(path, counted) == {"units": {"a": 1}}
    assert load_data_file(path, counted) == {"units": {"a": 1}}
    assert len(CALLS) == 1
    path.write_text("units: {a: 22}\n")
    os.utime(path, ns=(1, 2_000_000_000))  # a new mtime, whatever the clock's resolution
    assert load_data_file(path, counted) == {"units": {"a": 22}}
    assert len(CALLS) == 2
