"""Heavy shared things, created lazily once per process: the graph catalogue and runner,
the remote AutoGPT client and the Whisper service."""

from __future__ import annotations

import threading
from typing import Any

from company.config import AppConfig


class Services:
    """Lazily built, process-wide helpers shared by every task."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, build: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def graph_settings(self) -> Any:
        """The graph runner's settings (company.graphs.config.GraphSettings)."""
        from company.graphs.config import GraphSettings

        return self._once("graph_settings", lambda: GraphSettings.model_validate(
            self.config.graphs))

    def catalogue(self) -> Any:
        """The graphs the Planner may choose from (`graphs.catalogue_dir`, default config/graphs;
        a relative path is taken from the project root)."""
        from company.graphs.catalogue import Catalogue

        settings = self.graph_settings()
        return self._once(
            "catalogue", lambda: Catalogue.load(settings.catalogue_path(), settings=settings)
        )

    def block_registry(self) -> Any:
        """The blocks graphs run with here (company.graphs.blocks.registry)."""
        from company.graphs.blocks.registry import default_registry

        return default_registry()

    def block_services(self) -> Any:
        """What blocks use besides their input: the key-value store of Persist/Retrieve
        (``<workspace>/graph_kv.sqlite``, shared with ``graphs run``) and Whisper for videos
        without captions (loaded only when one needs it)."""
        from company.graphs.blocks.base import BlockServices
        from company.graphs.kv import SqliteKeyValueStore
        from company.graphs.speech_port import whisper_transcribe

        settings = self.graph_settings()
        return self._once("block_services", lambda: BlockServices(
            kv=SqliteKeyValueStore(graph_kv_path(self.config),
                                   max_value_bytes=settings.max_value_bytes),
            transcribe=whisper_transcribe(self.speech)))

    def speech(self) -> Any:
        """The process-wide Whisper service (loads the model on first audio)."""
        from company.speech import WhisperSettings, get_service

        return self._once("speech", lambda: get_service(
            WhisperSettings.model_validate(self.config.speech)))


def graph_kv_path(config: AppConfig) -> Any:
    """Where graphs' persisted values live (Persist/RetrieveInformationBlock)."""
    return config.workspace / "graph_kv.sqlite"
