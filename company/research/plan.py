"""A sweep's settings (saved as ``sweep.json``) and its expansion into isolated runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from company.config import AppConfig, apply_llm_spec
from company.llm.spec import parse_llm_spec
from company.research.errors import ResearchInputError
from company.research.requests import RequestSet, check_graph_names, load_requests
from company.research.voice import check_speakable
from company.sop import SOP, SOPError, load_sop, resolve_sop_path

SWEEP_FILE = "sweep.json"
CacheChoice = Literal["record", "auto", "replay"]


class SweepConfig(BaseModel):
    """What a sweep runs and how; saved in the sweep directory so ``--resume`` continues it."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    sops: list[str] = Field(min_length=1)
    sop_digests: dict[str, str] = Field(default_factory=dict)
    requests: str
    requests_digest: str = ""
    repeat: int = Field(default=1, ge=1)
    llms: list[str] = Field(default_factory=list)
    concurrency: int = Field(default=2, ge=1)
    judge: bool = False
    judge_llm: str | None = None
    cache_mode: CacheChoice = "record"
    cache_from: str | None = None
    config: str | None = None

    def save(self, out: Path) -> None:
        """Write ``sweep.json`` into the sweep directory."""
        out.mkdir(parents=True, exist_ok=True)
        (out / SWEEP_FILE).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, out: Path) -> SweepConfig:
        """Read a sweep directory's ``sweep.json``."""
        path = out / SWEEP_FILE
        if not path.is_file():
            raise ResearchInputError(f"{path}: no saved sweep here (is {out} a sweep directory?)")
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ResearchInputError(f"{path}: not a valid saved sweep: {exc}") from None


class ModelChoice(BaseModel):
    """One model a sweep compares: its label in run ids and the config that reaches it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    label: str
    model: str
    spec: str
    config: AppConfig


class RunSpec(BaseModel):
    """One isolated run: an SOP, a request, a model and a repeat number."""

    run_id: str
    sop: str
    sop_digest: str
    request_id: str
    model: str
    model_label: str
    repeat: int
    namespace: str


class SweepPlan(BaseModel):
    """A validated sweep: the SOPs, the requests, the models and every run, in order."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: SweepConfig
    sops: dict[str, SOP]
    requests: RequestSet
    models: dict[str, ModelChoice]
    runs: list[RunSpec]
    judge: ModelChoice | None = None


def sanitize(text: str) -> str:
    """A string safe as a task id and a directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "x"


def load_sops(names: list[str]) -> dict[str, SOP]:
    """Load and validate every SOP (parsing resolves its roles and actions to classes) and
    check its prompt files exist."""
    sops: dict[str, SOP] = {}
    files: dict[str, str] = {}
    for name in names:
        path = resolve_sop_path(name)
        try:
            sop = load_sop(str(path.resolve()) if path.exists() else name)
        except SOPError as exc:
            raise ResearchInputError(str(exc)) from None
        if sop.name in sops:
            raise ResearchInputError(f"{sop.source}: SOP name {sop.name!r} is also used by "
                                     f"{files[sop.name]}; give each variant its own name")
        problems = []
        for action in sop.prompts:
            path = sop.prompt_path(action)
            if path is not None and not path.is_file():
                problems.append(f"{sop.source}: prompt for {action}: no such file {path}")
        if problems:
            raise ResearchInputError("\n".join(problems))
        sops[sop.name] = sop
        files[sop.name] = sop.source
    return sops


def model_choices(base: AppConfig, llms: list[str], sops: dict[str, SOP]) -> dict[str, ModelChoice]:
    """The models to compare: each ``--llm`` spec, or (none given) each SOP's own model."""
    choices: dict[str, ModelChoice] = {}
    if not llms:
        for sop in sops.values():
            model = base.llm.model if base.llm.force_model else (sop.llm.model or base.llm.model)
            label = sanitize(model)
            choices.setdefault(label, ModelChoice(label=label, model=model, spec="",
                                                  config=base))
        return choices
    for text in llms:
        try:
            spec = parse_llm_spec(text)
        except ValueError as exc:
            raise ResearchInputError(f"--llm {text!r}: {exc}") from None
        config = base.model_copy(deep=True)
        apply_llm_spec(config, spec)
        label = sanitize(spec.model)
        if label in choices:
            label = sanitize(f"{spec.provider}-{spec.model}")
        if label in choices:
            raise ResearchInputError(f"--llm {text!r}: the same model is given twice")
        choices[label] = ModelChoice(label=label, model=spec.model, spec=str(spec), config=config)
    return choices


def catalogue_names(config: AppConfig) -> set[str]:
    """The graph names the Planner may choose (config/graphs/)."""
    from company.graphs.errors import GraphError
    from company.services import Services

    try:
        return set(Services(config).catalogue().entries)
    except GraphError as exc:
        raise ResearchInputError(f"the graph catalogue cannot be loaded: {exc}") from None


def build_plan(settings: SweepConfig, base: AppConfig) -> SweepPlan:
    """Validate every input and expand the sweep into runs (nothing runs yet)."""
    sops = load_sops(settings.sops)
    requests = load_requests(settings.requests)
    check_graph_names(requests, catalogue_names(base))
    check_speakable(requests)
    models = model_choices(base, settings.llms, sops)
    runs: list[RunSpec] = []
    for sop in sops.values():
        own = sanitize(sop.llm.model or base.llm.model)
        for request in requests.requests:
            for choice in models.values():
                if not settings.llms and choice.label != own:
                    continue
                for k in range(1, settings.repeat + 1):
                    runs.append(RunSpec(
                        run_id=sanitize(f"{sop.name}-{request.id}-{choice.label}-r{k}"),
                        sop=sop.name, sop_digest=sop.digest, request_id=request.id,
                        model=choice.model, model_label=choice.label, repeat=k,
                        namespace=f"research:{sop.digest}:{request.id}:{choice.label}:r{k}",
                    ))
    ids = [r.run_id for r in runs]
    clash = sorted({i for i in ids if ids.count(i) > 1})
    if clash:
        raise ResearchInputError(f"run ids clash after sanitizing names: {', '.join(clash)}; "
                                 "rename the SOPs or request ids")
    judge = None
    if settings.judge:
        judge_spec = settings.judge_llm or (settings.llms[0] if settings.llms else None)
        if judge_spec is None:
            judge = next(iter(models.values()))
        else:
            judge = next(iter(model_choices(base, [judge_spec], sops).values()))
    return SweepPlan(settings=settings, sops=sops, requests=requests, models=models, runs=runs,
                     judge=judge)


def check_unchanged(plan: SweepPlan) -> None:
    """On resume: the SOP and request files must be what the sweep started with."""
    settings = plan.settings
    if settings.requests_digest and plan.requests.digest != settings.requests_digest:
        raise ResearchInputError(f"{settings.requests}: changed since the sweep started; "
                                 "its runs would not be comparable (start a new sweep)")
    for sop in plan.sops.values():
        before = settings.sop_digests.get(sop.source)
        if before and before != sop.digest:
            raise ResearchInputError(f"{sop.source}: changed since the sweep started; its runs "
                                     "would not be comparable (start a new sweep)")


def freeze(settings: SweepConfig, plan: SweepPlan) -> SweepConfig:
    """The settings with absolute file paths and the digests resume checks against."""
    return settings.model_copy(update={
        "sops": [sop.source for sop in plan.sops.values()],
        "sop_digests": {sop.source: sop.digest for sop in plan.sops.values()},
        "requests": plan.requests.path,
        "requests_digest": plan.requests.digest,
    })
