"""The chat screen: a transcript, a prompt box, answers streamed from the local model in a worker."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from tui.messages import AnswerDone, TokenReceived, WorkFailed
from tui.widgets.chat_log import ChatLog


class ChatScreen(Screen):
    """Chat with a store model; history is kept for the screen's life (ctrl+r clears it)."""

    BINDINGS = [Binding("ctrl+r", "reset", "Clear chat")]

    def __init__(self, model: str | None = None):
        super().__init__()
        self.model_name = model
        self.history: list[dict] = []
        self.pending_prompt: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="chat-status")
        yield ChatLog(id="chat-log")
        yield Input(placeholder="Ask the local model... (Enter sends)", id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.model_name = self.model_name or getattr(self.app, "model_name", None)
        self.query_one("#chat-status", Static).update(f"model: {self.model_name or 'store default'}")
        self.query_one("#prompt", Input).focus()

    @on(Input.Submitted, "#prompt")
    def send(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt or self.pending_prompt is not None:
            return
        event.input.clear()
        log = self.query_one(ChatLog)
        log.add("user", prompt)
        log.add("assistant")
        self.pending_prompt = prompt
        self.query_one("#chat-status", Static).update("thinking...")
        self.generate(prompt, list(self.history))

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def generate(self, prompt: str, history: list[dict]) -> None:
        from core.runtime import ChatStats, Sampling, build_messages, load_model, stream_chat

        try:
            model = load_model(self.model_name)
            stats = ChatStats()
            for piece in stream_chat(model, build_messages(prompt, history=history), Sampling.from_settings(), stats):
                self.post_message(TokenReceived(piece))
            self.post_message(AnswerDone(stats.text, stats.tokens, stats.ttft_s, stats.tokens_per_s, model.path.name))
        except Exception as exc:  # any library error becomes a notification, never a crash
            self.post_message(WorkFailed("chat", str(exc) or type(exc).__name__))

    @on(TokenReceived)
    def show_token(self, message: TokenReceived) -> None:
        log = self.query_one(ChatLog)
        bubble = log.last_bubble()
        if bubble is not None:
            bubble.append(message.text)
            log.scroll_end(animate=False)

    @on(AnswerDone)
    def finish_answer(self, message: AnswerDone) -> None:
        self.history += [
            {"role": "user", "content": self.pending_prompt or ""},
            {"role": "assistant", "content": message.text},
        ]
        self.pending_prompt = None
        self.query_one("#chat-status", Static).update(
            f"model: {message.model_file} - {message.tokens} tokens, "
            f"{message.tokens_per_s:.1f} tok/s, first token {message.ttft_s * 1000:.0f} ms"
        )

    @on(WorkFailed)
    def show_failure(self, message: WorkFailed) -> None:
        self.pending_prompt = None
        bubble = self.query_one(ChatLog).last_bubble()
        if bubble is not None and not bubble.text:
            bubble.remove()
        self.query_one("#chat-status", Static).update(f"{message.action} failed")
        self.notify(message.error, title=f"{message.action} failed", severity="error")

    def action_reset(self) -> None:
        self.history.clear()
        self.query_one(ChatLog).remove_children()
