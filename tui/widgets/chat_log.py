"""A scrolling transcript: one block per message, the last assistant block grows as tokens stream."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static


class ChatBubble(Static):
    """One message of the transcript."""

    DEFAULT_CSS = """
    ChatBubble { padding: 0 1; margin: 0 0 1 0; }
    ChatBubble.user { color: $accent; }
    ChatBubble.assistant { color: $text; }
    ChatBubble.error { color: $error; }
    """

    def __init__(self, role: str, text: str = ""):
        super().__init__(text, markup=False, classes=role)
        self.role = role
        self.text = text

    def append(self, piece: str) -> None:
        self.text += piece
        self.update(self.text)


class ChatLog(VerticalScroll):
    """The transcript of a chat session."""

    DEFAULT_CSS = """
    ChatLog { height: 1fr; }
    """

    def add(self, role: str, text: str = "") -> ChatBubble:
        bubble = ChatBubble(role, text)
        self.mount(bubble)
        self.scroll_end(animate=False)
        return bubble

    def last_bubble(self) -> ChatBubble | None:
        bubbles = self.query(ChatBubble)
        return bubbles.last() if bubbles else None
