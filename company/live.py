"""The CLI's live terminal view, drawn from the task's event stream."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from company.events import Event, EventBus, EventKind


class LiveView:
    """Shows which role is working, the messages as they appear, tokens and budget."""

    def __init__(self, console: Console, roles: list[str]) -> None:
        self.console = console
        self.state = {name: "idle" for name in roles}
        self.messages: list[tuple[str, str, str]] = []
        self.budget: dict[str, Any] = {}
        self.round = 0

    def apply(self, event: Event) -> None:
        """Fold one event into the view."""
        data = event.data
        if event.kind is EventKind.ROUND_STARTED:
            self.round = data.get("round", self.round)
        elif event.kind is EventKind.ROLE_STARTED:
            self.state[data["role"]] = "working…"
        elif event.kind is EventKind.ROLE_FINISHED:
            self.state[data["role"]] = "done" if data.get("ok") else "failed"
        elif event.kind is EventKind.MESSAGE:
            self.messages.append((data["sent_from"], data["cause_by"], data["content"]))
        elif event.kind is EventKind.BUDGET and "calls" in data:
            self.budget = data
        elif event.kind is EventKind.ERROR:
            self.messages.append((data.get("role", "?"), "error", data.get("error", "")))

    def render(self) -> Group:
        """The current picture."""
        roles = Table.grid(padding=(0, 2))
        for name, state in self.state.items():
            style = {"working…": "bold yellow", "failed": "bold red", "done": "green"}.get(state)
            roles.add_row(Text(name, style="bold"), Text(state, style=style or "dim"))
        feed = Table(show_header=True, header_style="bold", expand=True, box=None)
        feed.add_column("from", no_wrap=True)
        feed.add_column("action", no_wrap=True)
        feed.add_column("message", ratio=1)
        for sender, cause, content in self.messages[-8:]:
            feed.add_row(sender, cause, _clip(content))
        b = self.budget
        cost = f"${b.get('cost', 0):.4f}"
        if b.get("max_cost"):
            cost += f" of ${b['max_cost']:.2f}"
        calls = f"{b.get('calls', 0)}"
        if b.get("max_llm_calls"):
            calls += f"/{b['max_llm_calls']}"
        footer = Text(f"round {self.round} · LLM calls {calls} · tokens {b.get('tokens', 0)} · "
                      f"cost {cost}", style="dim")
        return Group(Panel(roles, title="roles"), Panel(feed, title="messages"), footer)


def _clip(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def follow(bus: EventBus, console: Console, roles: list[str], *, live: bool) -> None:
    """Draw the task's events until it finishes (a redrawn view, or plain lines)."""
    view = LiveView(console, roles)
    if not live:
        async for event in bus.subscribe():
            view.apply(event)
            if event.kind is EventKind.MESSAGE:
                d = event.data
                console.print(f"[bold]{d['sent_from']}[/] ({d['cause_by']}): {_clip(d['content'])}")
            elif event.kind is EventKind.ERROR:
                console.print(f"[red]error[/] {event.data.get('role', '')}: {event.data['error']}")
        return
    with Live(view.render(), console=console, refresh_per_second=8, transient=False) as screen:
        async for event in bus.subscribe():
            view.apply(event)
            screen.update(view.render())
