"""Settings for the graph engine: local runner guard rails, web limits, models, remote server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


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


class GraphSettings(BaseModel):
    """Configuration of the local graph runner and of the remote client."""

    # Where the Executor runs plan steps: in-process, or on the AutoGPT server in `remote`
    # (each catalogue graph's own id and version must exist there).
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
    catalogue_dir: Path = Path("config/graphs")
    remote: RemoteSettings = Field(default_factory=RemoteSettings)
