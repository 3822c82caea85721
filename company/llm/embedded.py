"""The embedded LLM: a GGUF model served in-process by llama.cpp (``xllamacpp``) on a private
loopback port, talked to through the OpenAI-compatible provider.

One server per (model file, settings) per process, started on first use and shared by every
task, graph LLM block, research run and the HTTP server; stopped at exit or by ``shutdown_all``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from company.llm.base import (
    ChatRequest,
    ChatResult,
    LLMServerError,
    LLMUnavailable,
    PullProgress,
)

if TYPE_CHECKING:
    from company.config import AppConfig

log = logging.getLogger(__name__)

DEFAULT_EMBEDDED_MODEL = "qwen2.5-coder:1.5b"
GGUF_MAGIC = b"GGUF"
TOKENIZE_TIMEOUT_S = 10.0
"""How long counting a prompt's tokens may take (loopback, no decoding)."""
TOKEN_COUNTS_KEPT = 4096
"""Texts whose token counts a provider remembers (history lines recur in every prompt)."""


def machine_threads() -> int:
    """The CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class EmbeddedSettings(BaseModel):
    """How the in-process llama.cpp server runs; None means sized to the machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(default=DEFAULT_EMBEDDED_MODEL,
                       description="a catalogue name (startup.py models list) or a .gguf path")
    threads: int | None = Field(default=None, ge=1, description="None: every core we may use")
    ctx_size: int = Field(default=8192, ge=512, description="context tokens, shared by slots")
    parallel: int | None = Field(default=None, ge=1, description="slots; None: 1 per 2 cores, "
                                 "at least 2, at most 4")
    max_tokens: int = Field(default=1024, ge=16, description="longest answer, in tokens: a "
                            "ceiling over every call's own bound (llm.max_answer_tokens)")
    start_timeout_s: float = Field(default=300.0, gt=0)
    request_timeout_s: float = Field(default=900.0, gt=0, description="HTTP limit of one "
                                     "request to the in-process server, a backstop: the "
                                     "shorter llm.call_deadline_s (300 s) ends a call first")

    def resolved_threads(self) -> int:
        """Threads for generation and prompt processing."""
        return self.threads or machine_threads()

    def resolved_parallel(self) -> int:
        """How many requests the server decodes at once."""
        return self.parallel or min(4, max(2, machine_threads() // 2))


def check_gguf(path: Path) -> None:
    """Refuse a file that is missing or is not a GGUF model before llama.cpp loads it."""
    if not path.is_file():
        raise LLMUnavailable(f"the embedded model file {path} does not exist")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise LLMUnavailable(f"{path} is not a GGUF model (it starts with {magic!r}, not "
                             "b'GGUF'); pass a .gguf file or a catalogue name")


class EmbeddedServer:
    """llama.cpp's HTTP server running inside this process on a loopback port."""

    def __init__(self, path: Path, alias: str, settings: EmbeddedSettings) -> None:
        self.path = path
        self.alias = alias
        self.settings = settings
        self.url: str | None = None
        self.load_s: float = 0.0
        self._server: Any = None
        self._lock = threading.Lock()

    def start(self) -> str:
        """Load the model and listen (idempotent, thread-safe); the server's base URL."""
        with self._lock:
            if self._server is not None and self.url:
                return self.url
            check_gguf(self.path)
            import xllamacpp

            params = xllamacpp.CommonParams()
            params.model.path = str(self.path)
            params.model_alias = {self.alias}
            params.n_ctx = self.settings.ctx_size
            params.n_parallel = self.settings.resolved_parallel()
            params.cpuparams.n_threads = self.settings.resolved_threads()
            params.cpuparams_batch.n_threads = self.settings.resolved_threads()
            params.hostnames = ["127.0.0.1"]
            params.port = 0  # a free port, chosen by the OS
            params.verbosity = -1
            params.use_jinja = True  # the model's own chat template: tool calls need it
            started = time.perf_counter()
            try:
                self._server = xllamacpp.Server(params)
                address = str(self._server.listening_address or "")
            except Exception as exc:  # llama.cpp reports load/bind failures as RuntimeError
                self._server = None
                raise LLMUnavailable(
                    f"the embedded llama.cpp server could not start with {self.path} "
                    f"({self.settings.ctx_size} context tokens, "
                    f"{self.settings.resolved_parallel()} slots): {exc}"
                ) from exc
            if not address.startswith("http"):
                self._server = None
                raise LLMUnavailable(f"the embedded llama.cpp server loaded {self.path} but is "
                                     f"not listening (address {address!r})")
            self.load_s = time.perf_counter() - started
            self.url = address.rstrip("/")
            log.info("embedded %s listening on %s (loaded in %.1fs)", self.alias, self.url,
                     self.load_s)
            return self.url

    def stop(self) -> None:
        """Stop the server and free the model (idempotent)."""
        with self._lock:
            server, self._server, self.url = self._server, None, None
        del server  # the destructor joins llama.cpp's main loop

    @property
    def running(self) -> bool:
        """True while the server is up."""
        return self._server is not None


_SERVERS: dict[tuple[str, EmbeddedSettings], EmbeddedServer] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_server(path: Path, alias: str, settings: EmbeddedSettings) -> EmbeddedServer:
    """The process-wide server of this model file and settings (not started yet, maybe)."""
    key = (str(path.resolve()), settings)
    with _REGISTRY_LOCK:
        server = _SERVERS.get(key)
        if server is None:
            server = _SERVERS[key] = EmbeddedServer(path, alias, settings)
        return server


def shutdown_all() -> None:
    """Stop every embedded server of this process."""
    with _REGISTRY_LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for server in servers:
        server.stop()


atexit.register(shutdown_all)


class EmbeddedProvider:
    """A provider that runs its GGUF model in-process; any requested model name maps to it."""

    name = "embedded"

    def __init__(
        self,
        model: str,
        settings: EmbeddedSettings,
        *,
        models_settings: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        pull_missing: bool = True,
    ) -> None:
        self.model = model
        self.settings = settings
        self.models_settings = dict(models_settings or {})
        self.timeout_s = timeout_s or settings.request_timeout_s
        self.pull_missing = pull_missing
        self._server: EmbeddedServer | None = None
        self._client: Any = None
        self._start_lock = asyncio.Lock()
        self._token_counts: dict[str, int] = {}

    @property
    def host(self) -> str:
        """Where the model runs (for messages and health checks)."""
        url = self._server.url if self._server is not None else None
        return f"embedded {self.model}" + (f" at {url}" if url else "")

    def _model_settings(self) -> Any:
        from company.models import ModelSettings

        return ModelSettings.model_validate(self.models_settings)

    def model_file(self) -> Path | None:
        """The GGUF file to serve: a path as given, else the verified cached catalogue file."""
        if self.model.endswith(".gguf") or os.sep in self.model:
            return Path(self.model).expanduser()
        from company.models import ModelError, cached_model_file, catalogue_entry

        entry = catalogue_entry(self.model, self._model_settings())
        if entry is None or entry.kind != "llm":
            raise LLMUnavailable(
                f"{self.model!r} is not an embedded model: give a catalogue name "
                "(`python startup.py models list`) or a .gguf path"
            )
        try:
            return cached_model_file(self.model, self._model_settings())
        except ModelError as exc:
            raise LLMUnavailable(str(exc)) from exc

    def _missing(self) -> LLMUnavailable:
        return LLMUnavailable(
            f"the embedded model {self.model} is not in the model cache; fetch it with "
            f"`python startup.py models pull {self.model}`"
        )

    async def ensure_model(self, model: str | None = None,
                           progress: PullProgress | None = None) -> None:
        """Make sure the model file is here (pulling it when allowed) and the server is up."""
        async with self._start_lock:
            if self._server is not None and self._server.running:
                return
            path = await asyncio.to_thread(self.model_file)
            if path is None:
                if not self.pull_missing:
                    raise self._missing()
                path = await asyncio.to_thread(self._pull, progress)
            server = shared_server(path, self.model, self.settings)
            try:
                url = await asyncio.wait_for(asyncio.to_thread(server.start),
                                             self.settings.start_timeout_s)
            except TimeoutError as exc:
                raise LLMUnavailable(
                    f"the embedded model {self.model} did not load within "
                    f"{self.settings.start_timeout_s:g} s"
                ) from exc
            from company.llm.openai_provider import OpenAICompatProvider

            self._server = server
            self._client = OpenAICompatProvider(f"{url}/v1", timeout_s=self.timeout_s)

    def _pull(self, progress: PullProgress | None) -> Path:
        from company.models import ModelError, pull_model

        def report(status: str, completed: int | None, total: int | None) -> None:
            if progress is not None:
                progress(status, completed, total)

        try:
            return pull_model(self.model, self._model_settings(), progress=report)
        except ModelError as exc:
            raise LLMUnavailable(str(exc)) from exc

    @property
    def context_tokens(self) -> int:
        """The context one request gets: llama.cpp shares ``ctx_size`` among its slots."""
        return self.settings.ctx_size // self.settings.resolved_parallel()

    async def count_tokens(self, text: str) -> int | None:
        """The tokens of ``text`` by the model's own tokenizer (llama.cpp's ``/tokenize``);
        None while the server is not running or does not answer (the caller estimates)."""
        import httpx

        from company.llm.guard import is_allowed

        if text in self._token_counts:
            return self._token_counts[text]
        server = self._server
        url = server.url if server is not None and server.running else None
        if not url or not is_allowed(url):
            return None
        try:
            async with httpx.AsyncClient(timeout=TOKENIZE_TIMEOUT_S) as http:
                response = await http.post(f"{url}/tokenize",
                                           json={"content": text, "add_special": False})
            tokens = response.json().get("tokens") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        if not isinstance(tokens, list):
            return None
        if len(self._token_counts) >= TOKEN_COUNTS_KEPT:
            self._token_counts.clear()
        self._token_counts[text] = len(tokens)
        return len(tokens)

    @property
    def answer_ceiling(self) -> int:
        """The longest answer this provider lets any call have (``llm.embedded.max_tokens``)."""
        return self.settings.max_tokens

    async def prepare(self) -> None:
        """Start the server if it is not running, so loading the model is not part of a
        call's deadline (``start_timeout_s`` bounds it)."""
        if self._client is None or self._server is None or not self._server.running:
            self._client = None
            await self.ensure_model()

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Answer with the embedded model (the request's model name is only a label), within
        its answer bound and never past ``llm.embedded.max_tokens``."""
        await self.prepare()
        ceiling = self.answer_ceiling
        bound = min(request.max_tokens or ceiling, ceiling)
        served = request.model_copy(update={"model": self.model, "max_tokens": bound})
        try:
            return await self._client.chat(served)
        except LLMServerError as exc:  # same kind (a rejected answer stays one), named
            raise type(exc)(f"embedded {self.model}: {exc}") from exc

    async def reachable(self) -> bool:
        """True when the server is up or its model file is in the cache."""
        if self._server is not None and self._server.running:
            return True
        try:
            return await asyncio.to_thread(self.model_file) is not None
        except LLMUnavailable:
            return False

    def stop(self) -> None:
        """Stop this provider's server (other providers of the same model share it)."""
        if self._server is not None:
            self._server.stop()
        self._server = None
        self._client = None


def from_config(config: AppConfig) -> EmbeddedProvider:
    """The provider table's factory: the configured model, run in this process."""
    llm = config.llm
    return EmbeddedProvider(llm.model, llm.embedded, models_settings=config.models,
                            pull_missing=llm.pull_missing)
