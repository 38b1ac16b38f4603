"""The chat screen: a transcript, a prompt box, answers streamed by `services.chat` in a worker.

The chat's model belongs to the chat: it is resolved once when the screen opens (the `--model` given, else
the store default at that moment) and named in the status line; every turn is stored in a session.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen
from llmdeck.tui.widgets.chat_log import ChatLog


class ChatScreen(BaseScreen):
    """Chat with a store model; Esc stops an answer, ctrl+r starts a new conversation."""

    BINDINGS = [Binding("escape", "stop", "Stop answer"), Binding("ctrl+r", "new_chat", "New chat")]

    @dataclass
    class ModelResolved(Message):
        name: str
        completion_mode: bool = False  # the model has no chat template

    @dataclass
    class SessionStarted(Message):
        session_id: str

    @dataclass
    class Token(Message):
        text: str

    @dataclass
    class Answered(Message):
        model: str
        tokens: int
        tokens_per_s: float
        ttft_s: float
        stopped: bool

    def __init__(self) -> None:
        super().__init__()
        self.model_name: str | None = None
        self.session_id: str | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("model: resolving...", id="chat-status")
        yield ChatLog(id="chat-log")
        yield Input(placeholder="Ask the local model... (Enter sends, Esc stops)", id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()
        self.resolve_model(getattr(self.app, "model_name", None))

    @work(thread=True, exclusive=True, exit_on_error=False, group="model")
    def resolve_model(self, requested: str | None) -> None:
        from llmdeck.core.store import ModelStore

        entry = ModelStore().resolve(requested)
        self.post_message(self.ModelResolved(entry.name, completion_mode=not entry.has_chat_template))

    @on(ModelResolved)
    def show_model(self, message: ModelResolved) -> None:
        self.model_name = message.name
        mode = " (no chat template: completion mode)" if message.completion_mode else ""
        self._status(f"model: {message.name}{mode}")

    @on(Input.Submitted, "#prompt")
    def send(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt or self.busy or self.model_name is None:
            return
        event.input.clear()
        log = self.query_one(ChatLog)
        log.add("user", prompt)
        log.add("assistant")
        self.busy = True
        self._status(f"model: {self.model_name} - thinking... (Esc stops)")
        self.generate(prompt, self.model_name, self.session_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def generate(self, prompt: str, model: str, session_id: str | None) -> None:
        from llmdeck.services.chat import chat

        worker = get_current_worker()
        response = chat(prompt, model=model, session=session_id or True)
        self.post_message(self.SessionStarted(response.session_id))
        try:
            for piece in response:
                if worker.is_cancelled:
                    break
                self.post_message(self.Token(piece))
        finally:
            response.close()
        stats = response.stats
        self.post_message(self.Answered(response.model, stats.tokens, stats.tokens_per_s, stats.ttft_s, not response.done))

    @on(SessionStarted)
    def remember_session(self, message: SessionStarted) -> None:
        self.session_id = message.session_id

    @on(Token)
    def show_token(self, message: Token) -> None:
        log = self.query_one(ChatLog)
        bubble = log.last_bubble()
        if bubble is not None:
            bubble.append(message.text)
            log.scroll_end(animate=False)

    @on(Answered)
    def finish_answer(self, message: Answered) -> None:
        self.busy = False
        ended = "stopped" if message.stopped else f"first token {message.ttft_s * 1000:.0f} ms"
        self._status(f"model: {message.model} - {message.tokens} tokens, {message.tokens_per_s:.1f} tok/s, {ended}")

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action != "chat":
            self._status(f"model: {self.model_name or 'unavailable'} - {action} failed")
            return
        self.busy = False
        bubble = self.query_one(ChatLog).last_bubble()
        if bubble is not None and bubble.role == "assistant" and not bubble.text:
            bubble.remove()
        self._status(f"model: {self.model_name} - chat failed")

    def action_stop(self) -> None:
        self.workers.cancel_group(self, "chat")

    def action_new_chat(self) -> None:
        self.workers.cancel_group(self, "chat")
        self.session_id = None
        self.query_one(ChatLog).remove_children()

    def _status(self, text: str) -> None:
        self.query_one("#chat-status", Static).update(text)
