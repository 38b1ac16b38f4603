"""The sessions sidebar: stored chat sessions, newest first; Enter resumes, r renames, x deletes, e exports."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Label, ListItem, ListView


class SessionItem(ListItem):
    def __init__(self, session_id: str, title: str, n_messages: int):
        count = f"{n_messages} message{'' if n_messages == 1 else 's'}"
        super().__init__(Label(Text.assemble(title[:40], "\n", (count, "dim"))))
        self.session_id = session_id
        self.title = title


class SessionList(ListView):
    BINDINGS = [
        Binding("r", "request('rename')", "Rename"),
        Binding("x,delete", "request('delete')", "Delete"),
        Binding("e", "request('export')", "Export .md"),
    ]

    @dataclass
    class Requested(Message):
        """A session action asked for on the highlighted session (the screen does it)."""

        action: str
        session_id: str
        title: str

    async def show(self, sessions: list, current: str | None) -> None:
        await self.clear()
        await self.extend([SessionItem(s.id, s.title or s.id, s.n_messages) for s in sessions])
        ids = [s.id for s in sessions]
        self.index = ids.index(current) if current in ids else None

    def action_request(self, action: str) -> None:
        item = self.highlighted_child
        if isinstance(item, SessionItem):
            self.post_message(self.Requested(action, item.session_id, item.title))
