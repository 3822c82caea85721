"""``startup.py serve``: run the HTTP shim under uvicorn (fastapi/uvicorn import lazily)."""

from __future__ import annotations

import argparse
import os
import signal

from company.cli import add_common, fail, load_settings


def serve_parser() -> argparse.ArgumentParser:
    """The parser of ``startup.py serve``."""
    parser = argparse.ArgumentParser(
        prog="startup.py serve",
        description="Serve the HTTP API (POST /v1/tasks, /v1/tasks/voice, SSE events), "
        "its docs at /docs and the voice page at /.",
    )
    add_common(parser)
    parser.add_argument("--host", help="address to bind (default api.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default api.port, 8000)")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow binding beyond loopback without an API key")
    parser.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"))
    return parser


def serve_command(argv: list[str]) -> int:
    """Parse ``argv``, check the settings, and serve until interrupted; return the exit code."""
    args = serve_parser().parse_args(argv)
    try:
        config = load_settings(args)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    api = dict(config.api)
    for key in ("host", "port", "workers"):
        value = getattr(args, key)
        if value is not None:
            api[key] = value
    config.api = api

    from pydantic import ValidationError

    from company.api.settings import ApiSettings, is_loopback
    from company.sop import SOPError, load_sop

    try:
        settings = ApiSettings.from_config(api)
    except ValidationError as exc:
        return fail(f"invalid api settings: {exc}")
    if not settings.api_key and not is_loopback(settings.host) and not args.insecure:
        return fail(f"refusing to serve on {settings.host} without an API key: set "
                    "COMPANY_API_KEY (or api.api_key), bind to 127.0.0.1, or pass --insecure")
    try:
        load_sop(config.sop)
    except SOPError as exc:
        return fail(str(exc))

    from rich.console import Console

    from company.cli import choose_llm

    choose_llm(config, Console(stderr=True))  # once, so every worker uses the same model

    import uvicorn

    from company.api.app import CONFIG_ENV

    os.environ[CONFIG_ENV] = config.model_dump_json()
    # uvicorn re-raises SIGTERM after its graceful shutdown; a no-op handler lets us return 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        "company.api.app:app_from_env", factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, log_level=args.log_level, lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
    )
    return 0
