"""The chat screen: sessions sidebar, model and collection pickers, a Markdown transcript streamed by
`services.chat` in a worker, cited sources, per-session system prompt and sampling.

The chat's model belongs to the chat: resolved once when the screen opens (the `--model` given, else the
store default at that moment), changed only with the picker (the switch is marked in the transcript), and
named in the status line. Every turn is stored in a session; resuming one restores its model and collection.
"Chat with this run" (the train screen) opens a new chat on the run's base with the run's LoRA applied
(`services.chat`'s `adapter=RUN`; the LoRA is resolved and converted in the model process, so this process never
loads torch); the status line and the header then name the model and the adapter, and a session remembers the
adapter of its last turn.

Answers come from a model process (`services.chat_process`): decoding never holds this process's GIL, and the
worker only relays text batches. Esc stops an answer at once (the stopped answer is stored, marked stopped, with
its token count and speed in the status line). Leaving the screen does not stop it: it goes on streaming, and
the header says so ("Chat (F1): answering...") until it ends. A message sent while the chat's model, adapter or
session is being switched is held and sent, in the session on screen, when the switch ends (put back in the
prompt with a note if the switch failed); a message sent while an answer streams is refused with a note.

The pickers, the transcript, the prompt, the sessions list and the sources pane are widgets (`tui/widgets/`);
this module is their layout, the chat's state, the workers that call `services.chat_process`, and the handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Header, Label, ListView, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, ask, late_footer
from llmdeck.tui.widgets.chat_log import ChatLog, code_blocks
from llmdeck.tui.widgets.chat_pickers import ChatPickers
from llmdeck.tui.widgets.prompt_input import PromptInput
from llmdeck.tui.widgets.session_list import SessionList
from llmdeck.tui.widgets.sources_pane import SourcesPane

if TYPE_CHECKING:
    from llmdeck.core import sessions

AWAY_MARKER = "Chat (F1): answering..."  # the header's subtitle while an answer streams on a screen left behind


class ChatScreen(BaseScreen):
    """Chat with a store model; Esc stops an answer; leaving the screen keeps it streaming (the header says so)."""

    BINDINGS = [
        Binding("escape", "stop", "Stop answer"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+t", "edit_last", "Edit last"),
        Binding("ctrl+o", "options", "System/sampling"),
        Binding("ctrl+l", "ingest", "Ingest files"),
        Binding("ctrl+y", "copy_answer", "Copy answer"),
        Binding("ctrl+b", "copy_code", "Copy code", show=False),
    ]
    WIDGET_KEYS = [
        ("Enter / r / x / e", "sessions list: resume / rename / delete / export the session as Markdown"),
        ("c / b", "a message (click or Tab to it): copy it / copy its last code block"),
        ("Enter", "a source: read the cited chunk in full"),
        ("up / down", "the prompt: earlier prompts"),
    ]
    PALETTE = [
        ("Pick the chat's model", "pick_model"),
        ("Pick a RAG collection", "pick_collection"),
        ("Show the sessions", "focus_sessions"),
        ("Chat without the run's adapter", "drop_adapter"),
    ]

    @dataclass
    class ModelResolved(Message):
        name: str
        completion_mode: bool = False  # the model has no chat template

    @dataclass
    class AdapterApplied(Message):
        """A run's LoRA is ready (converted to GGUF) on `model`, the run's base."""

        model: str
        run_id: str
        run_name: str

    @dataclass
    class Listed(Message):
        """Store models, collections and sessions, read off the UI thread."""

        models: list[str] | None = None
        collections: list[str] | None = None
        sessions: list | None = None

    @dataclass
    class SessionStarted(Message):
        session_id: str | None

    @dataclass
    class SessionLoaded(Message):
        session: sessions.Session
        messages: list[sessions.Message]
        options: dict
        adapter_name: str | None = None  # the name of the run whose adapter answered last

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
        prompt_tokens: int = 0
        n_ctx: int = 0
        sources: list = field(default_factory=list)

    @dataclass
    class OptionsSaved(Message):
        options: dict

    def __init__(self) -> None:
        super().__init__()
        self.model_name: str | None = None
        self.adapter: str | None = None  # the run (id) whose LoRA is applied to the model
        self.adapter_name: str | None = None
        self.collection: str | None = None
        self.session_id: str | None = None
        self.options: dict = {}  # this chat's system prompt and sampling (saved with the session)
        self.busy = False
        self.stopping = False  # Esc was pressed: the rest of the answer is not shown
        self.editing = False
        self.switches: dict[str, str] = {"model": "resolving the model"}  # switches under way, by worker group
        self.held: str | None = None  # a message sent during a switch, sent when it ends

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="chat-body"):
            with Vertical(id="sessions-pane"):
                yield Label("Sessions", classes="pane-title")
                yield SessionList(id="session-list")
            with Vertical(id="chat-main"):
                yield ChatPickers(id="chat-pickers")
                yield Static("model: resolving...", id="chat-status", markup=False)
                yield ChatLog(id="chat-log")
                yield PromptInput(
                    placeholder="Ask the local model... (Enter sends, Esc stops, up/down: history)", id="prompt"
                )
            yield SourcesPane(id="sources-pane")
        yield late_footer()

    def on_mount(self) -> None:
        self.query_one("#prompt", PromptInput).focus()
        # the first frame is painted before any store is read or the model process starts. Through the app: the
        # screen's own call_after_refresh, made while it is first mounted, ran before its first frame (traced), so
        # the workers' imports and the model process's start ran beside the first frame's render
        self.app.call_after_refresh(self._load)

    @property
    def model_label(self) -> str | None:
        """The model as the status line names it: with the run's adapter when one is applied."""
        if self.adapter:
            return f"{self.model_name} + adapter of run {self.adapter_name or self.adapter}"
        return self.model_name

    def _load(self) -> None:
        self.resolve_model(getattr(self.app, "model_name", None))
        self.list_everything()

    # -- reading the store, the collections and the sessions ------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="model")
    def resolve_model(self, requested: str | None) -> None:
        from llmdeck.core.store import ModelStore
        from llmdeck.services.chat_process import start_model_host

        entry = ModelStore().resolve(requested)
        self.post_message(self.ModelResolved(entry.name, completion_mode=not entry.has_chat_template))
        start_model_host()  # the model process starts while the person types

    @work(thread=True, exit_on_error=False, group="list")
    def list_everything(self) -> None:
        from llmdeck.core import sessions
        from llmdeck.core.store import ModelStore

        self.post_message(self.Listed(models=[e.name for e in ModelStore().list()], sessions=sessions.list_sessions()))
        self.list_collections_now()

    def list_collections_now(self) -> None:
        from llmdeck.rag.query import list_collections

        self.post_message(self.Listed(collections=[c.name for c in list_collections()]))

    @work(thread=True, exit_on_error=False, group="list")
    def list_sessions(self) -> None:
        from llmdeck.core import sessions

        self.post_message(self.Listed(sessions=sessions.list_sessions()))

    @on(ModelResolved)
    def show_model(self, message: ModelResolved) -> None:
        if self.adapter:  # "chat with this run" came first: its base is the chat's model
            self._switch_ended("model")
            return
        self.model_name = message.name
        self.query_one(ChatPickers).select_model(message.name)
        mode = " (no chat template: completion mode)" if message.completion_mode else ""
        self._status(f"model: {message.name}{mode}")
        self._switch_ended("model")

    @on(Listed)
    async def show_lists(self, message: Listed) -> None:
        if self.closing:
            return
        pickers = self.query_one(ChatPickers)
        if message.models is not None:
            pickers.offer_models(message.models, self.model_name)
        if message.collections is not None:
            pickers.offer_collections(message.collections, self.collection)
        if message.sessions is not None:
            await self.query_one(SessionList).show(message.sessions, self.session_id)

    # -- a run's adapter -----------------------------------------------------------------------------
    def chat_with_run(self, run_id: str) -> None:
        """A new chat on the run's base with the run's LoRA applied (converted to GGUF on first use)."""
        if self.busy:
            self.notify("wait for the answer (Esc stops it), then chat with the run", severity="warning")
            return
        self._status(f"model: applying the adapter of run {run_id} (converted to a GGUF LoRA on first use)...")
        self.switches["adapter"] = f"applying the adapter of run {run_id}"
        self.apply_adapter(run_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="adapter")
    def apply_adapter(self, run_id: str) -> None:
        """The run's base and LoRA, resolved (and the LoRA converted) in the model process, not in this one."""
        from llmdeck.services.chat_process import resolved_model
        from llmdeck.tuning.runs import get

        run = get(run_id)
        self.post_message(self.AdapterApplied(resolved_model(None, run.id), run.id, run.name))

    @on(AdapterApplied)
    async def adapter_applied(self, message: AdapterApplied) -> None:
        await self.action_new_chat()
        self.model_name, self.adapter, self.adapter_name = message.model, message.run_id, message.run_name
        self.query_one(ChatPickers).select_model(self.model_name)
        self.query_one(ChatLog).note(f"chatting with run {message.run_name}: its LoRA applied to {message.model}")
        self._status(f"model: {self.model_label}")
        self._switch_ended("adapter")

    def action_drop_adapter(self) -> None:
        if not self.adapter:
            self.notify("no adapter is applied", severity="warning")
            return
        self.query_one(ChatLog).note(f"the adapter of run {self.adapter_name or self.adapter} is off")
        self.adapter = self.adapter_name = None
        self._status(f"model: {self.model_label}")

    # -- pickers -----------------------------------------------------------------------------------
    @on(ChatPickers.ModelPicked)
    def switch_model(self, message: ChatPickers.ModelPicked) -> None:
        if message.name == self.model_name:
            return
        dropped = f" (the adapter of run {self.adapter_name or self.adapter} is off)" if self.adapter else ""
        if self.model_name is not None and (self.query_one(ChatLog).bubbles() or dropped):
            self.query_one(ChatLog).note(f"model switched to {message.name}{dropped}")
        self.model_name = message.name
        self.adapter = self.adapter_name = None
        self._status(f"model: {self.model_label}")

    @on(ChatPickers.CollectionPicked)
    def switch_collection(self, message: ChatPickers.CollectionPicked) -> None:
        chosen = message.name
        if chosen == self.collection:
            return
        if self.query_one(ChatLog).bubbles():
            self.query_one(ChatLog).note(f"answering from collection {chosen}" if chosen else "RAG off")
        self.collection = chosen

    def action_pick_model(self) -> None:
        self.query_one(ChatPickers).open_model_picker()

    def action_pick_collection(self) -> None:
        self.query_one(ChatPickers).open_collection_picker()

    def action_focus_sessions(self) -> None:
        self.query_one(SessionList).focus()

    # -- asking ------------------------------------------------------------------------------------
    @on(PromptInput.Submitted, "#prompt")
    def send(self, event: PromptInput.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt:
            return
        if self.busy:
            self.notify("an answer is streaming: Esc stops it (your message stays in the prompt)", severity="warning")
            return
        prompt_box = self.query_one(PromptInput)
        if self.switching or self.model_name is None:
            if self.held is not None:
                self.notify("a message is already held: it is sent when the switch ends", severity="warning")
                return
            self.held = prompt
            prompt_box.remember(prompt)
            prompt_box.clear()
            self._status(f"model: {self.model_label or '...'} - {self.switching}: your message is sent when it ends")
            return
        prompt_box.remember(prompt)
        prompt_box.clear()
        self._ask(prompt)

    @property
    def switching(self) -> str | None:
        """What the chat is switching to (its model, an adapter, a session), or None."""
        return next(iter(self.switches.values()), None)

    def _switch_ended(self, group: str, failed: bool = False) -> None:
        """A switch ended: a held message is sent now in the session on screen, or given back if it failed."""
        self.switches.pop(group, None)
        if self.switching or self.held is None:
            return
        held, self.held = self.held, None
        if failed or self.model_name is None:
            self.query_one(PromptInput).value = held
            self.notify("your message was not sent: the switch failed; it is back in the prompt", severity="warning")
        else:
            self._ask(held)

    def _ask(self, prompt: str) -> None:
        log = self.query_one(ChatLog)
        editing, self.editing = self.editing and self.session_id is not None, False
        if editing:
            self._drop_last_turn_from_log()
        log.add("user", prompt)
        self._start_answer()
        self._generate("edit" if editing else "ask", prompt)

    def action_regenerate(self) -> None:
        if self.busy or self.session_id is None or self.query_one(ChatLog).last_bubble("user") is None:
            self.notify("nothing to regenerate yet", severity="warning")
            return
        answer = self.query_one(ChatLog).last_bubble()
        if answer is not None and answer.role == "assistant":
            answer.remove()
        self._start_answer()
        self._generate("regenerate", None)

    def action_edit_last(self) -> None:
        last = self.query_one(ChatLog).last_bubble("user")
        if self.busy or last is None or self.session_id is None:
            self.notify("no message to edit", severity="warning")
            return
        prompt_box = self.query_one(PromptInput)
        prompt_box.value = last.text
        prompt_box.cursor_position = len(last.text)
        prompt_box.focus()
        self.editing = True
        self._status(f"model: {self.model_label} - editing your last message: Enter resends it")

    def _drop_last_turn_from_log(self) -> None:
        log = self.query_one(ChatLog)
        bubbles = log.bubbles()
        while bubbles and bubbles[-1].role == "assistant":
            bubbles.pop().remove()
        if bubbles and bubbles[-1].role == "user":
            bubbles.pop().remove()

    def _start_answer(self) -> None:
        self.query_one(ChatLog).add("assistant", label=self.model_label, streaming=True)
        self.busy, self.stopping = True, False
        self._status(f"model: {self.model_label} - thinking... (Esc stops)")

    def _generate(self, how: str, prompt: str | None) -> None:
        pending = dict(self.options) if self.session_id is None else {}
        self.generate(how, prompt, self.model_name, self.collection, self.session_id, pending, self.adapter)

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def generate(
        self,
        how: str,
        prompt: str | None,
        model: str,
        collection: str | None,
        session_id: str | None,
        pending: dict,
        adapter: str | None = None,
    ) -> None:
        """One service call (in the model process); cancelling the worker stops the answer (then the stream is
        closed, and its end read: the real token count of a stopped answer)."""
        from llmdeck.core.runtime import Sampling
        from llmdeck.services.chat import SAMPLING_OPTIONS
        from llmdeck.services.chat_process import ask

        options: dict = {"model": model, "rag": collection, "adapter": adapter}
        if pending:  # a new chat's choices: chat() keeps them with the session it creates
            options["system"] = pending.get("system")
            options["sampling"] = Sampling.from_settings(**{k: pending.get(k) for k in SAMPLING_OPTIONS})
        response = ask(how, prompt, session=session_id, **options)
        self.post_message(self.SessionStarted(response.session_id))
        worker = get_current_worker()
        response.stop_when(lambda: worker.is_cancelled)
        try:
            for text in response:  # batches, a few a second
                if worker.is_cancelled:
                    break
                self.post_message(self.Token(text))
        finally:
            response.close()
        stats = response.stats
        self.post_message(
            self.Answered(
                response.model,
                stats.tokens,
                stats.tokens_per_s,
                stats.ttft_s,
                response.stopped,
                response.prompt_tokens,
                response.n_ctx,
                response.sources,
            )
        )

    @on(SessionStarted)
    def remember_session(self, message: SessionStarted) -> None:
        new = self.session_id != message.session_id
        self.session_id = message.session_id
        if new:
            self.list_sessions()

    @on(Token)
    async def show_token(self, message: Token) -> None:
        if self.stopping:
            return
        log = self.query_one(ChatLog)
        bubble = log.last_bubble()
        if bubble is not None and bubble.role == "assistant":
            if await bubble.append(message.text):
                log.scroll_end(animate=False)

    @on(Answered)
    async def finish_answer(self, message: Answered) -> None:
        self.busy = self.stopping = False
        if self.app.sub_title == AWAY_MARKER:
            self.app.sub_title = ""
            self.app.notify("the chat's answer is complete (F1)")
        bubble = self.query_one(ChatLog).last_bubble()
        if bubble is not None and bubble.role == "assistant":
            await bubble.finish()
            if message.stopped:
                bubble.mark_stopped()
        if message.stopped:
            ended = "stopped"
        else:
            ended = f"first token {message.ttft_s * 1000:.0f} ms"
        used = message.prompt_tokens + message.tokens
        context = f", context {used}/{message.n_ctx} ({100 * used / message.n_ctx:.0f}%)" if message.n_ctx else ""
        speed = f"{message.tokens} tokens, {message.tokens_per_s:.1f} tok/s"
        self._status(f"model: {self.model_label} - {speed}{context}, {ended}")
        await self._show_sources(message.sources)
        self.list_sessions()  # message counts and titles

    async def _show_sources(self, sources: list[dict]) -> None:
        if self.closing:  # an answer that ends as the app quits
            return
        await self.query_one(SourcesPane).show(sources)

    @on(SourcesPane.SourceChosen)
    def open_source(self, message: SourcesPane.SourceChosen) -> None:
        from llmdeck.tui.screens.source import SourceScreen

        self.app.push_screen(SourceScreen(message.source))

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action != "chat":
            if action in ("model", "adapter"):
                self._status(f"model: {self.model_label or 'unavailable'} - {action} failed")
            if action in self.switches:
                self._switch_ended(action, failed=True)
            return
        self.busy = self.stopping = False
        if self.app.sub_title == AWAY_MARKER:
            self.app.sub_title = ""
        bubble = self.query_one(ChatLog).last_bubble()
        if bubble is not None and bubble.role == "assistant" and not bubble.text:
            bubble.remove()
        self._status(f"model: {self.model_label} - chat failed")

    def action_stop(self) -> None:
        if self.editing:
            self.editing = False
            self.query_one(PromptInput).clear()
            self._status(f"model: {self.model_label}")
        if self.busy and not self.stopping:  # the text stops now; the model stops at its next token
            self.stopping = True
            self._status(f"model: {self.model_label} - stopping...")
        self.workers.cancel_group(self, "chat")

    def on_screen_suspend(self) -> None:
        if self.busy:
            self.app.sub_title = AWAY_MARKER

    def on_screen_resume(self) -> None:
        if self.app.sub_title == AWAY_MARKER:
            self.app.sub_title = ""

    # -- sessions ----------------------------------------------------------------------------------
    async def action_new_chat(self) -> None:
        self.workers.cancel_group(self, "chat")
        self.busy = False
        self.session_id, self.options, self.editing = None, {}, False
        await self.query_one(ChatLog).remove_children()
        await self._show_sources([])
        self.query_one(SessionList).index = None
        self.query_one(PromptInput).focus()
        self._status(f"model: {self.model_label}")

    @on(ListView.Selected, "#session-list")
    def resume(self, event: ListView.Selected) -> None:
        session_id = getattr(event.item, "session_id", None)
        if session_id and session_id != self.session_id and not self.busy:
            self.switches["session"] = "opening the session"
            self.load_session(session_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="session")
    def load_session(self, session_id: str) -> None:
        from llmdeck.core import sessions
        from llmdeck.services.chat import session_options

        session = sessions.get_session(session_id)
        self.post_message(
            self.SessionLoaded(
                session,
                sessions.messages(session_id),
                session_options(session_id),
                _run_name(session.options.get("adapter")),
            )
        )

    @on(SessionLoaded)
    async def show_session(self, message: SessionLoaded) -> None:
        if self.closing:
            return
        session = message.session
        self.session_id, self.options, self.editing = session.id, message.options, False
        log = self.query_one(ChatLog)
        await log.remove_children()
        answered_by = None
        for stored in message.messages:
            if stored.role == "assistant" and stored.model and answered_by and stored.model != answered_by:
                log.note(f"model switched to {stored.model}")
            answered_by = stored.model or answered_by
            label = stored.model if stored.role == "assistant" else None
            if stored.stopped:
                label = f"{label or stored.role} (stopped)"
            log.add(stored.role, stored.content, label=label)
        pickers = self.query_one(ChatPickers)
        if session.model and session.model in pickers.models:
            self.model_name = session.model
        elif session.model:
            self.notify(
                f"this session's model {session.model!r} is no longer in the store; answering with {self.model_name}",
                severity="warning",
            )
        pickers.select_model(self.model_name)
        self.adapter, self.adapter_name = session.options.get("adapter"), message.adapter_name
        self.collection = session.rag_collection
        pickers.select_collection(self.collection)
        last_sources: list[dict] = next((m.sources for m in reversed(message.messages) if m.role == "assistant"), [])
        await self._show_sources(last_sources)
        self.query_one(PromptInput).set_history([m.content for m in message.messages if m.role == "user"])
        shown = f"session {session.title or session.id} ({len(message.messages)} messages)"
        self._status(f"model: {self.model_label} - {shown}")
        self.query_one(PromptInput).focus()
        self._switch_ended("session")

    @on(SessionList.Requested)
    def session_action(self, message: SessionList.Requested) -> None:
        from llmdeck.tui.screens.confirm import ConfirmScreen
        from llmdeck.tui.screens.text_prompt import TextPromptScreen

        sid = message.session_id
        if message.action == "rename":
            ask(
                self.app,
                TextPromptScreen("New title for this session", message.title),
                lambda title: self.change_session("rename", sid, title),
            )
        elif message.action == "delete":
            ask(
                self.app,
                ConfirmScreen(f"Delete the session '{message.title}' and its messages?"),
                lambda _: self.change_session("delete", sid),
            )
        elif message.action == "export":
            default = f"{sid}.md"
            ask(
                self.app,
                TextPromptScreen("Export this session as Markdown to", default),
                lambda path: self.change_session("export", sid, path),
            )

    @work(thread=True, exit_on_error=False, group="sessions")
    def change_session(self, action: str, session_id: str, value: str = "") -> None:
        from pathlib import Path

        from llmdeck.core import sessions
        from llmdeck.core.atomic import atomic_write_text

        if action == "rename":
            sessions.rename_session(session_id, value)
        elif action == "delete":
            sessions.delete_session(session_id)
        elif action == "export":
            target = Path(value).expanduser()
            atomic_write_text(target, sessions.export_session(session_id, "md"))
            self.app.call_from_thread(self.notify, f"session exported to {target.resolve()}")
        self.post_message(self.Listed(sessions=sessions.list_sessions()))
        if action == "delete" and session_id == self.session_id:
            # the callback's `T | Awaitable[T]` return: for an async callback mypy solves T as Never
            self.app.call_from_thread(self.run_action, "new_chat")  # type: ignore[arg-type]  # see above

    # -- options, ingest, copy ---------------------------------------------------------------------
    def action_options(self) -> None:
        from llmdeck.tui.screens.chat_options import ChatOptionsScreen

        self.app.push_screen(ChatOptionsScreen(self.options or self._default_options()), self._options_chosen)

    def _default_options(self) -> dict:
        from llmdeck.core.runtime import Sampling

        defaults = Sampling.from_settings()
        return {
            "system": None,
            "temperature": defaults.temperature,
            "top_p": defaults.top_p,
            "max_tokens": defaults.max_tokens,
        }

    def _options_chosen(self, options: dict | None) -> None:
        if options is not None:
            self.save_options(options, self.session_id)

    @work(thread=True, exit_on_error=False, group="options")
    def save_options(self, options: dict, session_id: str | None) -> None:
        from llmdeck.core.runtime import Sampling
        from llmdeck.services.chat import SAMPLING_OPTIONS, set_session_options

        if session_id:
            options = set_session_options(session_id, **options)
        else:  # checked now by the same rules; kept with the session the first answer creates
            Sampling.from_settings(**{k: options.get(k) for k in SAMPLING_OPTIONS})
            options = {**options, "system": (options.get("system") or "").strip() or None}
        self.post_message(self.OptionsSaved(options))

    @on(OptionsSaved)
    def options_saved(self, message: OptionsSaved) -> None:
        self.options = message.options
        system = message.options.get("system")
        self.notify(
            f"system prompt: {system[:40] + '...' if system and len(system) > 40 else system or 'none'}; "
            f"temperature {message.options.get('temperature')}, top-p {message.options.get('top_p')}, "
            f"max tokens {message.options.get('max_tokens')}",
            title="chat options saved",
        )

    def action_ingest(self) -> None:
        from llmdeck.tui.screens.ingest import IngestScreen

        self.app.push_screen(IngestScreen(self.collection), self._ingested)

    def _ingested(self, collection: str | None) -> None:
        if collection:
            self.collection = collection
            self.refresh_collections()

    @work(thread=True, exit_on_error=False, group="list")
    def refresh_collections(self) -> None:
        self.list_collections_now()

    def action_copy_answer(self) -> None:
        answer = self.query_one(ChatLog).last_bubble("assistant")
        if answer is None or not answer.text:
            self.notify("no answer to copy yet", severity="warning")
            return
        self.app.copy_to_clipboard(answer.text)
        self.notify("answer copied to the clipboard")

    def action_copy_code(self) -> None:
        answer = self.query_one(ChatLog).last_bubble("assistant")
        blocks = code_blocks(answer.text) if answer else []
        if not blocks:
            self.notify("the last answer has no code block", severity="warning")
            return
        self.app.copy_to_clipboard(blocks[-1])
        self.notify("code block copied to the clipboard")

    def _status(self, text: str) -> None:
        self.query_one("#chat-status", Static).update(text)
        self.sub_title = self.model_label  # the header names the model and the run's adapter too


def _run_name(run_id: str | None) -> str | None:
    """A run's name for the status line (None when it is gone: the id is shown instead)."""
    if not run_id:
        return None
    from llmdeck.core.errors import LlmdeckError
    from llmdeck.tuning.runs import get

    try:
        return get(run_id).name
    except LlmdeckError:
        return None
