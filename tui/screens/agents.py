"""The agents screen: a question, the tools it may use, the model and the step limit; the ReAct trace
(thoughts, tool calls with their arguments, observations, the final answer) streams as the agent works;
past runs reopen with their whole trace.

One worker per run calls `llmdeck.services.agent.ask` (the same call as `llmdeck agent`) with the worker's
cancellation as its stop check: Esc (or quitting) ends the model's generation at the next token, and the
run is recorded as cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Header, Input, Label, Select, SelectionList, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, late_footer
from llmdeck.tui.widgets.agent_trace import LIMIT_NOTES, AgentTrace
from llmdeck.tui.widgets.run_history import RunHistory


class AgentsScreen(BaseScreen):
    """A ReAct agent with tools on a local model: watch it think, call tools and answer."""

    CSS_PATH = "agents.tcss"
    BINDINGS = [
        Binding("ctrl+r", "run_agent", "Run agent"),
        Binding("escape", "stop", "Stop agent"),
        Binding("ctrl+n", "new_question", "New question"),
    ]
    PALETTE = [("Pick the agent's model", "pick_model"), ("Toggle the agent's tools", "focus_tools"),
               ("Show the past agent runs", "focus_runs")]
    WIDGET_KEYS = [("Enter", "question box: run the agent"), ("space / Enter", "tools list: toggle a tool"),
                   ("Enter", "past runs: open a run's trace (and fill the form with its question and options)")]

    @dataclass
    class Listed(Message):
        """Store models, the default, collections and tools, read off the UI thread."""

        models: list[str]
        default_model: str | None
        collections: list[str]
        tools: list  # agents.tools.ToolInfo
        warnings: list[str]

    @dataclass
    class Started(Message):
        run_id: str
        model: str
        tools: list[str]
        warnings: list[str]

    @dataclass
    class Traced(Message):
        """One event of the running agent."""

        event: dict

    @dataclass
    class Finished(Message):
        run_id: str
        answer: str | None
        limit: str | None
        steps: int
        seconds: float
        cancelled: bool

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.run_id: str | None = None
        self.run_model: str | None = None  # the model the current run resolved to (the store default's name)
        self.models: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="agent-body"):
            with VerticalScroll(id="agent-form"):
                yield Label("Question", classes="pane-title")
                yield Input(placeholder="Ask; Enter runs, Esc stops", id="agent-question")
                yield Label("Model", classes="pane-title")
                yield Select([], prompt="model", allow_blank=True, compact=True, id="agent-model")
                yield Label("Tools (space toggles)", classes="pane-title")
                yield SelectionList(id="agent-tools", compact=True)
                yield Label("RAG collection (for rag_search)", classes="pane-title")
                yield Select([], prompt="none", allow_blank=True, compact=True, id="agent-collection")
                yield Label("Max steps", classes="pane-title")
                yield Input("6", type="integer", compact=True, id="agent-max-steps")
                yield Label("Workspace (the files tool's folder)", classes="pane-title")
                yield Input(placeholder="(the current directory)", compact=True, id="agent-workspace")
                yield Checkbox("Thought before each action", compact=True, id="agent-thoughts")
                yield Button("Run (ctrl+r)", variant="primary", id="agent-run")
            with Vertical(id="agent-main"):
                yield Static("model: resolving...", id="agent-status", classes="status", markup=False)
                yield AgentTrace(id="agent-trace")
                yield Label("Past runs (Enter opens)", classes="pane-title")
                yield RunHistory("agent", id="agent-runs")
        yield late_footer()

    def on_mount(self) -> None:
        self.query_one("#agent-question", Input).focus()

    def on_screen_resume(self) -> None:
        """The store is read each time the screen is shown (an export on the train screen adds models)."""
        self.list_choices()

    # -- reading the store, the tools and the past runs ------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def list_choices(self) -> None:
        from llmdeck.agents.tools import ToolCatalog
        from llmdeck.core.store import ModelStore
        from llmdeck.rag.query import list_collections

        store = ModelStore()
        models = [e.name for e in store.list()]
        default = store.resolve(None).name if models else None
        catalog = ToolCatalog()
        self.post_message(self.Listed(models, default, [c.name for c in list_collections()], catalog.info(),
                                      catalog.warnings))

    @on(Listed)
    def show_choices(self, message: Listed) -> None:
        picker = self.query_one("#agent-model", Select)
        chosen = picker.value
        self.models = set(message.models)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in message.models])
            picker.value = chosen if chosen in self.models else (message.default_model or Select.NULL)
        collections = self.query_one("#agent-collection", Select)
        with collections.prevent(Select.Changed):
            collections.set_options([(name, name) for name in message.collections])
        tools = self.query_one("#agent-tools", SelectionList)
        listed = tools.option_count > 0  # shown again: keep the user's toggles
        chosen_tools = set(tools.selected)
        tools.clear_options()
        tools.add_options([(f"{t.name}: {t.description}", t.name, t.name in chosen_tools if listed else t.default)
                           for t in message.tools])
        for warning in message.warnings:
            self.notify(warning, title="a custom tool did not load", severity="warning", timeout=8)
        self._status(self._idle_status())

    @on(Select.Changed, "#agent-collection")
    def collection_changed(self, event: Select.Changed) -> None:
        """Picking a collection turns rag_search on; clearing it turns rag_search off (it would be refused)."""
        self._toggle_tool("rag_search", event.value is not Select.NULL)

    @on(Select.Changed, "#agent-model")
    def model_changed(self) -> None:
        if not self.busy:
            self._status(self._idle_status())

    # -- running ---------------------------------------------------------------------------------
    @on(Input.Submitted, "#agent-question")
    @on(Button.Pressed, "#agent-run")
    async def action_run_agent(self) -> None:
        if self.busy:
            self.notify("the agent is working: Esc stops it", severity="warning")
            return
        question = self.query_one("#agent-question", Input).value.strip()
        if not question:
            self.notify("type a question first", severity="warning")
            self.query_one("#agent-question", Input).focus()
            return
        model = self.query_one("#agent-model", Select).value
        collection = self.query_one("#agent-collection", Select).value
        tools = [str(name) for name in self.query_one("#agent-tools", SelectionList).selected]
        self.busy = True
        self.run_id = None
        await self.query_one(AgentTrace).start(question)
        self._status(f"model: {model if model is not Select.NULL else 'store default'} - starting...")
        self.agent_run(question, None if model is Select.NULL else str(model), tools,
                       None if collection is Select.NULL else str(collection),
                       self.query_one("#agent-max-steps", Input).value,
                       self.query_one("#agent-workspace", Input).value.strip() or None,
                       self.query_one("#agent-thoughts", Checkbox).value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="agent")
    def agent_run(self, question: str, model: str | None, tools: list[str], collection: str | None, max_steps: str,
                  workspace: str | None, thoughts: bool) -> None:
        """One service call; a cancellation check on every event (then the response is closed)."""
        from llmdeck.agents.react import AgentOptions
        from llmdeck.core.errors import validated
        from llmdeck.services.agent import ask

        options = validated(AgentOptions, "agent", {"max_steps": max_steps or 0})
        worker = get_current_worker()  # cancelled (Esc, quitting): the generation stops at its next token
        response = ask(question, model=model, tools=tools, collection=collection, workspace=workspace,
                       options=options, thoughts=thoughts, stop_when=lambda: worker.is_cancelled)
        self.post_message(self.Started(response.run_id, response.model, response.tools, response.warnings))
        try:
            for event in response:
                if worker.is_cancelled:
                    break
                self.post_message(self.Traced(event))
        finally:
            response.close()
        self.post_message(self.Finished(response.run_id, response.answer, response.limit, response.steps,
                                        response.seconds, response.cancelled))

    @on(Started)
    def run_started(self, message: Started) -> None:
        self.run_id, self.run_model = message.run_id, message.model
        for warning in message.warnings:
            self.notify(warning, title="a custom tool did not load", severity="warning", timeout=8)
        tools = ", ".join(message.tools) or "no tools"
        self._status(f"model: {message.model} - run {message.run_id} with {tools}: working... (Esc stops)")
        self.query_one(RunHistory).reload()

    @on(Traced)
    def show_event(self, message: Traced) -> None:
        if not self.closing:
            self.query_one(AgentTrace).add_event(message.event)

    @on(Finished)
    def run_finished(self, message: Finished) -> None:
        self.busy = False
        if self.closing:
            return
        if message.cancelled:
            outcome = "stopped (recorded as cancelled)"
            self.query_one(AgentTrace).note("stopped")
        else:
            outcome = LIMIT_NOTES.get(message.limit, "answered")
        self._status(f"model: {self.run_model} - run {message.run_id}: {outcome} in {message.steps} steps, "
                     f"{message.seconds:.1f} s")
        self.query_one(RunHistory).reload()

    def action_stop(self) -> None:
        if self.busy:
            self._status("stopping...")
        self.workers.cancel_group(self, "agent")

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == "agent":
            self.busy = False
            self.query_one(AgentTrace).note(f"failed: {error}")
            self._status(f"{self._idle_status()} - the run failed")
            self.query_one(RunHistory).reload()

    async def action_new_question(self) -> None:
        if self.busy:
            self.notify("the agent is working: Esc stops it", severity="warning")
            return
        await self.query_one(AgentTrace).remove_children()
        question = self.query_one("#agent-question", Input)
        question.value = ""
        question.focus()
        self.run_id = None
        self._status(self._idle_status())

    # -- past runs -------------------------------------------------------------------------------
    @on(RunHistory.Opened)
    async def show_run(self, message: RunHistory.Opened) -> None:
        if self.busy:
            self.notify("the agent is working: Esc stops it first", severity="warning")
            return
        run = message.run
        trace = self.query_one(AgentTrace)
        await trace.start(run.prompt)
        for event in run.events:
            trace.add_event(event)
        if run.status == "cancelled":
            trace.note("stopped")
        self.run_id = run.id
        self._fill_form(run)
        self._status(self.query_one(RunHistory).describe(run))

    def _fill_form(self, run) -> None:
        options = run.options
        self.query_one("#agent-question", Input).value = run.prompt
        if run.model in self.models:
            self.query_one("#agent-model", Select).value = run.model
        self.query_one("#agent-tools", SelectionList).deselect_all()
        for name in options.get("tools", []):
            self._toggle_tool(name, True)
        self.query_one("#agent-max-steps", Input).value = str(options.get("max_steps", 6))
        self.query_one("#agent-thoughts", Checkbox).value = bool(options.get("thoughts"))

    def _toggle_tool(self, name: str, on: bool) -> None:
        """Select or deselect a listed tool (SelectionList would also 'select' a value it does not list)."""
        tools = self.query_one("#agent-tools", SelectionList)
        if name in [tools.get_option_at_index(i).value for i in range(tools.option_count)]:
            tools.select(name) if on else tools.deselect(name)

    # -- pickers ---------------------------------------------------------------------------------
    def action_pick_model(self) -> None:
        self.query_one("#agent-model", Select).action_show_overlay()

    def action_focus_tools(self) -> None:
        self.query_one("#agent-tools", SelectionList).focus()

    def action_focus_runs(self) -> None:
        self.query_one(RunHistory).focus()

    def _idle_status(self) -> str:
        model = self.query_one("#agent-model", Select).value
        return f"model: {model if model is not Select.NULL else 'store default'}"

    def _status(self, text: str) -> None:
        self.query_one("#agent-status", Static).update(text)
