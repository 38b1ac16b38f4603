"""An agent run's trace as it streams: the question, then each thought, tool call (with its arguments),
observation and the final answer, one block per event (`llmdeck.agents.react` lists the events)."""

from __future__ import annotations

import json

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

LIMIT_NOTES = {"max_steps": "best answer so far: stopped at the step limit",
               "wall_time": "best answer so far: stopped at the time limit",
               "error": "best answer so far: stopped by an error"}
MAX_OBSERVATION_CHARS = 800


def event_block(event: dict) -> tuple[Text, str] | None:
    """(text, CSS classes) of one event's block; None for an event the trace does not show."""
    kind = event.get("type")
    step = f"[{event.get('step')}] " if event.get("step") is not None else ""
    if kind == "thought":
        return Text(f"{step}thought: {event['text']}"), "thought"
    if kind == "tool_call":
        arguments = json.dumps(event["args"], ensure_ascii=False)
        return Text.assemble(step, (event["name"], "bold"), f"({arguments})"), "call"
    if kind == "observation":
        content = event["content"]
        if len(content) > MAX_OBSERVATION_CHARS:
            content = content[:MAX_OBSERVATION_CHARS] + f" ... ({len(event['content']) - MAX_OBSERVATION_CHARS} more characters)"
        label = "error" if event["error"] else "result"
        return Text(f"{step}{label}: {content}"), "observation error" if event["error"] else "observation"
    if kind == "final":
        note = LIMIT_NOTES.get(event.get("limit"))
        text = Text.assemble(("Answer: ", "bold"), event["answer"])
        if note:
            text.append(f"\n({note})", style="italic")
        return text, "final limited" if note else "final"
    if kind == "error":
        return Text(f"error: {event['message']}"), "error"
    return None


class AgentTrace(VerticalScroll):
    """The trace of one agent run (live or reopened from the records)."""

    DEFAULT_CSS = """
    AgentTrace { height: 1fr; border: round $primary; padding: 0 1; }
    AgentTrace > Static { height: auto; }
    AgentTrace > .question { text-style: bold; margin-bottom: 1; }
    AgentTrace > .thought { color: $text-muted; text-style: italic; }
    AgentTrace > .call { color: $accent; }
    AgentTrace > .new-step { margin-top: 1; }
    AgentTrace > .observation { padding-left: 4; }
    AgentTrace > .observation.error, AgentTrace > .error { color: $error; }
    AgentTrace > .final { margin-top: 1; border: round $success; padding: 0 1; }
    AgentTrace > .final.limited { border: round $warning; }
    AgentTrace > .note { color: $warning; text-style: italic; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.last_step: int | None = None

    async def start(self, question: str) -> None:
        await self.remove_children()
        self.last_step = None
        await self.mount(Static(Text(f"Q: {question}"), classes="question"))

    def add_event(self, event: dict) -> None:
        block = event_block(event)
        if block is None:
            return
        classes = block[1]
        if event.get("step") is not None and event["step"] != self.last_step:
            self.last_step = event["step"]
            classes += " new-step"
        self.mount(Static(block[0], classes=classes))
        self.scroll_end(animate=False)

    def note(self, text: str) -> None:
        self.mount(Static(Text(text), classes="note"))
        self.scroll_end(animate=False)

    def blocks(self) -> list[tuple[str, str]]:
        """(kind, text) of every block shown: what the tests read."""
        return [(" ".join(sorted(block.classes - {"new-step"})), str(block.render())) for block in self.query(Static)]
