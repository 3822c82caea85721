import asyncio

import pytest

from company.environment import Environment
from company.events import EventKind
from company.message import Message
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
    await env.run_round()
    assert [str(e) for e in env.errors] == ["Bad: kaput"]
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
