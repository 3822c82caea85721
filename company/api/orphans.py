"""Sweep uploads a killed server left behind: run once when a server process starts.

Uploads are received under temporary names (``.voice.wav.<pid>.part``, see
``company.api.uploads``) and renamed once their task row exists. After a kill -9:

- a temporary file whose writer is gone is finished (renamed) when a stored message already
  names its final path, and removed otherwise;
- a folder the API made for a new voice task (``t`` + 12 hex digits) that has no task row
  loses its voice files, and the folder goes when that leaves it empty.

Temporary files of a live process (another worker of the same server) are left alone, and so
is every file that is not one of these.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from pathlib import Path

from company.api.schemas import TASK_ID_PATTERN
from company.api.uploads import TEMP_NAME
from company.store import Store

log = logging.getLogger("company.api")

NEW_TASK_DIR = re.compile(r"^t[0-9a-f]{12}$")
"""The folders ``POST /v1/tasks/voice`` creates (``company.company.new_task_id``)."""
VOICE_FILE = re.compile(r"^voice(-[0-9a-f]{8})?\.[a-z0-9]{1,8}$")
"""Final names of uploaded voice notes."""
SETTLED_S = 60.0
"""A final-named voice file without a task row is an orphan only once it is this old (the CLI
copies its audio into the task folder a moment before it stores the row)."""
_TASK_ID = re.compile(TASK_ID_PATTERN)


def sweep_orphan_uploads(workspace: Path, store: Store, *, started: float | None = None) -> int:
    """Finish or remove the uploads a killed server left in ``workspace``; return how many files
    were removed. ``started``: this process's start (files written since are not touched)."""
    started = time.time() if started is None else started
    if not workspace.is_dir():
        return 0
    removed = 0
    for folder in workspace.iterdir():
        if not folder.is_dir() or folder.is_symlink() or not _TASK_ID.match(folder.name):
            continue
        try:
            removed += _sweep_folder(folder, store, started)
        except OSError as exc:  # one unreadable folder must not stop the start
            log.warning("could not sweep uploads in %s: %s", folder, exc)
    if removed:
        log.info("removed %d upload(s) left behind by a stopped server", removed)
    return removed


def _sweep_folder(folder: Path, store: Store, started: float) -> int:
    """Sweep one task folder; return how many files were removed."""
    temps = [(p, m) for p in folder.iterdir() if (m := TEMP_NAME.match(p.name)) and p.is_file()]
    has_row = store.get_task(folder.name) is not None
    if not temps and (has_row or not NEW_TASK_DIR.match(folder.name)):
        return 0
    removed = 0
    named = _audio_paths(store, folder.name) if temps and has_row else set()
    for path, match in temps:
        if not _abandoned(path, int(match["pid"]), started):
            continue
        final = folder / match["final"]
        if str(final) in named and not final.exists():
            os.replace(path, final)  # the row exists: the upload was complete and checked
            log.info("finished the upload %s", final)
        else:
            path.unlink(missing_ok=True)
            removed += 1
    if not has_row and NEW_TASK_DIR.match(folder.name):
        for path in folder.iterdir():
            if VOICE_FILE.match(path.name) and path.is_file() and _settled(path, started):
                path.unlink(missing_ok=True)
                removed += 1
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when nothing else is in it
    return removed


def _audio_paths(store: Store, task_id: str) -> set[str]:
    """The audio paths the task's stored messages name."""
    paths: set[str] = set()
    for message in store.messages(task_id):
        audio = (message.payload or {}).get("audio_path")
        if isinstance(audio, str):
            paths.add(audio)
    return paths


def _abandoned(path: Path, pid: int, started: float) -> bool:
    """True when the process that wrote ``path`` is gone (or was an earlier life of this one)."""
    if path.stat().st_mtime >= started:
        return False
    return pid == os.getpid() or not _alive(pid)


def _settled(path: Path, started: float) -> bool:
    """True when ``path`` was last written well before this process started."""
    return path.stat().st_mtime < started - SETTLED_S


def _alive(pid: int) -> bool:
    """True when a process ``pid`` exists."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True
