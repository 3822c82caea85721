"""RunOptions and resolve_run: options > SOP > config for every choice, ``--llm`` beating the
SOP's model, ``over`` for a resume, what a task stores, and what is refused."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from company.company import RUN_OPTIONS, Company
from company.config import AppConfig
from company.llm.cache import CacheMode
from company.llm.scripted import ScriptedProvider
from company.run_options import RunOptions, RunSettings, resolve_run
from company.sop import parse_sop
from company.status import TaskStatus
from tests.action_support import offline_config
from tests.conftest import ANALYSIS, PLAN, REPORT

FULL_SOP = parse_sop(
    "name: opts\nroles:\n  - name: Analyst\n  - name: Planner\n  - name: Executor\n"
    "limits: {n_round: 4, investment: 2.5, max_tokens: 900, max_llm_calls: 9}\n"
    "llm: {model: sop-model, options: {temperature: 0.5, seed: 1}}\n", source="opts.yaml")
BARE_SOP = parse_sop("name: bare\nroles:\n  - name: Analyst\n", source="bare.yaml")

Pick = Callable[[RunSettings], object]
FIELDS: list[tuple[str, Pick, object, object, object]] = [
    # field, where it lands, the option's value, the SOP's, the config's
    ("model", lambda s: s.model, "option-model", "sop-model", "config-model"),
    ("n_round", lambda s: s.n_round, 11, 4, 7),
    ("investment", lambda s: s.budget.max_cost, 9.5, 2.5, 1.0),
    ("max_tokens", lambda s: s.budget.max_tokens, 5000, 900, 100),
    ("max_llm_calls", lambda s: s.budget.max_llm_calls, 30, 9, 5),
]


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """A config whose every limit differs from the SOPs' (and no model server)."""
    cfg = offline_config(tmp_path)
    cfg.llm.model = "config-model"
    cfg.limits.n_round, cfg.limits.investment = 7, 1.0
    cfg.limits.max_tokens, cfg.limits.max_llm_calls = 100, 5
    return cfg


# precedence --------------------------------------------------------------

@pytest.mark.parametrize(("field", "pick", "option", "sop", "conf"), FIELDS,
                         ids=[f[0] for f in FIELDS])
def test_options_beat_the_sop_which_beats_the_config(config, field, pick, option, sop, conf):
    assert pick(resolve_run(RunOptions(**{field: option}), FULL_SOP, config)) == option
    assert pick(resolve_run(RunOptions(), FULL_SOP, config)) == sop
    assert pick(resolve_run(RunOptions(), BARE_SOP, config)) == conf
    assert pick(resolve_run(RunOptions(**{field: option}), BARE_SOP, config)) == option


def test_a_forced_model_beats_the_sops_but_not_an_explicit_option(config):
    config.llm.model, config.llm.force_model = "flag-model", True
    assert resolve_run(RunOptions(), FULL_SOP, config).model == "flag-model"
    assert resolve_run(RunOptions(model="option-model"), FULL_SOP, config).model == "option-model"
    config.llm.force_model = False
    assert resolve_run(RunOptions(), FULL_SOP, config).model == "sop-model"


def test_the_rest_of_a_run_is_resolved_too(config):
    config.llm.options = {"temperature": 0, "top_p": 0.9}
    config.llm.cache = "replay"
    settings = resolve_run(RunOptions(), FULL_SOP, config)
    assert settings.sop is FULL_SOP
    assert settings.llm_options == {"temperature": 0.5, "top_p": 0.9, "seed": 1}  # SOP wins
    assert settings.cache_mode is CacheMode.REPLAY and settings.cache_namespace == "shared"
    assert settings.write_workspace is True
    chosen = resolve_run(RunOptions(cache_mode="record", cache_namespace="sweep-1",
                                    write_workspace=False), FULL_SOP, config)
    assert chosen.cache_mode is CacheMode.RECORD and chosen.cache_namespace == "sweep-1"
    assert chosen.write_workspace is False


# over and stored ---------------------------------------------------------

