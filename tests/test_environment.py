import asyncio

import pytest

from company.environment import Environment
from company.events import EventKind
from company.message import Message
from company.run_options import RunOptions
from tests.helpers import echo_role


def chain_env(store=None):
    roles = [
        echo_role("A", ["UserRequirement"], "ActA"),
        echo_role("B", ["ActA"], "ActB"),
        echo_role("C", ["ActB"], "ActC"),
        echo_role("Idle", ["Nothing"], "ActIdle"),
    ]
    return Environment("t1", roles, store=store)


async def run_until_idle(env, limit=10):
    for _ in range(limit):
        if env.is_idle:
            break
        await env.run_round()


async def test_message_reaches_exactly_the_watching_roles():
    env = chain_env()
    env.publish(Message(content="go"))
    assert [r.name for r in env.roles if r.has_news] == ["A"]
    await env.run_round()
    assert [r.name for r in env.roles if r.has_news] == ["B"]
    await run_until_idle(env)
    log = [(m.sent_from, m.cause_by, m.content) for m in env.memory.all()]
    assert log == [
        ("Boss", "UserRequirement", "go"),
        ("A", "ActA", "ActA saw Boss:UserRequirement"),
        ("B", "ActB", "ActB saw A:ActA"),
        ("C", "ActC", "ActC saw B:ActB"),
    ]
    assert env.rounds == 3
    assert env.is_idle


async def test_roles_do_not_see_their_own_or_seen_messages():
    loop_role = echo_role("Self", ["ActSelf", "UserRequirement"], "ActSelf")
    env = Environment("t", [loop_role])
    env.publish(Message(content="go"))
    await env.run_round()
    # its own ActSelf output is not news for it: the environment is idle after one round
    assert env.is_idle
    await env.run_round()
    assert len(env.memory) == 2


async def test_send_to_addresses_a_role_regardless_of_watch():
    sender = echo_role("S", ["UserRequirement"], "Ping", send_to=["Target"])
    target = echo_role("Target", [], "Pong")
    bystander = echo_role("Watcher", ["Ping"], "Look")
    env = Environment("t", [sender, target, bystander])
    env.publish(Message(content="go"))
    await env.run_round()
    assert target.has_news and not bystander.has_news


async def test_publish_order_is_the_role_order_not_completion_order():
    from company.action import Action, ActionOutput
    from company.role import Role

    def make(name, delay):
        class Act(Action):
            async def run(self, news):
                await asyncio.sleep(delay)
                return ActionOutput(content=name)

        Act.name = f"Act{name}"
        return Role(name=name, watch=["UserRequirement"], actions=[Act(None)])

    env = Environment("t", [make("First", 0.05), make("Second", 0.0)])
    env.publish(Message(content="go"))
    await env.run_round()
    assert [m.content for m in env.memory.all()[1:]] == ["First", "Second"]


async def test_routing_cost_does_not_scan_uninterested_roles():
    roles = [echo_role(f"R{i}", [f"Cause{i}"], f"Act{i}") for i in range(200)]
    env = Environment("t", roles)
    assert env._recipients(Message(content="x", cause_by="Cause7")) == [roles[7]]
    assert env._recipients(Message(content="x", cause_by="Nobody")) == []


async def test_event_stream_reports_rounds_roles_and_messages():
    env = chain_env()
    env.publish(Message(content="go"))
    await run_until_idle(env)
    kinds = [e.kind for e in env.bus.history]
    assert kinds[0] is EventKind.MESSAGE
    assert kinds.count(EventKind.ROUND_STARTED) == 3
    assert kinds.count(EventKind.ROLE_STARTED) == kinds.count(EventKind.ROLE_FINISHED) == 3
    assert [e.seq for e in env.bus.history] == list(range(1, len(kinds) + 1))


async def test_failing_role_becomes_an_error_event_and_keeps_its_cursor(store):
    from company.action import Action
    from company.role import Role

    class Boom(Action):
        name = "Boom"

        async def run(self, news):
            raise RuntimeError("kaput")

    ok = echo_role("Ok", ["UserRequirement"], "Fine")
    bad = Role(name="Bad", watch=["UserRequirement"], actions=[Boom(None)])
    env = Environment("t", [ok, bad], store=store)
    env.publish(Message(content="go"))
    outcome = await env.run_round()
    assert [str(e) for e in outcome.failed] == ["Bad: kaput"]
    assert [m.sent_from for m in outcome.published] == ["Ok"]
    errors = [e for e in env.bus.history if e.kind is EventKind.ERROR]
    assert errors[0].data["error"] == "kaput"
    states = store.role_states("t")
    assert states["Ok"][1] == 1 and states["Bad"][1] == 0


