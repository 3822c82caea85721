"""``/v1/realtime``: talk to the company over a WebSocket (see ``company.realtime.protocol``),
and ``GET /v1/realtime/schema``: the protocol's messages and events as JSON schemas."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, WebSocket

from company.api.auth import require_key
from company.api.state import ApiState
from company.realtime import protocol as p

router = APIRouter(prefix="/v1", tags=["realtime"])

DOC = """WebSocket ``/v1/realtime`` (auth: ``Authorization: Bearer <key>`` or ``?token=<key>``;
``?format=pcm16|webm`` picks the audio format of binary frames, ``session.update`` changes it).
Client: binary frames of audio (PCM16 mono 16 kHz little-endian, or WebM/Opus chunks as
MediaRecorder writes them) and JSON control messages (``client``). Server: JSON events
(``server``). Close codes: ``close_codes``."""


@router.get("/realtime/schema", dependencies=[Depends(require_key)], description=DOC)
async def realtime_schema() -> dict[str, Any]:
    """The realtime protocol: client messages, server events and close codes (JSON schema)."""
    return p.protocol_schema()


def _authorized(ws: WebSocket, expected: str | None) -> bool:
    if not expected:
        return True
    scheme, _, token = ws.headers.get("authorization", "").partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    given = given or ws.query_params.get("token", "")
    return bool(given) and hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                               expected.encode("utf-8"))


def hub_of(ws: WebSocket) -> Any:
    """The app's realtime hub (made on first use from the config's ``realtime`` section)."""
    from company.realtime.hub import RealtimeHub
    from company.realtime.settings import RealtimeSettings

    state = ws.app.state
    if getattr(state, "realtime", None) is None:
        state.realtime = RealtimeHub(RealtimeSettings.from_config(state.api.config))
    return state.realtime


async def _refuse(ws: WebSocket, code: p.CloseCode, kind: str, message: str) -> None:
    await ws.send_text(p.error(kind, message).model_dump_json())
    await ws.send_text(p.SessionEnded(reason=message, code=int(code)).model_dump_json())
    await ws.close(int(code), message[:120])


@router.websocket("/realtime")
async def realtime(ws: WebSocket) -> None:
    """A realtime voice session (the events are listed by ``GET /v1/realtime/schema``)."""
    from company.realtime.session import RealtimeSession
    from company.realtime.vad import VadUnavailable

    api: ApiState = ws.app.state.api
    await ws.accept()
    expected = api.settings.api_key
    if not _authorized(ws, expected):
        missing = not ws.headers.get("authorization") and not ws.query_params.get("token")
        what = ("missing API key: send 'Authorization: Bearer <key>' or ?token=<key>" if missing
                else "invalid API key")
        await _refuse(ws, p.CloseCode.UNAUTHORIZED, "unauthorized", what)
        return
    audio_format = ws.query_params.get("format", "pcm16")
    if audio_format not in ("pcm16", "webm"):
        await _refuse(ws, p.CloseCode.NORMAL, "wrong_audio_format",
                      f"unknown audio format {audio_format[:40]!r}: pcm16 or webm")
        return
    hub = hub_of(ws)
    key = expected or ""
    refused = hub.admit(key)
    if refused is not None:
        await _refuse(ws, p.CloseCode.TOO_MANY_SESSIONS, "too_many_sessions", refused)
        return
    try:
        try:
            session = RealtimeSession(ws, api, hub,
                                      audio_format="webm" if audio_format == "webm" else "pcm16")
        except VadUnavailable as exc:
            await _refuse(ws, p.CloseCode.INTERNAL, "unavailable", str(exc))
            return
        await session.run()
    finally:
        hub.release(key)
