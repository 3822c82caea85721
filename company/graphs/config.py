"""Settings for the graph engine: local runner guard rails, web limits, models, remote server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


class RemoteSettings(BaseModel):
    """How to reach a real AutoGPT server."""

    base_url: str = "http://localhost:8006"
    api: Literal["external", "internal"] = "external"
    api_key: SecretStr | None = None  # external API: header X-API-Key
    bearer_token: SecretStr | None = None  # internal API: Authorization: Bearer <JWT>
    request_timeout_s: float = Field(30.0, gt=0)
    poll_initial_s: float = Field(1.0, gt=0)
    poll_max_s: float = Field(15.0, gt=0)
    poll_backoff: float = Field(2.0, ge=1.0)
    timeout_s: float = Field(900.0, gt=0)

    @property
    def configured(self) -> bool:
        """Whether a server is set up to run graphs: the API's key (external) or token
        (internal) is given. Then graphs with blocks that do not run here go to it."""
        secret = self.api_key if self.api == "external" else self.bearer_token
        return secret is not None and bool(secret.get_secret_value().strip())


class YouTubeSettings(BaseModel):
    """TranscribeYoutubeVideoBlock: caption languages, and the Whisper fallback's bounds."""

    # Caption languages by preference; when none has captions, any caption track is taken.
    languages: list[str] = Field(default_factory=lambda: ["en"])
    # No captions (or disabled): download the audio and transcribe it with our Whisper service.
    whisper_fallback: bool = True
    max_audio_minutes: float = Field(60.0, gt=0)
    max_audio_bytes: int = Field(100 * 1024 * 1024, ge=1)
    download_timeout_s: float = Field(600.0, gt=0)  # the whole audio download
    # http(s)/socks5 proxy for caption requests and the audio download (may carry user:pass).
    proxy_url: SecretStr | None = None


class SearchSettings(BaseModel):
    """SearchTheWebBlock's backend: a SearXNG instance (default) or Jina's search API.

    These URLs are operator configuration, so their origins are trusted: a SearXNG on
    localhost or the LAN is reached even with `allow_private_network` off. Page URLs that come
    from graph inputs stay guarded, and so does any redirect that leaves a backend's origin.
    """

    kind: Literal["searxng", "jina"] = "searxng"
    # SearXNG: GET {base_url}/search?q=...&format=json ("json" must be in its search.formats).
    base_url: str = "http://localhost:8888"
    jina_base_url: str = "https://s.jina.ai"
    jina_api_key: SecretStr | None = None  # else the environment variable jina_api_key_env
    jina_api_key_env: str = "JINA_API_KEY"
    max_results: int = Field(5, ge=1, le=100)  # SearXNG results kept (Jina returns its own 5)
    timeout_s: float = Field(20.0, gt=0)

    @field_validator("base_url", "jina_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """An http(s) URL, kept without its trailing slash."""
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value.rstrip("/")

    def resolved_jina_key(self) -> str | None:
        """The Jina API key: configured, else from the environment; None when neither is set."""
        if self.jina_api_key is not None and self.jina_api_key.get_secret_value().strip():
            return self.jina_api_key.get_secret_value().strip()
        return os.environ.get(self.jina_api_key_env, "").strip() or None


class GraphSettings(BaseModel):
    """Configuration of the local graph runner and of the remote client."""

    # Where the Executor runs plan steps. "local": in-process when every block runs here, else
    # on the AutoGPT server in `remote` when one is configured (hybrid). "remote": every step on
    # that server (each graph's own id and version must exist there).
    executor: Literal["local", "remote"] = "local"

    timeout_s: float = Field(300.0, gt=0)
    max_node_executions: int = Field(20_000, ge=1)
    max_parallel_nodes: int = Field(16, ge=1)
    max_subgraph_depth: int = Field(5, ge=0)
    web_timeout_s: float = Field(20.0, gt=0)
    web_max_response_bytes: int = Field(5 * 1024 * 1024, ge=1)
    web_max_redirects: int = Field(5, ge=0)
    allow_private_network: bool = False
    wikipedia_base_url: str = "https://en.wikipedia.org"
    user_agent: str = "the-company-graphs/0.1"
    # Graph model name -> configured model; "default" catches unknown names ("" = LLM default).
    model_map: dict[str, str] = Field(default_factory=lambda: {"default": ""})
    # The Planner's graphs; a relative path is relative to the project root (beside config/).
    catalogue_dir: Path = Path("config/graphs")
    remote: RemoteSettings = Field(default_factory=RemoteSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    youtube: YouTubeSettings = Field(default_factory=YouTubeSettings)

    # ----- limits on what graph data and block work may cost -----
    # One node output value (approximate UTF-8 JSON size), one rendered template, and any
    # single value a template builds while rendering.
    max_value_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # Every node output of one run together (sub-graph runs included); over it the run fails.
    max_run_output_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    # Wall time of one CPU-heavy operation (regex, template, XML parse) on a worker thread.
    block_cpu_timeout_s: float = Field(10.0, gt=0)
    # Everything one template render builds (strings, lists, retained values) in all.
    template_max_work_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # Loop iterations of one template render, all loops together.
    template_max_loop_iterations: int = Field(1_000_000, ge=1)
    # A user regex with its fixed repeats expanded (`(ab){3}` counts 6).
    max_regex_size: int = Field(10_000, ge=1)
    # Graph files and graphs at load, before any object is built (sub-graphs included).
    max_graph_file_bytes: int = Field(4 * 1024 * 1024, ge=1)
    max_graph_nodes: int = Field(2_000, ge=1)
    max_graph_links: int = Field(10_000, ge=0)

    def catalogue_path(self) -> Path:
        """`catalogue_dir`, a relative path taken from the project root."""
        if self.catalogue_dir.is_absolute():
            return self.catalogue_dir
        from company.config import PROJECT_ROOT

        return PROJECT_ROOT / self.catalogue_dir
