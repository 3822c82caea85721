"""One realtime session: audio in, turns, partial and final transcripts, the company's work on
each turn, and the spoken answer out; every limit of the session is enforced here."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ValidationError

from company.realtime import protocol as p
from company.realtime.answer import lead_answer
from company.realtime.audio_in import SAMPLE_RATE, AudioInput, WrongAudioFormat, make_input
from company.realtime.audio_in import to_float as pcm_to_float
from company.realtime.hub import RealtimeHub
from company.realtime.outbox import Outbox, SlowClient
from company.realtime.partials import StablePrefix
from company.realtime.settings import RealtimeSettings
from company.realtime.submit import follow_up, start_task, write_turn
from company.realtime.turns import TurnDetector, TurnEnded, TurnEvent, TurnStarted

if TYPE_CHECKING:
    from company.api.state import ApiState
    from company.events import Event

log = logging.getLogger("company.realtime")

Close = tuple[int, str]
MAX_RETRIES = 300
RETRY_S = 0.2
"""A turn for a task still running elsewhere is offered again every RETRY_S, MAX_RETRIES times."""


class _ClientGone(Exception):
    """Writing to the socket failed: the client has left."""


class Socket(Protocol):
    """What a session needs of a WebSocket (Starlette's has it)."""

    async def receive(self) -> dict[str, Any]:
        """The next ASGI message."""
        ...

    async def send_text(self, data: str) -> None:
        """Send a text frame."""
        ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the socket."""
        ...


class RealtimeSession:
    """Serves one WebSocket from ``session.created`` to ``session.ended``."""

    def __init__(self, ws: Socket, api: ApiState, hub: RealtimeHub, *,
                 audio_format: p.AudioFormat = "pcm16") -> None:
        self.ws = ws
        self.api = api
        self.hub = hub
        self.settings: RealtimeSettings = hub.settings
        s = self.settings
        self.id = f"rt_{uuid.uuid4().hex[:12]}"
        self.audio_format: p.AudioFormat = audio_format
        self.sop: str | None = None
        self.text = ""
        self.speak = s.speak
        self.partials = s.partials
        self.decoder: AudioInput = make_input(audio_format)
        self.vad = hub.vad()
        self.turns = TurnDetector(threshold=s.vad_threshold, min_speech_ms=s.min_speech_ms,
                                  silence_ms=s.silence_ms, preroll_ms=s.preroll_ms,
                                  max_turn_s=s.max_turn_s)
        self.outbox = Outbox(self._send, max_events=s.max_outbox_events,
                             max_bytes=s.max_outbox_bytes, slow_s=s.slow_client_s)
        self.turn = 0
        self.task_id: str | None = None
        self._new_task_id: str | None = None
        self._event_seq = 0
        self._prefix = StablePrefix()
        self._partial_mark = 0
        self._partial: asyncio.Task[None] | None = None
        self._turn_queue: asyncio.Queue[tuple[int, np.ndarray]] = asyncio.Queue()
        self._submissions: deque[tuple[int, Path, str]] = deque()
        self._retries = 0
        self._forwarder: asyncio.Task[None] | None = None
        self._speaker: asyncio.Task[None] | None = None
        self._speaking_turn = 0
        self._spoken_s = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failed: asyncio.Future[Close] | None = None
        self._gone = False

    # lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve until the client closes, a limit is reached or the server stops."""
        self._failed = asyncio.get_running_loop().create_future()
        sender = asyncio.create_task(self._guard(self.outbox.run()), name=f"{self.id} send")
        self._spawn(self._turn_worker(), "turns")
        self._spawn(self._warm(), "warm")
        close: Close | None = None
        try:
            await self.outbox.put(p.SessionCreated(session=self.info()))
            close = await self._serve()
        except SlowClient as exc:
            close = (p.CloseCode.SLOW_CLIENT, str(exc))
        finally:
            await self._shutdown(close, sender)

    def info(self) -> p.SessionInfo:
        """The session's settings as ``session.created``/``updated`` show them."""
        s = self.settings
        return p.SessionInfo(
            id=self.id, audio_format=self.audio_format, sop=self.sop, speak=self.speak,
            partials=self.partials, silence_ms=self.turns.silence_ms, vad=s.vad,
            limits={"max_session_s": s.max_session_s, "idle_timeout_s": s.idle_timeout_s,
                    "max_turn_s": s.max_turn_s, "max_frame_bytes": s.max_frame_bytes})

    async def _serve(self) -> Close | None:
        """Read the client's frames; return how to close (None: the client went away)."""
        assert self._failed is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_session_s
        stop = asyncio.ensure_future(self.api.pool.stop_event.wait())
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    return p.CloseCode.SESSION_EXPIRED, "the session reached its length limit"
                receive = asyncio.ensure_future(self.ws.receive())
                done, _ = await asyncio.wait(
                    {receive, stop, self._failed}, timeout=min(self.settings.idle_timeout_s, left),
                    return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    with contextlib.suppress(BaseException):
                        await receive
                    if self._failed in done:
                        return self._failed.result()
                    if stop in done:
                        return p.CloseCode.GOING_AWAY, "the server is shutting down"
                    if loop.time() >= deadline:
                        continue
                    return p.CloseCode.IDLE, "the client sent nothing for too long"
                message = receive.result()
                if message.get("type") == "websocket.disconnect":
                    self._gone = True
                    return None
                close = await self._handle(message)
                if close is not None:
                    return close
        finally:
            stop.cancel()

    async def _shutdown(self, close: Close | None, sender: asyncio.Task[None]) -> None:
        """Stop the session's work, send ``session.ended`` and close the socket."""
        if self._speaker is not None and not self._speaker.done():
            self._speaker.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self.decoder.close()
        if close is not None and not self._gone:
            code, reason = close
            self.outbox.put_nowait(p.SessionEnded(reason=reason, code=int(code)))
        self.outbox.close()
        slow = close is not None and close[0] == p.CloseCode.SLOW_CLIENT
        with contextlib.suppress(BaseException):  # a client that does not read gets no grace
            await asyncio.wait_for(sender, 0.1 if slow else 2.0)
        sender.cancel()
        if close is not None and not self._gone:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.ws.close(int(close[0]), close[1][:120]), 2.0)

    async def _send(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except Exception as exc:  # the socket is gone (the client left mid-send)
            self._gone = True
            raise _ClientGone(str(exc)) from exc

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guard(coro), name=f"{self.id} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, work: Awaitable[None]) -> None:
        """Run background work; a slow client or a dead socket ends the session."""
        try:
            await work
        except SlowClient as exc:
            self._fail(p.CloseCode.SLOW_CLIENT, str(exc))
        except _ClientGone:
            self._fail(p.CloseCode.NORMAL, "the client left")
        except Exception as exc:
            log.exception("realtime session %s: background work failed", self.id)
            self._fail(p.CloseCode.INTERNAL, f"internal error: {type(exc).__name__}")

    def _fail(self, code: int, reason: str) -> None:
        if self._failed is not None and not self._failed.done():
            self._failed.set_result((code, reason))

    async def emit(self, event: BaseModel) -> None:
        """Queue an event for the client (``SlowClient`` when it does not read)."""
        await self.outbox.put(event)

    async def error(self, code: str, message: str) -> None:
        """Send an ``error`` event."""
        await self.emit(p.error(code, message))

    # client frames -------------------------------------------------------------------------
    async def _handle(self, message: dict[str, Any]) -> Close | None:
        data = message.get("bytes")
        text = message.get("text")
        size = len(data) if data is not None else len((text or "").encode())
        if size > self.settings.max_frame_bytes:
            await self.error("frame_too_big", f"a frame of {size} bytes; at most "
                             f"{self.settings.max_frame_bytes}")
            return p.CloseCode.TOO_BIG, "frame too big"
        if data is not None:
            await self._audio(data)
            return None
        return await self._control(text or "")

    async def _control(self, text: str) -> Close | None:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            await self.error("invalid_json", f"a text frame must be one JSON object: {exc}")
            return None
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str):
            await self.error("invalid_message", "a message is a JSON object with a 'type'")
            return None
        if kind not in p.CLIENT_TYPES:
            await self.error("unknown_type", f"unknown message type {kind[:60]!r}; known: "
                             + ", ".join(p.CLIENT_TYPES))
            return None
        try:
            msg = p.CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}"
                                 for e in exc.errors()[:5])
            await self.error("invalid_message", f"{kind}: {problems}")
            return None
        return await self._dispatch(msg)

    async def _dispatch(self, msg: Any) -> Close | None:
        if isinstance(msg, p.SessionClose):
            return p.CloseCode.NORMAL, "closed by the client"
        if isinstance(msg, p.SessionUpdate):
            await self._update(msg.session)
        elif isinstance(msg, p.InputAudioAppend):
            try:
                data = base64.b64decode(msg.audio, validate=True)
            except (binascii.Error, ValueError):
                await self.error("invalid_audio", "input_audio.append: 'audio' is not base64")
                return None
            await self._audio(data)
        elif isinstance(msg, p.InputAudioCommit):
            ended = self.turns.commit()
            if ended is None:
                await self.error("input_audio_empty", "no speech to commit")
            else:
                await self._turn_event(ended)
        elif isinstance(msg, p.InputAudioClear):
            self.turns.clear()
            self._cancel_partial()
        elif isinstance(msg, p.ResponseCancel):
            await self._stop_speaking("cancel")
        return None

    async def _update(self, change: p.SessionConfig) -> None:
        if change.sop is not None:
            from company.api.errors import ApiError

            try:
                self.api.sops.load(change.sop)
            except ApiError as exc:
                await self.error("invalid_sop", str(exc.detail))
                return
            self.sop = change.sop
        if change.audio_format is not None and change.audio_format != self.audio_format:
            self.decoder.close()
            self.audio_format = change.audio_format
            self.decoder = make_input(change.audio_format)
        if change.text is not None:
            self.text = change.text.strip()
        if change.speak is not None:
            self.speak = change.speak
        if change.partials is not None:
            self.partials = change.partials
        if change.silence_ms is not None:
            self.turns.set_silence(change.silence_ms)
        await self.emit(p.SessionUpdated(session=self.info()))

    async def _audio(self, data: bytes) -> None:
        try:
            samples = await self.decoder.feed(data)
        except WrongAudioFormat as exc:
            await self.error("wrong_audio_format", str(exc))
            if self.audio_format == "webm":  # start over: the next frame must be a new stream
                self.decoder.close()
                self.decoder = make_input(self.audio_format)
            return
        if not samples.size:
            return
        probs = self.vad.feed(pcm_to_float(samples))
        for event in self.turns.push(samples, probs):
            await self._turn_event(event)
        self._maybe_partial()

    # turns ---------------------------------------------------------------------------------
    async def _turn_event(self, event: TurnEvent) -> None:
        if isinstance(event, TurnStarted):
            self.turn += 1
            self._prefix = StablePrefix()
            self._partial_mark = 0
            await self._stop_speaking("barge_in")
            await self.emit(p.SpeechStarted(turn=self.turn, audio_start_ms=event.start_ms))
            return
        assert isinstance(event, TurnEnded)
        self._cancel_partial()
        await self.emit(p.SpeechStopped(turn=self.turn, audio_end_ms=event.end_ms,
                                        reason=event.reason))
        waiting = self._turn_queue.qsize() + len(self._submissions)
        if waiting >= self.settings.max_pending_turns:
            await self.error("too_many_turns", f"{waiting} turns are waiting for the company; "
                             f"turn {self.turn} was dropped")
            return
        self._turn_queue.put_nowait((self.turn, event.audio))

    def _maybe_partial(self) -> None:
        """Start a partial decode when the turn has grown by the cadence and none is running."""
        if not self.partials or not self.turns.in_turn:
            return
        if self._partial is not None and not self._partial.done():
            return
        audio = self.turns.turn_audio()
        every = self.settings.partial_every_ms * SAMPLE_RATE // 1000
        if audio.size - self._partial_mark < every:
            return
        self._partial_mark = audio.size
        self._partial = self._spawn(self._decode_partial(self.turn, audio.copy()), "partial")

    async def _decode_partial(self, turn: int, audio: np.ndarray) -> None:
        from company.speech.errors import SpeechError

        try:
            result = await self._speech().transcribe(pcm_to_float(audio),
                                                     name=f"{self.id} turn {turn}")
        except SpeechError:
            return
        if turn != self.turn or not self.turns.in_turn:
            return
        delta = self._prefix.update(result.text)
        if delta:
            await self.emit(p.TranscriptDelta(turn=turn, delta=delta, text=self._prefix.text))
        self._partial = None
        self._maybe_partial()

    def _cancel_partial(self) -> None:
        if self._partial is not None and not self._partial.done():
            self._partial.cancel()
        self._partial = None

    def _speech(self) -> Any:
        return self.api.company.services.speech()

    async def _warm(self) -> None:
        """Load Whisper now, so the first partial does not wait for it (errors show later)."""
        try:
            await self._speech().load()
        except Exception as exc:  # best effort: the first real decode reports the problem
            log.debug("realtime session %s: Whisper did not load: %s", self.id, exc)

    async def _turn_worker(self) -> None:
        """Finish turns in order: store, transcribe (``transcript.done``), then submit."""
        while True:
            turn, audio = await self._turn_queue.get()
            await self._finish_turn(turn, audio)

    async def _finish_turn(self, turn: int, audio: np.ndarray) -> None:
        from company.company import new_task_id
        from company.speech.errors import SpeechError

        if self.task_id is None and self._new_task_id is None:
            self._new_task_id = new_task_id()
        task_id = self.task_id or self._new_task_id
        assert task_id is not None
        path = await asyncio.to_thread(write_turn, self.api.config.workspace / task_id, audio)
        filename = f"realtime-turn-{turn}.wav"
        try:
            final = await self._speech().transcribe(path, name=filename)
        except SpeechError as exc:
            path.unlink(missing_ok=True)
            await self.error("transcription_failed", f"turn {turn}: {exc}")
            return
        await self.emit(p.TranscriptDone(turn=turn, text=final.text, language=final.language,
                                         duration_s=round(audio.size / SAMPLE_RATE, 3)))
        self._submissions.append((turn, path, filename))
        await self._submit_next()

    async def _submit_next(self) -> None:
        """Hand the oldest finished turn to the company unless the session's task is running."""
        from company.api.errors import ApiError
        from company.status import TaskStatus

        if not self._submissions:
            return
        if self.task_id is not None and self.api.pool.state(self.task_id) is TaskStatus.RUNNING:
            return  # the forwarder submits it when the run has finished
        if self._forwarder is not None and not self._forwarder.done():
            return
        turn, path, filename = self._submissions.popleft()
        try:
            if self.task_id is None:
                assert self._new_task_id is not None
                await start_task(self.api, self._new_task_id, path, text=self.text,
                                 sop=self.sop, filename=filename)
                self.task_id = self._new_task_id
                await self.emit(p.TaskCreated(turn=turn, task_id=self.task_id,
                                              events_url=f"/v1/tasks/{self.task_id}/events"))
            else:
                await follow_up(self.api, self.task_id, path, filename=filename)
                await self.emit(p.TaskFollowedUp(turn=turn, task_id=self.task_id))
        except ApiError as exc:
            if exc.status == 409 and self._retries < MAX_RETRIES:  # still running: later
                self._retries += 1
                self._submissions.appendleft((turn, path, filename))
                self._spawn(self._retry_later(), "retry")
                return
            self._retries = 0
            path.unlink(missing_ok=True)
            await self.error("task_rejected", f"turn {turn}: {exc.detail}")
            return
        self._retries = 0
        await self.emit(p.ResponseCreated(turn=turn, task_id=self.task_id))
        self._forwarder = self._spawn(self._forward(self.task_id, turn), "forward")

    async def _retry_later(self) -> None:
        await asyncio.sleep(RETRY_S)
        await self._submit_next()

    # the company's work --------------------------------------------------------------------
    async def _forward(self, task_id: str, turn: int) -> None:
        """Forward the task's events until its run ends; then ``response.done`` and speech."""
        from company.api.sse import event_source, public_data
        from company.events import EventKind

        finished: Event | None = None
        async for event in event_source(self.api, task_id, self._event_seq):
            self._event_seq = event.seq
            await self.emit(p.TaskEvent(task_id=task_id, seq=event.seq, kind=str(event.kind),
                                        at=event.at.isoformat(),
                                        data=public_data(event, self.api.settings)))
            if event.kind in (EventKind.TASK_FINISHED, EventKind.TASK_INTERRUPTED):
                finished = event
                if event.kind is EventKind.TASK_FINISHED:
                    break
        await self._respond(task_id, turn, finished)
        await self._wait_idle(task_id)
        self._forwarder = None
        await self._submit_next()

    async def _wait_idle(self, task_id: str, timeout_s: float = 30.0) -> None:
        """Wait until this server no longer runs the task (a follow-up may be sent then)."""
        from company.status import TaskStatus

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.api.pool.state(task_id) is TaskStatus.RUNNING and loop.time() < deadline:
            await asyncio.sleep(0.02)

    async def _respond(self, task_id: str, turn: int, finished: Event | None) -> None:
        from company.api.previews import clip_text, report_url

        task = self.api.company.store.get_task(task_id)
        status = str(task.status) if task is not None else "unknown"
        report = task.report if task is not None else None
        answer = lead_answer(report, self.settings.max_spoken_chars) if report else None
        error = task.error if task is not None else "the task is gone"
        if finished is None and task is not None and task.status.value == "running":
            error = "the run stopped before it finished"
        view = self.api.settings.max_view_chars
        await self.emit(p.ResponseDone(
            turn=turn, task_id=task_id, status=status, answer=answer or None,
            report=clip_text(report, view, report_url(task_id)) if report else None,
            error=error))
        if answer and self.speak:
            await self._stop_speaking("cancel")
            self._speaking_turn = turn
            self._speaker = self._spawn(self._say(turn, answer), "speak")

    async def _say(self, turn: int, text: str) -> None:
        """Speak ``text`` as ``response.audio.delta`` chunks, paced a little ahead of playback."""
        from company.realtime.tts import TtsUnavailable

        try:
            speech = await asyncio.to_thread(self.hub.synthesizer().synthesize, text)
        except TtsUnavailable as exc:
            await self.error("tts_unavailable", str(exc))
            return
        rate = speech.sample_rate
        step = max(1, rate * self.settings.audio_chunk_ms // 1000)
        lead = self.settings.audio_lead_ms / 1000
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._spoken_s = 0.0
        chunks = 0
        for index, first in enumerate(range(0, speech.samples.size, step)):
            due = started + first / rate - lead
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            piece = speech.samples[first:first + step].astype("<i2").tobytes()
            await self.emit(p.AudioDelta(turn=turn, index=index, sample_rate=rate,
                                         audio=base64.b64encode(piece).decode()))
            chunks += 1
            self._spoken_s = min(speech.duration_s, (first + step) / rate)
        await self.emit(p.AudioDone(turn=turn, chunks=chunks,
                                    duration_s=round(speech.duration_s, 3)))

    async def _stop_speaking(self, reason: Literal["barge_in", "cancel"]) -> None:
        """Barge-in or ``response.cancel``: stop the spoken answer if it is still going."""
        speaker, self._speaker = self._speaker, None
        if speaker is None or speaker.done():
            return
        speaker.cancel()
        with contextlib.suppress(BaseException):
            await speaker
        await self.emit(p.AudioCancelled(turn=self._speaking_turn, reason=reason,
                                         sent_s=round(self._spoken_s, 3)))

