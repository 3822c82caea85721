"""openai-whisper's own checkpoints: their URLs (read without importing torch) and download."""

from __future__ import annotations

import ast
import functools
import importlib.util
import socket
from pathlib import Path
from urllib.parse import urlsplit

from company.models.errors import SourceFailed


@functools.cache
def official_urls() -> dict[str, str]:
    """``whisper._MODELS`` of the installed openai-whisper, parsed from its source (no import)."""
    try:
        spec = importlib.util.find_spec("whisper")
    except (ImportError, ValueError):
        return {}
    if spec is None or not spec.origin:
        return {}
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "_MODELS" for t in targets):
            try:
                value = ast.literal_eval(node.value)  # type: ignore[arg-type]
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in value.items()}
    return {}


def url_sha256(url: str) -> str:
    """The sha256 openai-whisper expects: the URL's second-to-last path segment."""
    return url.rstrip("/").split("/")[-2]


def official_path(url: str, root: Path) -> Path:
    """Where ``whisper._download`` puts the file of ``url`` under ``root``."""
    return root / Path(urlsplit(url).path).name


def names_by_file() -> dict[str, list[str]]:
    """Official file names (``base.pt``) to the model names that use them."""
    files: dict[str, list[str]] = {}
    for name, url in official_urls().items():
        files.setdefault(Path(urlsplit(url).path).name, []).append(name)
    return files


def probe(url: str, connect_timeout_s: float) -> None:
    """Fail fast when the URL's host cannot be resolved or reached."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=connect_timeout_s):
            pass
    except OSError as exc:
        raise SourceFailed(f"network unreachable ({parts.hostname}: {exc})") from None


def download_official(url: str, root: Path, connect_timeout_s: float,
                      read_timeout_s: float) -> Path:
    """Download through ``whisper._download`` into ``root`` (whisper checks the sha256)."""
    probe(url, connect_timeout_s)
    try:
        import whisper
    except ImportError:
        raise SourceFailed("openai-whisper is not installed") from None
    target = official_path(url, root)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(read_timeout_s)  # whisper's urlopen has no timeout of its own
    try:
        return Path(whisper._download(url, str(root), in_memory=False))
    except Exception as exc:  # noqa: BLE001  (urllib, OSError, whisper's RuntimeError)
        if target.is_file():
            target.unlink()  # never leave a half or wrong file under the final name
        raise SourceFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        socket.setdefaulttimeout(previous)
