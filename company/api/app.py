"""The FastAPI app: routes, error handlers, and a lifespan that resumes and drains runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from company.api.errors import install_error_handlers
from company.api.limits import BodyLimit, BodyTimeout
from company.api.pool import RunPool, make_pool
from company.api.routes import audio, events, health, messages, notebook, page, tasks, transcripts
from company.api.routes import realtime as realtime_routes
from company.api.schemas import SOP_NAME_PATTERN
from company.api.settings import ApiSettings
from company.api.sops import SopResolver
from company.api.state import ApiState
from company.company import Company
from company.config import AppConfig
from company.sop import SOPError

log = logging.getLogger("company.api")

CONFIG_ENV = "COMPANY_API_CONFIG_JSON"
"""How ``serve`` hands the resolved config to uvicorn's app factory in each worker."""


def create_app(
    config: AppConfig, *, company: Company | None = None, hook_signals: bool = False
) -> FastAPI:
    """The HTTP shim for ``config`` (a Company is built at startup unless one is given).

    ``hook_signals``: on SIGINT/SIGTERM stop accepting and end event streams at once, so the
    server drains quickly (``serve`` sets it; tests leave the process's signals alone).
    """
    settings = ApiSettings.from_config(config.api)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = company is None
        team = company or Company(config)
        sops = SopResolver(config.sop)
        sops.default()  # a broken default SOP stops the start with its file and line
        # load the graph catalogue now, off the loop, not inside the first task's round
        await asyncio.to_thread(team.services.catalogue)
        pool = make_pool(team, settings)  # RunPool, or QueuePool on a shared store
        api = ApiState(config=config, settings=settings, company=team, pool=pool, sops=sops,
                       decodes=asyncio.Semaphore(settings.max_concurrent_decodes))
        app.state.api = api
        pool.start()
        pool.resume_stored()
        restore = _hook_signals(pool) if hook_signals else None
        try:
            yield
        finally:
            await pool.shutdown(settings.shutdown_grace_s)
            if restore is not None:
                restore()
            if owned:
                team.store.close()

    app = FastAPI(
        title="the company",
        version="0.1.0",
        summary="Send requests (typed or spoken) to the company and watch its roles work.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyTimeout, idle_s=settings.body_idle_timeout_s,
                       total_s=settings.body_timeout_s)
    for module in (tasks, messages, transcripts, audio, notebook, events, health, page):
        app.include_router(module.router)
    app.include_router(realtime_routes.router)  # /v1/realtime (WebSocket) and its schema
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    _document(app, SopResolver(config.sop), secured=bool(settings.api_key))
    return app


def _document(app: FastAPI, sops: SopResolver, *, secured: bool) -> None:
    """Finish the OpenAPI schema: the SOP names a request may give (an enum) and, when a key
    is configured, the Bearer scheme on every ``/v1`` route (plus ``?token=`` on events)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                 routes=app.routes)
            names = sops.known()
            with contextlib.suppress(SOPError, OSError):
                names = sorted({*names, sops.default().name})
            for node in _sop_fields(schema):
                node["enum"] = names
            if secured:
                _add_security(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_security(schema: dict[str, Any]) -> None:
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "the server's API key"},
        "token": {"type": "apiKey", "in": "query", "name": "token",
                  "description": "the API key, for EventSource (event stream only)"},
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
            if path.endswith("/events"):
                operation["security"].append({"token": []})


def _sop_fields(node: Any) -> list[dict[str, Any]]:
    """Every ``{"type": "string", "pattern": <SOP name pattern>}`` node in a schema."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("pattern") == SOP_NAME_PATTERN:
            found.append(node)
        for value in node.values():
            found += _sop_fields(value)
    elif isinstance(node, list):
        for value in node:
            found += _sop_fields(value)
    return found


def _hook_signals(pool: RunPool) -> Callable[[], None] | None:
    """Chain SIGINT/SIGTERM so the pool stops accepting before uvicorn drains connections."""
    if threading.current_thread() is not threading.main_thread():
        return None
    loop = asyncio.get_running_loop()
    previous: dict[int, object] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        prev = signal.getsignal(sig)

        def handler(signum: int, frame: object, prev: object = prev) -> None:
            loop.call_soon_threadsafe(pool.begin_stop)
            if callable(prev):
                prev(signum, frame)

        previous[sig] = prev
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, prev in previous.items():
            signal.signal(sig, prev)  # type: ignore[arg-type]

    return restore


def app_from_env() -> FastAPI:
    """uvicorn's factory in each worker: the config ``serve`` put in the environment."""
    config = AppConfig.model_validate_json(os.environ[CONFIG_ENV])
    return create_app(config, hook_signals=True)
