"""HTTP errors as JSON ``{"detail": ...}``, and the handlers that guarantee it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("company.api")


class ApiError(Exception):
    """An error with an HTTP status and a sentence for the client."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def not_found(task_id: str) -> ApiError:
    """404 for an unknown task."""
    return ApiError(404, f"no task {task_id!r}")


def _loc(loc: Any) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in (loc or ())]


def validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A 422 body: one summary sentence plus each field's problem (JSON-safe)."""
    items = [{"loc": _loc(e.get("loc")),
              "msg": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
             for e in errors]
    parts = [f"{'.'.join(map(str, i['loc'])) or 'body'}: {i['msg']}" for i in items[:5]]
    detail = "invalid request: " + "; ".join(parts) if parts else "invalid request"
    return {"detail": detail, "errors": items}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error JSON with a clear ``detail``; unexpected ones become a logged 500."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(list(exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse({"detail": detail}, status_code=exc.status_code,
                            headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); the server log has the details"},
            status_code=500,
        )
