"""A verification run as it streams: each round's code (syntax highlighted) beside its execution output
(exit code, seconds, sandbox tier, stdout, stderr, the check), the writer's other replies, and the verdict
(`llmdeck.agents.events`)."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from llmdeck.agents.events import CodeExecuted, CodeWritten, MessageSent, RunEvent, VerdictReached
from llmdeck.tui.widgets.run_trace import RunTrace

MAX_STREAM_CHARS = 2000
VERDICT_CLASSES = {"verified": "passed", "ran, unverified": "unverified", "failed": "failed", "gave up": "failed"}


def execution_text(event: CodeExecuted) -> Text:
    """A round's execution: how the program ended, what it printed, what the check said."""
    exit_code = "none (killed)" if event.exit_code is None else str(event.exit_code)
    text = Text.assemble(
        ("exit code ", "bold"),
        (exit_code, "bold green" if event.exit_code == 0 else "bold red"),
        f"  {event.seconds:.2f} s  sandbox: {event.isolation}",
    )
    if event.limit:
        text.append(f"\nstopped by the {event.limit} limit", style="bold red")
    for name, stream in (("stdout", event.stdout), ("stderr", event.stderr)):
        if stream.strip():
            shown = stream if len(stream) <= MAX_STREAM_CHARS else stream[:MAX_STREAM_CHARS] + "\n..."
            text.append(f"\n{name}:\n", style="bold")
            text.append(shown.rstrip("\n"), style="red" if name == "stderr" else "")
        else:
            text.append(f"\n{name}: (empty)", style="dim")
    if event.checks and event.checks != "none":
        style = "bold green" if event.checks == "passed" else "bold red"
        text.append(f"\ncheck: {event.checks}", style=style)
        if event.check_message:
            text.append(f": {event.check_message}")
    return text


def verdict_text(event: VerdictReached) -> Text:
    text = Text.assemble(
        ("Verdict: ", "bold"),
        (event.status, "bold"),
        f" after {event.rounds} round{'' if event.rounds == 1 else 's'}, {event.seconds:.1f} s",
    )
    text.append(
        f"\nchecks: {event.checks or 'none'}; isolation: {event.isolation}"
        + (f" ({event.isolation_note})" if event.isolation_note else "")
    )
    return text


class RoundView(Vertical):
    """One round: the code on the left, its execution on the right."""

    DEFAULT_CSS = """
    RoundView { height: auto; margin-bottom: 1; }
    RoundView > .round-title { text-style: bold; color: $text-muted; }
    RoundView > Horizontal { height: auto; }
    RoundView .round-code { width: 1fr; height: auto; border: round $primary-background; }
    RoundView .round-output { width: 1fr; height: auto; border: round $primary-background; padding: 0 1; }
    """

    def __init__(self, round_number: int, code: str):
        super().__init__(classes="round")
        self.round_number = round_number
        self.code = code

    def compose(self):
        yield Static(f"Round {self.round_number}", classes="round-title")
        with Horizontal():
            yield Static(
                Syntax(self.code, "python", line_numbers=True, word_wrap=True, background_color="default"),
                classes="round-code",
            )
            yield Static(Text("running...", style="italic"), classes="round-output")

    def show_execution(self, event: CodeExecuted) -> None:
        self.query_one(".round-output", Static).update(execution_text(event))


class VerifyRounds(RunTrace):
    """The rounds of one verification run (live or reopened from the records)."""

    DEFAULT_CSS = """
    VerifyRounds { height: 1fr; border: round $primary; padding: 0 1; }
    VerifyRounds > Static { height: auto; }
    VerifyRounds > .task { text-style: bold; margin-bottom: 1; }
    VerifyRounds > .message { color: $warning; margin-bottom: 1; }
    VerifyRounds > .verdict { border: round $success; padding: 0 1; }
    VerifyRounds > .verdict.failed { border: round $error; }
    VerifyRounds > .verdict.unverified { border: round $warning; }
    VerifyRounds > .note { color: $warning; text-style: italic; }
    """

    async def start(self, task: str) -> None:
        await self.remove_children()
        await self.mount(Static(Text(f"Task: {task}"), classes="task"))

    async def add_event(self, event: RunEvent) -> None:
        match event:
            case CodeWritten():
                await self.mount(RoundView(event.round, event.code))
            case CodeExecuted():
                rounds = [r for r in self.query(RoundView) if r.round_number == event.round]
                if not rounds:  # a record without its code event: the round without its code
                    await self.mount(RoundView(event.round, ""))
                    rounds = list(self.query(RoundView))
                rounds[-1].show_execution(event)
            case MessageSent() if event.source != "executor":
                await self.mount(Static(Text(f"{event.source}: {event.content}"), classes="message"))
            case VerdictReached():
                verdict_class = VERDICT_CLASSES.get(event.status, "failed")
                await self.mount(Static(verdict_text(event), classes=f"verdict {verdict_class}"))
        self.scroll_end(animate=False)

    def rounds(self) -> list[RoundView]:
        return list(self.query(RoundView))
