"""A scrolling transcript: one block per message; answers render as Markdown.

While an answer streams, each batch costs the same however long the answer is: the growing tail (the block being
written) is plain text, each block that is complete (a blank line outside a code fence, a closing fence) becomes a
Markdown widget once, and the whole answer is rendered as one Markdown document when it ends. A layout of the chat
screen is the one costly step (tens of ms on 2 cores, a late key if it lands on one): the tail keeps a few spare
rows so that most batches need none, and finished blocks stay in the plain tail until the tail needs its next
layout anyway, so that their mount costs no layout of its own.

A message can be focused (click or Tab): `c` copies it, `b` copies its last code block (OSC 52).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.widget import Widget

TAIL_SPARE_ROWS = 6  # empty rows kept under a streaming answer's text, so that most new rows need no layout
CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def split_finished(tail: str) -> tuple[list[str], str]:
    """The Markdown blocks that `tail` (the text streamed after the last finished block, which starts outside a
    code fence) completes, and the rest. Only whole lines count: a block ends at a blank line outside a fence,
    or at the line that closes a fence."""
    blocks, start, pos, in_fence = [], 0, 0, False
    while (end := tail.find("\n", pos)) != -1:
        line = tail[pos:end]
        pos = end + 1
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            if not in_fence:
                blocks.append(tail[start:pos])
                start = pos
        elif not in_fence and not line.strip():
            blocks.append(tail[start:pos])
            start = pos
    return [b.strip("\n") for b in blocks if b.strip()], tail[start:]


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

    def __init__(self, role: str, text: str = "", label: str | None = None, streaming: bool = False):
        super().__init__(classes=role)
        self.role = role
        self.text = text
        self.label = label if label is not None else role
        self.streaming = streaming and role == "assistant"  # an answer being written: blocks + a plain tail
        self._tail = ""  # the text after the last finished block
        self._finished: list[str] = []  # finished blocks not mounted yet: shown in the tail until its next layout
        self._tail_rows: int | None = None  # the rows the tail was given when it was last laid out

    def compose(self):
        if self.role != "note":
            yield Static(self.label, classes="role", markup=False)
        if self.streaming:
            yield Static("", classes="body tail", markup=False)
        elif self.role == "assistant":
            yield _markdown(self.text)
        else:
            yield Static(self.text, classes="body", markup=False)

    async def append(self, piece: str) -> bool:
        """Add streamed text: the tail is updated, and the blocks it completes are mounted as Markdown once, with the
        tail's next layout. True when the message may have changed its height (then the transcript scrolls to its
        end)."""
        self.text += piece
        if not self.is_attached:  # the app is closing
            return False
        if not self.streaming:
            self.query_one(".body", Static).update(self.text)
            return True
        blocks, self._tail = split_finished(self._tail + piece)
        self._finished += blocks
        tail = self.query_one(".tail", Static)
        rows = self._show_tail(tail)
        reserved = self._tail_rows
        if rows is not None and reserved is not None and reserved - TAIL_SPARE_ROWS <= rows <= reserved:
            return False  # the text fits the rows it has: a repaint of the tail, no layout
        if self._finished:  # a layout is due: the finished blocks become Markdown in the same one
            await self.mount_all([_markdown(block) for block in self._finished], before=tail)
            self._finished = []
            rows = self._show_tail(tail)
        self._tail_rows = None if rows is None else rows + TAIL_SPARE_ROWS
        tail.styles.height = "auto" if rows is None else self._tail_rows  # a new height: a layout
        tail.refresh(layout=True)
        return True

    def _show_tail(self, tail: Static) -> int | None:
        """Put the unmounted blocks and the tail into the tail widget without a layout; the rows the text needs
        (None before the widget has a width)."""
        tail.update("\n\n".join([*self._finished, self._tail]) if self._finished else self._tail, layout=False)
        width = tail.content_size.width
        return tail.get_content_height(tail.size, tail.size, width) if width else None

    async def finish(self) -> None:
        """The answer ended: show it as one Markdown document."""
        if not self.streaming or not self.is_attached:
            return
        self.streaming = False
        parts: list[Widget] = [w for w in self.children if not w.has_class("role")]
        await self.remove_children(parts)
        await self.mount(_markdown(self.text))

    def mark_stopped(self) -> None:
        """Say in the label that the answer was stopped before its end."""
        if self.role == "assistant" and not self.label.endswith("(stopped)"):
            self.label = f"{self.label} (stopped)"
            if self.children and self.children[0].has_class("role"):
                self.query_one(".role", Static).update(self.label)

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

    def add(self, role: str, text: str = "", label: str | None = None, streaming: bool = False) -> ChatBubble:
        bubble = ChatBubble(role, text, label, streaming=streaming)
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


def _markdown(text: str) -> Widget:
    from textual.widgets import Markdown  # markdown-it loads with the first answer, not at start-up

    return Markdown(text, classes="body")
