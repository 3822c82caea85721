"""The prompt library's data files (company/prompts.py): parsed once, again when they change;
lists of entries validated by their model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from company.prompts import load_data_file, load_model_list

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


class Entry(BaseModel):
    name: str
    size: int = 1


def test_a_model_list_file_gives_validated_entries_or_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "entries.yaml"
    path.write_text("- {name: a}\n- {name: b, size: 3}\n")
    assert load_model_list(path, Entry, "entries") == (Entry(name="a"), Entry(name="b", size=3))
    path.write_text("")
    os.utime(path, ns=(1, 3_000_000_000))
    assert load_model_list(path, Entry, "entries") == ()
    path.write_text("name: a\n")
    os.utime(path, ns=(1, 4_000_000_000))
    with pytest.raises(ValueError, match="entries.yaml: expected a list of entries"):
        load_model_list(path, Entry, "entries")
    path.write_text("- {size: 2}\n")
    os.utime(path, ns=(1, 5_000_000_000))
    with pytest.raises(ValidationError):
        load_model_list(path, Entry, "entries")
