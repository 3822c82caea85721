"""``startup.py serve``: run the HTTP shim under uvicorn (fastapi/uvicorn import lazily)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import signal
import socket
from typing import TYPE_CHECKING

from company.cli_common import add_common, choose_llm, fail

if TYPE_CHECKING:
    from company.api.settings import ApiSettings
    from company.config import AppConfig

HOST_NAME = re.compile(r"(?=.{1,253}\.?$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?")
STARTUP_FAILURE = 3  # uvicorn's exit code when the app or the socket could not start


def check_host(host: str) -> None:
    """Refuse a ``--host`` that is neither an IP address nor a host name that resolves
    (``host`` is already unbracketed: ``[::1]`` -> ``::1``)."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not HOST_NAME.fullmatch(host):
        raise ValueError(f"--host {host!r} is not an IP address or a host name "
                         "(e.g. 127.0.0.1, ::1, [::1], localhost)")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"cannot resolve --host {host!r} "
                         f"({getattr(exc, 'strerror', None) or exc}): give an IP address "
                         "such as 127.0.0.1 or ::1") from exc


def check_bind(host: str, port: int) -> None:
    """Bind a socket as uvicorn will, and let it go: a port in use or an address this machine
    does not have is one clear line now, not a late failure inside uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ValueError(f"cannot listen on {where} ({exc.strerror or exc}): choose another "
                         "--port or --host") from exc


def serve_parser() -> argparse.ArgumentParser:
    """The parser of ``startup.py serve`` (the common flags are listed for ``--help``; the
    caller has already taken them out of the command line)."""
    parser = argparse.ArgumentParser(
        prog="startup.py serve",
        description="Serve the HTTP API (POST /v1/tasks, /v1/tasks/voice, SSE events), "
        "its docs at /docs and the voice page at /.",
    )
    add_common(parser)
    parser.add_argument("--host", help="address to bind (default api.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default api.port, 8000)")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    parser.add_argument("--no-runs", action="store_true",
                        help="API only: accept, store and stream tasks; `startup.py worker` "
                        "processes run them (from the same database)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow binding beyond loopback without an API key")
    parser.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"))
    return parser


def with_flags(config: AppConfig, settings: ApiSettings, args: argparse.Namespace) -> ApiSettings:
    """``settings`` with ``--host``, ``--port`` and ``--workers`` applied (validated again); the
    config's ``api`` section gets them too, for the workers that read it."""
    overrides = {key: getattr(args, key) for key in ("host", "port", "workers")
                 if getattr(args, key) is not None}
    if not overrides:
        return settings
    config.api = {**config.api, **overrides}
    return type(settings).model_validate({**settings.model_dump(), **overrides})


def serve_command(argv: list[str], *, config: AppConfig, settings: ApiSettings) -> int:
    """Parse the serve flags of ``argv`` over the loaded ``config`` and its ``api`` settings,
    check them, and serve until interrupted; return the exit code."""
    args = serve_parser().parse_args(argv)

    from company.api.settings import is_loopback
    from company.sop import SOPError, load_sop
    from company.workspace import WorkspaceError, open_store

    try:
        settings = with_flags(config, settings, args)
    except ValueError as exc:  # pydantic's ValidationError included
        return fail(f"invalid api settings: {exc}")
    try:
        check_host(settings.host)
    except ValueError as exc:
        return fail(str(exc))
    if not settings.api_key and not is_loopback(settings.host) and not args.insecure:
        return fail(f"refusing to serve on {settings.host} without an API key: set "
                    "COMPANY_API_KEY (or api.api_key), bind to 127.0.0.1, or pass --insecure")
    try:
        open_store(config.workspace, config.store_location).close()
        load_sop(config.sop)
        check_bind(settings.host, settings.port)
    except (WorkspaceError, SOPError, ValueError) as exc:
        return fail(str(exc))

    from rich.console import Console

    choose_llm(config, Console(stderr=True))  # once, so every worker uses the same model

    import uvicorn

    from company.api.app import CONFIG_ENV

    os.environ[CONFIG_ENV] = config.model_dump_json()
    if args.no_runs:
        from company.api.pool import NO_RUNS_ENV

        os.environ[NO_RUNS_ENV] = "1"
    # uvicorn re-raises SIGTERM after its graceful shutdown; a no-op handler lets us return 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.run(
            "company.api.app:app_from_env", factory=True, host=settings.host,
            port=settings.port, workers=settings.workers, log_level=args.log_level,
            lifespan="on", timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
        )
    except SystemExit as exc:
        if exc.code == STARTUP_FAILURE:  # 3 means 'no model reachable' in this CLI
            return fail("the server did not start (the reason is logged above)")
        raise
    return 0
