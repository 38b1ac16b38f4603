"""A scrolling transcript: one block per message; answers render as Markdown while they stream.

A message can be focused (click or Tab): `c` copies it, `b` copies its last code block (OSC 52).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.widgets.markdown import MarkdownStream

CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown text (an unclosed last fence counts: answers can be cut)."""
    return [block.rstrip("\n") for block in CODE_BLOCK.findall(text)]


class ChatBubble(Vertical, can_focus=True):
    """One message of the transcript."""

    DEFAULT_CSS = """
    ChatBubble { height: auto; padding: 0 1; margin: 0 0 1 0; }
    ChatBubble:focus { background: $boost; }
    ChatBubble .role { color: $text-muted; text-style: bold; }
    ChatBubble.user .body { color: $accent; }
    ChatBubble.note { margin: 0; }
    ChatBubble.note .body { color: $warning; text-style: italic; }
    ChatBubble Markdown { margin: 0; padding: 0; }
    """
    BINDINGS = [Binding("c", "copy", "Copy message"), Binding("b", "copy_code", "Copy code block")]

    def __init__(self, role: str, text: str = "", label: str | None = None):
        super().__init__(classes=role)
        self.role = role
        self.text = text
        self.label = label if label is not None else role
        self._stream: MarkdownStream | None = None

    def compose(self):
        if self.role != "note":
            yield Static(self.label, classes="role", markup=False)
        if self.role == "assistant":
            from textual.widgets import Markdown  # markdown-it loads with the first answer, not at start-up

            yield Markdown(self.text, classes="body")
        else:
            yield Static(self.text, classes="body", markup=False)

    async def append(self, piece: str) -> None:
        """Add streamed text; Markdown re-renders only the last block, in batches (Textual's MarkdownStream)."""
        self.text += piece
        if self.role != "assistant":
            self.query_one(".body", Static).update(self.text)
            return
        if self._stream is None:
            from textual.widgets import Markdown

            self._stream = Markdown.get_stream(self.query_one(Markdown))
        await self._stream.write(piece)

    async def finish(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("message copied to the clipboard")

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.text)
        if not blocks:
            self.notify("this message has no code block", severity="warning")
            return
        self.app.copy_to_clipboard(blocks[-1])
        self.notify("code block copied to the clipboard")


class ChatLog(VerticalScroll):
    """The transcript of a chat session."""

    DEFAULT_CSS = """
    ChatLog { height: 1fr; }
    """

    def add(self, role: str, text: str = "", label: str | None = None) -> ChatBubble:
        bubble = ChatBubble(role, text, label)
        self.mount(bubble)
        self.scroll_end(animate=False)
        return bubble

    def note(self, text: str) -> ChatBubble:
        """A line that is not a message (a model switch, a regenerated answer)."""
        return self.add("note", text)

    def bubbles(self) -> list[ChatBubble]:
        return [b for b in self.query(ChatBubble) if b.role != "note"]

    def last_bubble(self, role: str | None = None) -> ChatBubble | None:
        found = [b for b in self.bubbles() if role is None or b.role == role]
        return found[-1] if found else None
