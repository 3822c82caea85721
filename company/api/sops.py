"""Which SOP a request runs: a shipped name under config/sops/, or the server's default."""

from __future__ import annotations

import re
from pathlib import Path

from company.api.errors import ApiError
from company.api.schemas import SOP_NAME_PATTERN
from company.sop import SOP, SOP_DIR, SOPError, load_sop, resolve_sop_path

_NAME = re.compile(SOP_NAME_PATTERN)


class SopResolver:
    """Loads SOPs for requests; clients may only name shipped SOPs (never a path)."""

    def __init__(self, default: str, sop_dir: Path = SOP_DIR) -> None:
        self.default_ref = default
        self.sop_dir = sop_dir
        self._cache: dict[str, tuple[int, SOP]] = {}

    def known(self) -> list[str]:
        """Names a request may give."""
        return sorted(p.stem for p in self.sop_dir.glob("*.yaml"))

    def default(self) -> SOP:
        """The server's default SOP (a name or a path from the config)."""
        return self._load(resolve_sop_path(self.default_ref))

    def load(self, name: str | None) -> SOP:
        """The SOP a request asked for (None: the default); unknown names are a 422."""
        if name is None:
            return self.default()
        default = self.default()
        if name == default.name:
            return default
        path = self.sop_dir / f"{name}.yaml"
        if not _NAME.match(name) or not path.is_file():
            known = ", ".join(self.known()) or "none"
            raise ApiError(422, f"unknown SOP {name!r}; known: {known}")
        try:
            return self._load(path)
        except SOPError as exc:
            raise ApiError(422, f"the SOP {name!r} is invalid: {exc}") from exc

    def _load(self, path: Path) -> SOP:
        key = str(path)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            mtime = -1
        hit = self._cache.get(key)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        sop = load_sop(key)
        self._cache[key] = (mtime, sop)
        return sop
