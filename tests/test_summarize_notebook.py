"""SummarizeResults reads the notebook: the open items and kept ideas that share words with the
Boss's request are in the report's prompt, and their numbers may be quoted."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.run_graphs import RunGraphs
from actions.summarize_results import SummarizeResults
from actions.write_plan import WritePlan
from company.boss import UserRequirement
from company.config import AppConfig
from company.notebook import Notebook
from company.payloads import GraphResults, Plan
from tests.action_support import harness, offline_config


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    return offline_config(tmp_path)


async def test_the_report_answers_from_the_matching_notes(config, store):
    notebook = Notebook(store)
    invoice = notebook.add("item", "Send the invoice for 340 EUR to Bob by Friday")[0]
    notebook.add("item", "Renew the passport")
    notebook.add("idea", "Likes window seats")
    answer = "The invoice for 340 EUR to Bob is still open for Friday."
    h = harness(config, store, {"SummarizeResults": answer})
    h.remember("What is still due for Friday?", UserRequirement)
    h.remember("plan", WritePlan, Plan(notes="nothing to run"), sent_from="Planner")
    results = h.remember("results", RunGraphs, GraphResults(), sent_from="Executor")
    [out] = await h.publish(SummarizeResults, [results])
    [prompt] = h.prompts("SummarizeResults")
    assert ("In the Boss's notebook (answer from it when the Boss asks about it):\n"
            f"- open item #{invoice.id} (medium): Send the invoice for 340 EUR to Bob by Friday\n"
            ) in prompt
    assert "passport" not in prompt and "window" not in prompt  # no shared words
    assert out.payload.unchecked is None and out.content.startswith(answer)  # 340 is known
    assert h.events == []


async def test_no_matching_note_leaves_the_prompt_as_it_was(config, store):
    Notebook(store).add("item", "Renew the passport")
    h = harness(config, store, {"SummarizeResults": "Nothing was run."})
    h.remember("Count the words of 'good morning'", UserRequirement)
    h.remember("plan", WritePlan, Plan(), sent_from="Planner")
    results = h.remember("results", RunGraphs, GraphResults(), sent_from="Executor")
    await h.publish(SummarizeResults, [results])
    assert "notebook" not in h.prompts("SummarizeResults")[0]
