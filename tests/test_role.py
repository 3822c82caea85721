"""Role: watch sets, triggers, the react modes (by_trigger, react, plan_and_act and the
deprecated by_order), binding to a task's context, and payload checks."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pydantic import BaseModel

from company.action import Action, ActionOutput
from company.boss import UserRequirement
from company.config import AppConfig
from company.environment import Environment
from company.message import Message
from company.role import ReactMode, Role
from company.sop import load_sop
from roles.planner import Planner
from tests.action_support import harness, offline_config


class Topic(BaseModel):
    """The payload the typed test actions declare."""

    text: str


class Other(BaseModel):
    """A payload no test action declares."""

    n: int


class Say(Action):
    """Says its own name and the news it saw, so outputs show which action ran."""

    description = "say what was heard"

    async def run(self, news: list[Message]) -> ActionOutput | None:
        return ActionOutput(content=f"{self.name}: {','.join(m.content for m in news)}")


class Greet(Say):
    triggers = (UserRequirement,)
    description = "greet the Boss"


class Count(Say):
    triggers = ("Greet",)
    description = "count the greetings"


class Echo(Say):
    triggers = (UserRequirement,)
    description = "echo the Boss"


class Listen(Say):
    description = "listen to anything"


def typed(answer: ActionOutput) -> type[Action]:
    """An action named Typed that declares a Topic payload and publishes ``answer``."""

    class Typed(Action):
        triggers = (UserRequirement,)
        payload = Topic

        async def run(self, news: list[Message]) -> ActionOutput | None:
            return answer.model_copy()

    return Typed


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    """No fake model server: the scripted provider answers every call."""
    return offline_config(tmp_path)


def boss(text: str = "hi") -> Message:
    return Message(content=text)


def said(outputs: list[ActionOutput]) -> list[str]:
    return [o.cause_by for o in outputs]


# watching -------------------------------------------------------------

def test_watch_takes_action_classes_and_names():
    role = Role(name="R", watch=[Greet, "Count"])
    assert role.watch == {"Greet", "Count"}
    assert role.wants(Message(content="x", cause_by="Greet", sent_from="A"))
    assert role.wants(Message(content="x", cause_by="Count", sent_from="A"))
    assert not role.wants(Message(content="x", cause_by="Echo", sent_from="A"))
    # a watched cause addressed to someone else is not news; an unwatched one addressed here is
    assert not role.wants(Message(content="x", cause_by="Greet", sent_from="A", send_to=["B"]))
    assert role.wants(Message(content="x", cause_by="Echo", sent_from="A", send_to=["R"]))


def test_default_watch_names_classes_and_names_too():
    class Listener(Role):
        default_watch = (Greet, "Count")

    assert Listener().watch == {"Greet", "Count"}
    assert Role(name="R", watch=[]).watch == set()


def test_underscore_watch_adds_to_the_watch_set():
    role = Role(name="R", watch=[Greet])
    role._watch([Echo, "Extra"])
    assert role.watch == {"Greet", "Echo", "Extra"}
    assert role.wants(Message(content="x", cause_by="Extra", sent_from="A"))


async def test_a_role_does_not_receive_its_own_messages():
    role = Role(name="Self", watch=[UserRequirement, Greet], actions=[Greet]).bind(None)
    assert not role.wants(Message(content="x", cause_by="Greet", sent_from="Self"))
    assert not role.wants(Message(content="x", cause_by="Greet", sent_from="Self",
                                  send_to=["Self"]))
    assert role.wants(Message(content="x", cause_by="Greet", sent_from="Someone"))
    env = Environment("t", [role])
    env.publish(boss())
    outcome = await env.run_round()
    assert [m.cause_by for m in outcome.published] == ["Greet"]
    assert env.is_idle  # its own Greet, though watched, was not delivered back


# triggers -------------------------------------------------------------

def test_triggers_come_from_the_action_classes():
    role = Role(name="R", actions=[Greet, Count, Listen]).bind(None)
    assert role.triggers == {"Greet": {"UserRequirement"}, "Count": {"Greet"}, "Listen": set()}
    planner = Planner().bind(None)
    assert planner.triggers == {"WritePlan": {"AnalyzeRequest", "ReviewResults", "RunGraphs"}}


@pytest.mark.parametrize("overrides", [
    {Count: [UserRequirement]},
    {"Count": ["UserRequirement"]},
    {Count: ["UserRequirement"]},
    {"Count": [UserRequirement]},
])
async def test_triggers_are_overridden_per_role_by_class_or_name(overrides):
    role = Role(name="R", actions=[Greet, Count], triggers=overrides).bind(None)
    assert role.triggers == {"Greet": {"UserRequirement"}, "Count": {"UserRequirement"}}
    assert said(await role.run([boss()])) == ["Greet", "Count"]
    assert Count.triggers == ("Greet",)  # the class keeps its own
    plain = Role(name="P", actions=[Greet, Count]).bind(None)
    assert said(await plain.run([boss()])) == ["Greet"]


async def test_by_trigger_runs_only_the_matching_actions_in_the_roles_order():
    role = Role(name="R", actions=[Echo, Count, Greet]).bind(None)
    outputs = await role.run([boss("hello")])
    assert said(outputs) == ["Echo", "Greet"]
    assert [o.content for o in outputs] == ["Echo: hello", "Greet: hello"]
    greeting = Message(content="hey", cause_by="Greet", sent_from="G")
    assert said(await role.run([greeting])) == ["Count"]
    assert await role.run([Message(content="?", cause_by="Unrelated", sent_from="U")]) == []


async def test_an_action_with_no_triggers_runs_on_any_news():
    role = Role(name="R", actions=[Greet, Listen]).bind(None)
    assert said(await role.run([boss()])) == ["Greet", "Listen"]
    odd = Message(content="odd", cause_by="Whatever", sent_from="W")
    outputs = await role.run([odd])
    assert said(outputs) == ["Listen"] and outputs[0].content == "Listen: odd"


# react modes by name ------------------------------------------------------

async def test_by_order_still_works_but_warns_to_use_by_trigger():
    with pytest.warns(DeprecationWarning, match="'by_order' is deprecated: use 'by_trigger'") \
            as caught:
        role = Role(name="R", actions=[Echo, Count], react_mode="by_order")
    assert caught[0].filename == __file__  # the warning points at the caller, not role.py
    assert role.react_mode is ReactMode.BY_TRIGGER
    role.bind(None)
    assert said(await role.run([boss()])) == ["Echo"]


def test_by_order_in_an_sop_file_warns_and_becomes_by_trigger(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("name: old\nroles:\n  - name: Planner\n    react_mode: by_order\n")
    with pytest.warns(DeprecationWarning, match="by_trigger"):
        sop = load_sop(str(path))
    assert sop.roles[0].react_mode == "by_trigger"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hiring from the parsed SOP warns no more
        role = sop.roles[0].hire()
    assert role.react_mode is ReactMode.BY_TRIGGER


def test_an_unknown_react_mode_lists_the_modes():
    with pytest.raises(ValueError, match=r"react_mode must be one of by_trigger, react, "
                                         r"plan_and_act, not 'chaos'"):
        Role(name="R", react_mode="chaos")


# binding ----------------------------------------------------------------

def test_bind_makes_action_instances_that_share_the_context(config, store):
    ctx = harness(config, store).ctx
    role = Role(name="R", actions=[Greet, Count])
    assert role.ctx is None and role.actions == []  # classes wait for a task's context
    assert role.bind(ctx) is role
    assert [type(a) for a in role.actions] == [Greet, Count]
    assert all(a.ctx is ctx for a in role.actions) and role.ctx is ctx
    assert role.actions[0] is not role.actions[1]


# react and plan_and_act ---------------------------------------------------

def thinking_role(h, mode: str, max_react_loop: int = 5) -> Role:
    return Role(name=h.ctx.role, actions=[Greet, Count, Echo], react_mode=mode,
                max_react_loop=max_react_loop, profile="a test role", goal="Say things.",
                ctx=h.ctx)


async def test_react_runs_what_the_llm_picks_until_it_says_stop(config, store):
    h = harness(config, store, {"RoleReact": [
        {"action": "Count", "reason": "first"}, {"action": "Echo"}, {"action": "stop"},
        {"action": "Greet"},  # never asked: stop ended the loop
    ]}, role="Tester")
    outputs = await thinking_role(h, "react").run([boss("hello there")])
    assert said(outputs) == ["Count", "Echo"]  # triggers do not matter in react mode
    calls = h.provider.calls_for("RoleReact")
    assert len(calls) == 3 and all(c.role == "Tester" for c in calls)
    assert calls[0].messages[0] == {"role": "system",
                                    "content": "You are the Tester: a test role. Say things."}
    first, last = h.prompts("RoleReact")[0], h.prompts("RoleReact")[-1]
    assert "hello there" in first and "- Greet: greet the Boss" in first
    assert "Already done" not in first
    assert "- Count: Count: hello there" in last and "- Echo: Echo: hello there" in last
    allowed = calls[0].json_schema["properties"]["action"]["enum"]
    assert allowed == ["Greet", "Count", "Echo", "stop"]


async def test_react_is_bounded_by_max_react_loop(config, store):
    h = harness(config, store, {"RoleReact": {"action": "Greet"}}, role="Tester")
    outputs = await thinking_role(h, "react", max_react_loop=2).run([boss()])
    assert said(outputs) == ["Greet", "Greet"]
    assert len(h.provider.calls_for("RoleReact")) == 2


async def test_react_reasks_a_choice_outside_the_roles_actions(config, store):
    h = harness(config, store, {"RoleReact": [{"action": "Dance"}, {"action": "stop"}]},
                role="Tester")
    assert await thinking_role(h, "react").run([boss()]) == []
    retry = h.prompts("RoleReact")[1]
    assert "That answer is not valid" in retry and "action" in retry


async def test_plan_and_act_runs_the_planned_actions_in_order(config, store):
    h = harness(config, store, {"RolePlan": {"actions": ["Echo", "Count", "Greet"]}},
                role="Tester")
    outputs = await thinking_role(h, "plan_and_act").run([boss("plan this")])
    assert said(outputs) == ["Echo", "Count", "Greet"]
    assert len(h.provider.calls) == 1  # one decision, no RoleReact calls
    prompt = h.prompts("RolePlan")[0]
    assert "plan this" in prompt and "- Count: count the greetings" in prompt


async def test_plan_and_act_is_bounded_by_max_react_loop(config, store):
    h = harness(config, store, {"RolePlan": {"actions": ["Greet", "Echo", "Greet", "Echo"]}},
                role="Tester")
    outputs = await thinking_role(h, "plan_and_act", max_react_loop=3).run([boss()])
    assert said(outputs) == ["Greet", "Echo", "Greet"]


# payload checks -----------------------------------------------------------

@pytest.mark.parametrize("mode", ["by_trigger", "plan_and_act"])
async def test_a_payload_of_the_wrong_type_is_refused_clearly(config, store, mode):
    h = harness(config, store, {"RolePlan": {"actions": ["Typed"]}}, role="Tester")
    wrong = typed(ActionOutput(content="x", payload=Other(n=1)))
    role = Role(name="Tester", actions=[wrong], react_mode=mode, ctx=h.ctx)
    with pytest.raises(TypeError, match="Typed must publish a Topic payload, not Other"):
        await role.run([boss()])


async def test_a_right_payload_passes_and_the_output_is_stamped_with_its_action():
    right = typed(ActionOutput(content="x", payload=Topic(text="t")))
    [out] = await Role(name="R", actions=[right]).bind(None).run([boss()])
    assert out.cause_by == "Typed" and out.payload == Topic(text="t")


async def test_an_output_published_for_another_action_is_not_checked_against_this_one():
    """ReviewResults publishes SummarizeResults' report: its own payload model does not apply."""
    other = typed(ActionOutput(content="x", payload=Other(n=2), cause_by="Elsewhere"))
    [out] = await Role(name="R", actions=[other]).bind(None).run([boss()])
    assert out.cause_by == "Elsewhere" and out.payload == Other(n=2)
