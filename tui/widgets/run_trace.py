"""What a run screen's trace is (`RunScreen.TRACE`: the agents' `AgentTrace`, verify's `VerifyRounds`): a
scrolling column that a run starts with its prompt, its events fill, and a note can end ("stopped")."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


class RunTrace(VerticalScroll):
    """The trace of one run; a subclass shows the run's prompt (`start`) and its events in its own way."""

    async def start(self, prompt: str) -> None:
        """Empty the trace and show what the run was asked."""
        raise NotImplementedError

    def note(self, text: str) -> None:
        self.mount(Static(Text(text), classes="note"))
        self.scroll_end(animate=False)
