"""OpenAI's error shape, ``{"error": {"message", "type", "param", "code"}}``, for the
OpenAI-compatible routes: ``OpenAIRoute`` turns every error raised while serving one of them
(authentication, upload limits, validation, the route's own) into that shape, keeping the status
and headers the rest of the API gives."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from company.api.errors import ApiError, validation_body

log = logging.getLogger("company.api")


class OpenAIError(ApiError):
    """An ``ApiError`` that names the form field at fault and a machine-readable code."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.param = param
        self.code = code


def error_type(status: int) -> str:
    """OpenAI's ``type`` for a status: invalid_request_error, rate_limit_error, server_error."""
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def default_code(status: int) -> str | None:
    """The code of an error raised without one (by code shared with the rest of the API)."""
    return {401: "invalid_api_key", 408: "timeout", 413: "file_too_large",
            415: "unsupported_media_type", 429: "rate_limit_exceeded",
            503: "service_unavailable"}.get(status)


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON answer for an error in OpenAI's shape."""
    body = {"error": {"message": message, "type": error_type(status), "param": param,
                      "code": code if code is not None else default_code(status)}}
    return JSONResponse(body, status_code=status, headers=headers)


def as_openai_error(exc: Exception) -> JSONResponse | None:
    """The OpenAI-shaped answer for an error the API knows, or None for an unexpected one."""
    if isinstance(exc, OpenAIError):
        return openai_error(exc.status, exc.detail, param=exc.param, code=exc.code,
                            headers=exc.headers)
    if isinstance(exc, ApiError):
        return openai_error(exc.status, exc.detail, headers=exc.headers)
    if isinstance(exc, RequestValidationError):
        errors = list(exc.errors())
        loc = [str(p) for p in (errors[0].get("loc") or ())[1:]] if errors else []
        return openai_error(400, validation_body(errors)["detail"],
                            param=".".join(loc) or None, code="invalid_value")
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return openai_error(exc.status_code, detail, headers=dict(exc.headers or {}) or None)
    return None


class OpenAIRoute(APIRoute):
    """A route whose errors, its dependencies' included, answer in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, wrapped to reshape the errors it raises."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = as_openai_error(exc)
                if answer is not None:
                    return answer
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return openai_error(500, f"internal error ({type(exc).__name__}); the server "
                                    "log has the details", code="internal_error")

        return guarded