@pytest.mark.parametrize("n", [1, 3])
async def test_restore_redelivers_only_unconsumed_messages(store, n):
    env = chain_env(store)
    env.publish(Message(content="go"))
    for _ in range(n):
        await env.run_round()
    fresh = chain_env(store)
    fresh.restore(store.messages("t1"), {k: v[1] for k, v in store.role_states("t1").items()})
    pending = [r.name for r in fresh.roles if r.has_news]
    assert pending == (["B"] if n == 1 else [])


class _Huge:
    """An action whose output (content or payload) is ``size`` characters."""

    @staticmethod
    def role(size: int, *, in_payload: bool):
        from pydantic import BaseModel

        from company.action import Action, ActionOutput
        from company.role import Role

        class Blob(BaseModel):
            text: str

        class Grow(Action):
            name = "Grow"

            async def run(self, news):
                if in_payload:
                    return ActionOutput(content="small", payload=Blob(text="x" * size))
                return ActionOutput(content="x" * size)

        return Role(name="Grower", watch=["UserRequirement"], actions=[Grow(None)])


@pytest.mark.parametrize("in_payload", [False, True])
async def test_an_oversized_output_fails_the_role_and_is_never_stored(store, in_payload):
    """M3: a plan that grows its outputs (prompt injection) must not write them everywhere."""
    grower = _Huge.role(5_000, in_payload=in_payload)
    ok = echo_role("Ok", ["UserRequirement"], "Fine")
    env = Environment("t", [ok, grower], store=store, max_message_bytes=4_096)
    env.publish(Message(content="go"))
    outcome = await env.run_round()
    assert len(outcome.failed) == 1 and outcome.failed[0].role == "Grower"
    error = str(outcome.failed[0])
    assert "over the message limit of 4.0 KB" in error and "limits.max_message_bytes" in error
    assert [m.sent_from for m in store.messages("t")] == ["Boss", "Ok"]  # nothing huge stored
    events = [e for e in env.bus.history if e.kind is EventKind.ERROR]
    assert events[0].data["role"] == "Grower" and "message limit" in events[0].data["error"]
    assert store.role_states("t")["Grower"][1] == 0  # its news stays unconsumed


async def test_publish_refuses_an_oversized_message(store):
    from company.environment import MessageTooLarge

    env = Environment("t", [], store=store, max_message_bytes=1_000)
    with pytest.raises(MessageTooLarge, match="over the message limit"):
        env.publish(Message(content="y" * 2_000))
    assert store.messages("t") == [] and env.seq == 0
    env.publish(Message(content="y" * 500, payload={"k": "v" * 400}))
    assert len(store.messages("t")) == 1


def test_the_default_message_limit_is_the_config_one():
    from company.config import Limits
    from company.environment import DEFAULT_MAX_MESSAGE_BYTES

    assert Limits().max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == 16 * 1024 * 1024
    assert Environment("t", []).max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES


async def test_a_company_run_fails_clearly_on_the_configured_limit(config, store, fake_ollama):
    """The limit travels from ``limits.max_message_bytes`` to the task's Environment."""
    import json

    from company.company import Company
    from tests.conftest import ANALYSIS, PLAN, REPORT

    fake_ollama.on("## Task: AnalyzeRequest", json.dumps({**ANALYSIS, "summary": "s" * 3000}))
    fake_ollama.on("## Task: WritePlan", json.dumps(PLAN))
    fake_ollama.on("## Task: SummarizeResults", REPORT)
    config.limits.max_message_bytes = 2048
    outcome = await Company(config, store=store).run("x", RunOptions(sop="plan-only"))
    assert outcome.status == "failed"
    assert outcome.error.startswith("Analyst: its message is") and "2.0 KB" in outcome.error
    assert [m.sent_from for m in store.messages(outcome.task_id)] == ["Boss"]