def test_over_keeps_what_the_override_leaves_unset():
    base = RunOptions(model="stored", n_round=2, investment=1.5, cache_mode="record",
                      write_workspace=True)
    merged = RunOptions(n_round=5, write_workspace=False).over(base)
    assert merged == RunOptions(model="stored", n_round=5, investment=1.5,
                                cache_mode="record", write_workspace=False)
    assert base.n_round == 2 and base.write_workspace is True  # the base is not changed


def test_over_ignores_fields_given_as_none():
    """The CLI passes every flag, ``RunOptions(n_round=None, ...)``: None means not chosen."""
    base = RunOptions(model="stored", n_round=2)
    assert RunOptions(model=None, n_round=None, investment=None).over(base) == base


def test_over_keeps_a_parsed_sop_an_sop():
    merged = RunOptions(sop=FULL_SOP).over(RunOptions(model="stored"))
    assert merged.sop is FULL_SOP or merged.sop == FULL_SOP
    assert merged.model == "stored"


def test_stored_drops_the_sop_and_the_nones():
    options = RunOptions(sop="default", model="m", n_round=3, investment=None,
                         cache_mode=CacheMode.RECORD, write_workspace=False)
    stored = options.stored()
    assert stored == {"model": "m", "n_round": 3, "cache_mode": "record",
                      "write_workspace": False}
    assert json.loads(json.dumps(stored)) == stored  # plain JSON for the store
    assert RunOptions.model_validate(stored) == options.model_copy(update={"sop": None})
    assert RunOptions(sop=FULL_SOP).stored() == {}


# refused -----------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field"), [
    ({"n_round": 0}, "n_round"),
    ({"n_round": -3}, "n_round"),
    ({"investment": math.nan}, "investment"),
    ({"investment": math.inf}, "investment"),
    ({"investment": 0}, "investment"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_llm_calls": 0}, "max_llm_calls"),
    ({"model": ""}, "model"),
    ({"cache_mode": "sometimes"}, "cache_mode"),
    ({"speed": 2}, "speed"),
])
def test_invalid_options_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValidationError) as caught:
        RunOptions(**kwargs)
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]
    if field == "speed":
        assert caught.value.errors()[0]["type"] == "extra_forbidden"


# a stored task's options ---------------------------------------------------

def company_with_task(config, store, options: RunOptions) -> tuple[Company, str]:
    provider = ScriptedProvider({"AnalyzeRequest": ANALYSIS, "WritePlan": PLAN,
                                 "SummarizeResults": REPORT})
    company = Company(config, store=store, provider=provider)
    return company, company.create_task("Multiply 6 by 7", options)


def test_settings_for_merges_the_stored_options_with_the_given_ones(config, store):
    company, task_id = company_with_task(
        config, store, RunOptions(sop=FULL_SOP, n_round=2, model="stored-model"))
    task = store.get_task(task_id)
    assert task.options[RUN_OPTIONS] == {"model": "stored-model", "n_round": 2}
    assert task.llm_spec.endswith(":stored-model")
    stored = company.settings_for(task)
    assert (stored.sop.name, stored.n_round, stored.model) == ("opts", 2, "stored-model")
    assert stored.budget.max_cost == 2.5  # the task's SOP, not the config's default one
    resumed = company.settings_for(task, RunOptions(n_round=5))
    assert (resumed.n_round, resumed.model) == (5, "stored-model")
    other = company.settings_for(task, RunOptions(model="resume-model", max_llm_calls=3))
    assert (other.n_round, other.model, other.budget.max_llm_calls) == (2, "resume-model", 3)


async def test_a_resumes_n_round_wins_for_that_run_only(config, store):
    company, task_id = company_with_task(config, store, RunOptions(sop=FULL_SOP, n_round=1))
    first = await company.run_task(task_id)
    assert first.status is TaskStatus.FAILED
    assert first.error == "stopped after 1 rounds (n_round=1) with work left for Planner"
    resumed = await company.run_task(task_id, RunOptions(n_round=5))
    assert resumed.status is TaskStatus.DONE, resumed.error
    assert resumed.rounds == 4 and resumed.report.startswith(REPORT)
    assert [m.cause_by for m in store.messages(task_id)] == [
        "UserRequirement", "AnalyzeRequest", "WritePlan", "RunGraphs", "SummarizeResults"]
    assert company.settings_for(store.get_task(task_id)).n_round == 1  # stored ones unchanged
