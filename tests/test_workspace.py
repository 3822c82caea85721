"""The workspace check: one clear error naming the path for each kind of bad local state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from company.workspace import WorkspaceError, open_store


def _open(ws: Path) -> None:
    open_store(ws, ws / "company.db").close()


def test_a_fresh_workspace_is_created_and_opened(tmp_path: Path) -> None:
    _open(tmp_path / "new" / "ws")
    assert (tmp_path / "new" / "ws" / "company.db").is_file()


def test_garbage_truncated_and_misplaced_stores_are_refused(tmp_path: Path) -> None:
    from company.store import Store

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "company.db").write_bytes(os.urandom(8192))
    cut = tmp_path / "cut"
    store = Store(cut / "company.db")
    for i in range(300):
        store.create_task(f"t{i:04d}", "r" * 400, "default", "s" * 2000)
    store.close()
    size = (cut / "company.db").stat().st_size
    overwritten = tmp_path / "overwritten"
    overwritten.mkdir()
    (overwritten / "company.db").write_bytes((cut / "company.db").read_bytes())
    with open(overwritten / "company.db", "r+b") as db:  # a page in the middle: opens fine,
        db.seek(size // 2 // 4096 * 4096)  # the integrity check finds it
        db.write(b"\xff" * 4096)
    os.truncate(cut / "company.db", size // 2)
    folder = tmp_path / "folder"
    (folder / "company.db").mkdir(parents=True)
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = {garbage: "not a usable SQLite database", cut: "malformed",
             overwritten: "is damaged .* Page [0-9]+",
             folder: "is not a file", afile: "is a file, not a folder"}
    for ws, words in cases.items():
        with pytest.raises(WorkspaceError, match=words) as caught:
            _open(ws)
        assert str(ws) in str(caught.value) and "\n" not in str(caught.value)


def test_a_read_only_workspace_is_refused(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refuse(*_a: object, **_k: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)  # root ignores chmod
    with pytest.raises(WorkspaceError, match="is not writable .Permission denied."):
        _open(tmp_path / "ws")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only modes")
def test_a_read_only_folder_is_refused_for_real(tmp_path: Path) -> None:
    ws = tmp_path / "ro"
    ws.mkdir()
    ws.chmod(0o555)
    try:
        with pytest.raises(WorkspaceError, match="not writable"):
            _open(ws)
    finally:
        ws.chmod(0o755)


def test_a_read_only_store_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from company.store import Store

    monkeypatch.setattr(Store, "writable", lambda self: False)
    with pytest.raises(WorkspaceError, match="company.db is read-only"):
        _open(tmp_path / "ws")
