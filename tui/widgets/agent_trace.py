"""An agent run's trace as it streams: the question, then each thought, tool call (with its arguments),
observation and the final answer, one block per event (`llmdeck.agents.events`)."""

from __future__ import annotations

import json

from rich.text import Text
from textual.widgets import Static

from llmdeck.agents.events import AgentAnswered, AgentFailed, RunEvent, ThoughtWritten, ToolCalled, ToolReturned
from llmdeck.tui.widgets.run_trace import RunTrace

LIMIT_NOTES = {
    "max_steps": "best answer so far: stopped at the step limit",
    "wall_time": "best answer so far: stopped at the time limit",
    "error": "best answer so far: stopped by an error",
}
MAX_OBSERVATION_CHARS = 800


def event_step(event: RunEvent) -> int | None:
    """The model step an event belongs to (None: the run's answer or error)."""
    return event.step if isinstance(event, (ThoughtWritten, ToolCalled, ToolReturned)) else None


def event_block(event: RunEvent) -> tuple[Text, str] | None:
    """(text, CSS classes) of one event's block; None for an event the trace does not show."""
    step = "" if event_step(event) is None else f"[{event_step(event)}] "
    match event:
        case ThoughtWritten():
            return Text(f"{step}thought: {event.text}"), "thought"
        case ToolCalled():
            arguments = json.dumps(event.args, ensure_ascii=False)
            return Text.assemble(step, (event.name, "bold"), f"({arguments})"), "call"
        case ToolReturned():
            content = event.content
            if len(content) > MAX_OBSERVATION_CHARS:
                more = len(content) - MAX_OBSERVATION_CHARS
                content = content[:MAX_OBSERVATION_CHARS] + f" ... ({more} more characters)"
            label = "error" if event.error else "result"
            return Text(f"{step}{label}: {content}"), "observation error" if event.error else "observation"
        case AgentAnswered():
            note = LIMIT_NOTES.get(event.limit or "")
            text = Text.assemble(("Answer: ", "bold"), event.answer)
            if note:
                text.append(f"\n({note})", style="italic")
            return text, "final limited" if note else "final"
        case AgentFailed():
            return Text(f"error: {event.message}"), "error"
    return None


class AgentTrace(RunTrace):
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

    def add_event(self, event: RunEvent) -> None:
        block = event_block(event)
        if block is None:
            return
        classes = block[1]
        step = event_step(event)
        if step is not None and step != self.last_step:
            self.last_step = step
            classes += " new-step"
        self.mount(Static(block[0], classes=classes))
        self.scroll_end(animate=False)

    def blocks(self) -> list[tuple[str, str]]:
        """(kind, text) of every block shown: what the tests read."""
        return [(" ".join(sorted(block.classes - {"new-step"})), str(block.render())) for block in self.query(Static)]
