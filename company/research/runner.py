"""The sweep: every run isolated in its own Company task, concurrently up to a limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from company.company import Company
from company.llm.base import LLMError, Provider, ReplayMiss
from company.llm.cache import CacheMode
from company.llm.client import LLM
from company.llm.providers import build_provider
from company.llm.usage import CostManager
from company.payloads import VoiceRequestPayload
from company.prompts import PromptLibrary
from company.research.cache_import import SWEEP_DB
from company.research.judge import judge_report
from company.research.logs import write_messages
from company.research.metrics import RunRow, build_row, crashed_row
from company.research.plan import ModelChoice, RunSpec, SweepPlan
from company.research.requests import ResearchRequest
from company.research.runlog import RUNS_FILE, RunLog
from company.research.voice import VoiceNotes
from company.run import TaskOutcome
from company.run_options import RunOptions
from company.services import Services
from company.store import Store

RUNS_DIR = "runs"
REPLAY_MARK = "replay mode:"
OnRow = Callable[[RunRow], None]


class SweepOutcome(BaseModel):
    """What a sweep did: every row (plan order), how many ran now, replay misses."""

    rows: list[RunRow]
    ran: int = 0
    skipped: int = 0
    replay_misses: list[str] = Field(default_factory=list)


class Sweep:
    """Runs a plan's unfinished runs into a sweep directory (``sweep.db``, ``runs.jsonl``)."""

    def __init__(self, plan: SweepPlan, out: Path, store: Store, *,
                 on_row: OnRow | None = None) -> None:
        self.plan = plan
        self.out = out
        self.store = store
        self.on_row = on_row
        self.log = RunLog(out / RUNS_FILE)
        self.mode = CacheMode(plan.settings.cache_mode)
        self.configs = {label: c.config.model_copy(update={"workspace": out / RUNS_DIR})
                        for label, c in plan.models.items()}
        self.providers: dict[str, Provider] = {label: build_provider(cfg)
                                               for label, cfg in self.configs.items()}
        base = next(iter(self.configs.values()))
        self.services = Services(base)
        self.requests = {r.id: r for r in plan.requests.requests}
        self.judge_provider = build_provider(plan.judge.config) if plan.judge else None
        self.replay_misses: list[str] = []
        self.voices = VoiceNotes(out)

    def pending(self) -> list[RunSpec]:
        """The plan's runs that have no row in ``runs.jsonl`` yet."""
        done = self.log.load()
        return [spec for spec in self.plan.runs if spec.run_id not in done]

    async def run(self) -> SweepOutcome:
        """Run every unfinished run; on cancellation, let in-flight runs record it, re-raise."""
        pending = self.pending()
        semaphore = asyncio.Semaphore(self.plan.settings.concurrency)
        tasks = [asyncio.create_task(self._guarded(spec, semaphore), name=spec.run_id)
                 for spec in pending]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        done = self.log.load()
        rows = [done[spec.run_id] for spec in self.plan.runs]
        self.log.rewrite(rows)
        return SweepOutcome(rows=rows, ran=len(pending),
                            skipped=len(self.plan.runs) - len(pending),
                            replay_misses=sorted(self.replay_misses))

    async def _guarded(self, spec: RunSpec, semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            row = await self.run_one(spec)
            self.log.append(row)
            if self.on_row is not None:
                self.on_row(row)

    async def run_one(self, spec: RunSpec) -> RunRow:
        """One run in its own task (created, or resumed from the store), then its metrics."""
        request = self.requests[spec.request_id]
        sop = self.plan.sops[spec.sop]
        company = Company(self.configs[spec.model_label], store=self.store,
                          provider=self.providers[spec.model_label], services=self.services)
        options = RunOptions(sop=sop, model=spec.model, cache_mode=self.mode,
                             cache_namespace=spec.namespace)
        started = time.perf_counter()
        resumed = self.store.get_task(spec.run_id) is not None
        try:
            if not resumed:
                voice = await self.voice_of(request)
                company.create_task(request.request, options, voice=voice, task_id=spec.run_id,
                                    meta={"research": spec.model_dump()})
            outcome: TaskOutcome = await company.run_task(spec.run_id, options)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a run that cannot run is a row, not the end of the sweep
            return crashed_row(spec, exc, time.perf_counter() - started)
        wall = time.perf_counter() - started
        messages = self.store.messages(spec.run_id)
        write_messages(self.out / RUNS_DIR / spec.run_id / "messages.jsonl", messages)
        row = build_row(spec, outcome, messages, request.expect, wall_s=wall, resumed=resumed,
                        events=self.store.events(spec.run_id))
        if outcome.error and REPLAY_MARK in outcome.error:
            self.replay_misses.append(spec.run_id)
        if self.plan.judge is not None:
            row = await self._judge(spec, row, outcome.report, self.plan.judge)
        return row

    async def voice_of(self, request: ResearchRequest) -> VoiceRequestPayload | None:
        """The request's voice note (its ``audio`` file, or its ``speak`` words made into a WAV)
        with its typed text; None for a typed-only request."""
        audio = (await self.voices.wav(request.speak) if request.speak
                 else self.plan.requests.audio_path(request))
        if audio is None:
            return None
        return VoiceRequestPayload(audio_path=str(audio.resolve()), text=request.request,
                                   filename=audio.name)

    async def _judge(self, spec: RunSpec, row: RunRow, report: str | None,
                     judge: ModelChoice) -> RunRow:
        assert self.judge_provider is not None
        llm = LLM(
            self.judge_provider, model=judge.model,
            cost=CostManager(judge.config.llm.prices), store=self.store,
            cache_mode=CacheMode.REPLAY if self.mode is CacheMode.REPLAY else CacheMode.AUTO,
            cache_namespace=f"{spec.namespace}:judge:{judge.label}",
            max_retries=judge.config.llm.max_retries, options=judge.config.llm.options,
            bounds=judge.config.llm.bounds(),
        )
        try:
            verdict = await judge_report(llm, self.requests[spec.request_id], report,
                                         PromptLibrary())
        except LLMError as exc:
            if isinstance(exc, ReplayMiss):
                self.replay_misses.append(spec.run_id)
            return row.model_copy(update={"judge_reason": f"judge failed: {exc}"})
        return row.model_copy(update={"judge_score": verdict.score,
                                      "judge_reason": verdict.reason})


def open_store(out: Path) -> Store:
    """The sweep's SQLite store, ``DIR/sweep.db``."""
    out.mkdir(parents=True, exist_ok=True)
    return Store(out / SWEEP_DB)
