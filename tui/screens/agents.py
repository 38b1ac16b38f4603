"""The agents screen: a question, the tools it may use, the model and the step limit; the ReAct trace
(thoughts, tool calls with their arguments, observations, the final answer) streams as the agent works;
past runs reopen with their whole trace.

One worker per run calls `llmdeck.services.agent.ask` (the same call as `llmdeck agent`) with the worker's
cancellation as its stop check: Esc (or quitting) ends the model's generation at the next token, and the
run is recorded as cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Header, Input, Label, Select, SelectionList, Static
from textual.worker import get_current_worker

from llmdeck.agents.events import RunEvent
from llmdeck.tui.screens.base import late_footer
from llmdeck.tui.screens.run_screen import RunScreen
from llmdeck.tui.widgets.agent_trace import LIMIT_NOTES, AgentTrace
from llmdeck.tui.widgets.field_input import FieldInput
from llmdeck.tui.widgets.run_history import RunHistory

if TYPE_CHECKING:
    from llmdeck.agents.records import RunRecord


class AgentsScreen(RunScreen):
    """A ReAct agent with tools on a local model: watch it think, call tools and answer."""

    CSS_PATH = "agents.tcss"
    RUN_KIND = "agent"
    TRACE = AgentTrace
    BUSY_NOTE = "the agent is working: Esc stops it"
    BINDINGS = [
        Binding("ctrl+r", "run_agent", "Run agent"),
        Binding("escape", "stop", "Stop agent"),
        Binding("ctrl+n", "new_question", "New question"),
        Binding("ctrl+t", "open_tools", "Tools"),
    ]
    SUBSCREENS = [("ctrl+t", "tools", "ToolsScreen")]
    PALETTE = [
        ("Pick the agent's model", "pick_model"),
        ("Toggle the agent's tools", "focus_tools"),
        ("Show the past agent runs", "focus_runs"),
    ]
    WIDGET_KEYS = [
        ("Enter", "question box: run the agent"),
        ("space / Enter", "tools list: toggle a tool"),
        ("Enter", "past runs: open a run's trace (and fill the form with its question and options)"),
    ]

    @dataclass
    class Listed(RunScreen.Listed):
        """Also the RAG collections and the tools (with the custom tools' load warnings)."""

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
    class Finished(RunScreen.Finished):
        answer: str | None
        limit: str | None
        steps: int
        seconds: float

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="agent-body"):
            with VerticalScroll(id="agent-form"):
                yield Label("Question", classes="pane-title")
                yield FieldInput(placeholder="Ask; Enter runs, Esc stops", id="agent-question")
                yield Label("Model", classes="pane-title")
                yield Select([], prompt="model", allow_blank=True, compact=True, id="agent-model")
                yield Label("Tools (space toggles)", classes="pane-title")
                yield SelectionList(id="agent-tools", compact=True)
                yield Label("RAG collection (for rag_search)", classes="pane-title")
                yield Select([], prompt="none", allow_blank=True, compact=True, id="agent-collection")
                yield Label("Max steps", classes="pane-title")
                yield FieldInput("6", type="integer", compact=True, id="agent-max-steps")
                yield Label("Workspace (the files tool's folder)", classes="pane-title")
                yield FieldInput(placeholder="(the current directory)", compact=True, id="agent-workspace")
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

    # -- the tools and the collections (the run screen fills the model picker) ---------------------
    def listed(self, models: list[str], default_model: str | None) -> Listed:
        from llmdeck.agents.tools import ToolCatalog
        from llmdeck.rag.query import list_collections

        catalog = ToolCatalog()
        return self.Listed(
            models, default_model, [c.name for c in list_collections()], catalog.info(), catalog.warnings
        )

    @on(Listed)
    def show_choices(self, message: Listed) -> None:
        collections = self.query_one("#agent-collection", Select)
        with collections.prevent(Select.Changed):
            collections.set_options([(name, name) for name in message.collections])
        tools = self.query_one("#agent-tools", SelectionList)
        shown = {tools.get_option_at_index(i).value for i in range(tools.option_count)}
        chosen_tools = set(tools.selected)  # shown again: keep the user's toggles; a new tool (an MCP server
        tools.clear_options()  # turned on in the tools screen) comes with its default
        tools.add_options(
            [
                (f"{t.name}: {t.description}", t.name, t.name in chosen_tools if t.name in shown else t.default)
                for t in message.tools
            ]
        )
        for warning in message.warnings:
            self.notify(warning, title="a tool or MCP server did not load", severity="warning", timeout=8)

    @on(Select.Changed, "#agent-collection")
    def collection_changed(self, event: Select.Changed) -> None:
        """Picking a collection turns rag_search on; clearing it turns rag_search off (it would be refused)."""
        self._toggle_tool("rag_search", event.value is not Select.NULL)

    # -- running ---------------------------------------------------------------------------------
    @on(Input.Submitted, "#agent-question")
    @on(Button.Pressed, "#agent-run")
    async def action_run_agent(self) -> None:
        if self.refused_while_busy():
            return
        question = self.query_one("#agent-question", Input).value.strip()
        if not question:
            self.notify("type a question first", severity="warning")
            self.query_one("#agent-question", Input).focus()
            return
        collection = self.query_one("#agent-collection", Select).value
        tools = [str(name) for name in self.query_one("#agent-tools", SelectionList).selected]
        model = await self.start_run(question)
        self.agent_run(
            question,
            model,
            tools,
            None if collection is Select.NULL else str(collection),
            self.query_one("#agent-max-steps", Input).value,
            self.query_one("#agent-workspace", Input).value.strip() or None,
            self.query_one("#agent-thoughts", Checkbox).value,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="agent")
    def agent_run(
        self,
        question: str,
        model: str | None,
        tools: list[str],
        collection: str | None,
        max_steps: str,
        workspace: str | None,
        thoughts: bool,
    ) -> None:
        """One service call, its events relayed (Esc, quitting: the generation stops at its next token)."""
        from llmdeck.agents.react import AgentOptions
        from llmdeck.core.errors import validated
        from llmdeck.services.agent import ask

        options = validated(AgentOptions, "agent", {"max_steps": max_steps or 0})
        worker = get_current_worker()
        response = ask(
            question,
            model=model,
            tools=tools,
            collection=collection,
            workspace=workspace,
            options=options,
            thoughts=thoughts,
            stop_when=lambda: worker.is_cancelled,
        )
        self.post_message(self.Started(response.run_id, response.model, response.tools, response.warnings))
        self.relay_events(response)
        self.post_message(
            self.Finished(
                response.run_id, response.cancelled, response.answer, response.limit, response.steps, response.seconds
            )
        )

    @on(Started)
    def run_started(self, message: Started) -> None:
        self.run_id, self.run_model = message.run_id, message.model
        for warning in message.warnings:
            self.notify(warning, title="a tool or MCP server did not load", severity="warning", timeout=8)
        tools = ", ".join(message.tools) or "no tools"
        self._status(f"model: {message.model} - run {message.run_id} with {tools}: working... (Esc stops)")
        self.query_one(RunHistory).reload()

    async def show_event(self, event: RunEvent) -> None:
        self.query_one(AgentTrace).add_event(event)

    def outcome(self, message: RunScreen.Finished) -> str:
        assert isinstance(message, AgentsScreen.Finished)  # the run worker posts this screen's own Finished
        if message.cancelled:
            ended = "stopped (recorded as cancelled)"
        else:
            ended = LIMIT_NOTES.get(message.limit or "", "answered")
        return f"{ended} in {message.steps} steps, {message.seconds:.1f} s"

    async def action_new_question(self) -> None:
        if self.refused_while_busy():
            return
        await self.clear_run()
        question = self.query_one("#agent-question", Input)
        question.value = ""
        question.focus()

    # -- past runs -------------------------------------------------------------------------------
    def fill_form(self, run: RunRecord) -> None:
        options = run.options
        self.query_one("#agent-question", Input).value = run.prompt
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

    def action_open_tools(self) -> None:
        from llmdeck.tui.screens.tools import ToolsScreen

        self.app.push_screen(ToolsScreen())

    def action_focus_tools(self) -> None:
        self.query_one("#agent-tools", SelectionList).focus()
