"""RunOptions: everything a caller may choose for a run, resolved in one place with one rule:
a choice made for this run (a flag, an API field, a sweep's setting) beats the SOP's, which
beats the config's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from company.config import AppConfig
from company.llm.cache import CacheMode
from company.llm.usage import Budget
from company.sop import SOP, load_sop


class RunOptions(BaseModel):
    """The choices of one run; ``None`` leaves it to the SOP, then the config. ``sop`` (a name,
    a path or a parsed SOP) applies when a task is created: a task keeps its SOP."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    sop: SOP | str | None = None
    model: str | None = Field(default=None, min_length=1)
    n_round: int | None = Field(default=None, ge=1)
    investment: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, gt=0)
    max_llm_calls: int | None = Field(default=None, gt=0)
    cache_mode: CacheMode | None = None
    cache_namespace: str | None = None
    write_workspace: bool | None = None

    def over(self, base: RunOptions) -> RunOptions:
        """These options where set, else ``base``'s (a resume's flags over the stored ones)."""
        chosen = {name: getattr(self, name) for name in self.model_fields_set
                  if getattr(self, name) is not None}
        return base.model_copy(update=chosen)

    def stored(self) -> dict[str, Any]:
        """What a task keeps of these options (the SOP is stored as the task's own)."""
        return self.model_dump(mode="json", exclude={"sop"}, exclude_none=True)


class RunSettings(BaseModel):
    """A run's options resolved: nothing left open."""

    model_config = ConfigDict(frozen=True)

    sop: SOP
    model: str
    n_round: int
    budget: Budget
    cache_mode: CacheMode
    cache_namespace: str
    write_workspace: bool
    llm_options: dict[str, Any]


def choose_sop(options: RunOptions, config: AppConfig) -> SOP:
    """The SOP a new task runs: the options' (parsed, or loaded by name/path), else the
    config's ``sop``. Raises SOPError for a bad one."""
    chosen = options.sop if options.sop is not None else config.sop
    return chosen if isinstance(chosen, SOP) else load_sop(chosen)


def resolve_run(options: RunOptions, sop: SOP, config: AppConfig) -> RunSettings:
    """The one place a run's model, limits, budget and caching are decided: options > SOP >
    config. A model given as ``--llm``/``COMPANY_LLM`` (``llm.force_model``) counts as chosen
    for this run, so it beats the SOP's."""
    llm, limits = config.llm, config.limits
    flagged = llm.model if llm.force_model else None
    return RunSettings(
        sop=sop,
        model=options.model or flagged or sop.llm.model or llm.model,
        n_round=options.n_round or sop.limits.n_round or limits.n_round,
        budget=Budget(
            max_cost=options.investment or sop.limits.investment or limits.investment,
            max_tokens=options.max_tokens or sop.limits.max_tokens or limits.max_tokens,
            max_llm_calls=(options.max_llm_calls or sop.limits.max_llm_calls
                           or limits.max_llm_calls),
        ),
        cache_mode=options.cache_mode or CacheMode(str(llm.cache)),
        cache_namespace=options.cache_namespace or "shared",
        write_workspace=True if options.write_workspace is None else options.write_workspace,
        llm_options={**llm.options, **sop.llm.options},
    )
