"""Messages that workers post to the UI (workers never touch widgets; `@on` handlers own UI state)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class TokenReceived(Message):
    """A piece of the answer being streamed."""

    text: str


@dataclass
class AnswerDone(Message):
    """The answer is complete."""

    text: str
    tokens: int
    ttft_s: float
    tokens_per_s: float
    model_file: str = ""


@dataclass
class WorkFailed(Message):
    """A library error in a worker: shown as a notification, never a crash."""

    action: str
    error: str


@dataclass
class ModelsLoaded(Message):
    """The model store's entries, read off the UI thread."""

    entries: list
