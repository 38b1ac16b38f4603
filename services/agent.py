"""Agent runs for the CLI, the app and the benches: `ask()` checks everything (model, tools, workspace,
collection, limits) before it records or decodes anything and returns an `AgentResponse`: iterate it for
events (`agents.react` lists them); `answer`, `limit`, `steps` and `run_id` are set when the iteration ends;
`close()` (from any thread) or a `stop_when` check stops the run within a token of the model's generation,
recorded as cancelled. Every event is recorded as it happens (`agents.records`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.agents import records
from llmdeck.agents.react import AgentOptions, run_agent
from llmdeck.agents.tools import ToolCatalog, ToolSettings
from llmdeck.core.errors import BadInput
from llmdeck.core.runtime import load_entry
from llmdeck.core.store import ModelStore

STATUS_BY_LIMIT = {None: "answered", "max_steps": "limit", "wall_time": "limit", "error": "error"}


@dataclass
class AgentResponse:
    """One agent run being streamed: iterate for events, read the outcome when done."""

    run_id: str
    model: str
    question: str
    tools: list[str]
    warnings: list[str] = field(default_factory=list)  # custom tools that failed to load
    answer: str | None = None
    limit: str | None = None
    steps: int = 0
    seconds: float = 0.0
    events: list[dict] = field(default_factory=list)
    done: bool = False
    cancelled: bool = False
    _events: Iterator[dict] | None = field(default=None, repr=False)
    _iterator: Iterator[dict] | None = field(default=None, repr=False)
    _halt: threading.Event = field(default_factory=threading.Event, repr=False)
    _stop_when: Callable[[], bool] | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[dict]:
        if self._iterator is not None:
            raise RuntimeError("an AgentResponse can be iterated once")
        self._iterator = self._run()
        return self._iterator

    def _run(self) -> Iterator[dict]:
        try:
            for event in self._events:
                if self.stopped():
                    break  # what a stopped step leaves (an error, a best-so-far answer) is not the run's
                self.events.append(event)
                records.add_event(self.run_id, event)
                if event["type"] == "final":
                    self.answer, self.limit, self.steps = event["answer"], event["limit"], event["steps"]
                    self.seconds = event["seconds"]
                yield event
        finally:
            self._events.close()
            self._finish()

    def _finish(self) -> None:
        if self.answer is None:
            self.cancelled = True
            records.finish_run(self.run_id, "cancelled", None, self.steps)
        else:
            self.done = True
            records.finish_run(self.run_id, STATUS_BY_LIMIT.get(self.limit, "limit"), self.answer, self.steps)

    def stopped(self) -> bool:
        return self._halt.is_set() or bool(self._stop_when and self._stop_when())

    def read(self) -> str:
        """Run to the end and return the final answer."""
        for _ in self:
            pass
        return self.answer

    def close(self) -> None:
        """Stop the run (recorded as cancelled): at once when called between events, else (from another
        thread) at the model's next token. A finished run is left as it is."""
        if self.done or self.cancelled:
            return
        self._halt.set()
        if self._iterator is None:
            self._iterator = iter(())
            self._events.close()
            self._finish()
            return
        try:
            self._iterator.close()
        except ValueError:  # running in another thread: its generation stops at the next token
            pass


def ask(
    question: str,
    *,
    model: str | None = None,
    tools: list[str] | None = None,
    tools_files: tuple[str | Path, ...] = (),
    workspace: str | Path | None = None,
    collection: str | None = None,
    options: AgentOptions | None = None,
    thoughts: bool = False,
    observation_role: str = "user",
    isolation: str = "auto",
    n_ctx: int | None = None,
    n_threads: int | None = None,
    chat_model=None,
    stop_when: Callable[[], bool] | None = None,
) -> AgentResponse:
    """Start answering `question` with tools (names; None: the defaults) on a store model (or `chat_model`,
    any LangChain chat model with `bind_tools`: the tests' scripted ones); `stop_when` is checked at every
    token and event (the app passes its worker's cancellation)."""
    from llmdeck.agents.chat_model import ConstrainedChatModel, tool_specs
    from llmdeck.agents.decoding import system_prompt

    if not question or not question.strip():
        raise BadInput("agent: the question is empty")
    options = options or AgentOptions()
    settings = ToolSettings(workspace=Path(workspace) if workspace else None, collection=collection, isolation=isolation)
    catalog = ToolCatalog(tuple(tools_files), settings)
    built = catalog.build(tools)
    halt = threading.Event()

    def stopped() -> bool:
        return halt.is_set() or bool(stop_when and stop_when())

    if chat_model is None:
        entry = ModelStore().resolve(model)
        chat_model = ConstrainedChatModel(loaded=load_entry(entry, n_ctx=n_ctx, n_threads=n_threads),
                                          model_name=entry.name, thoughts=thoughts, observation_role=observation_role,
                                          stop_check=stopped)
        model_name, observation_role = entry.name, chat_model.rendered_observation_role
    else:
        model_name = getattr(chat_model, "model_name", None) or type(chat_model).__name__
    names = [tool.name for tool in built]
    run_options = {"tools": names, **options.model_dump(), "thoughts": thoughts, "observation_role": observation_role,
                   "workspace": str(settings.workspace or Path.cwd()), "collection": collection,
                   "system_prompt": system_prompt(tool_specs(built), options.system, thoughts)}
    run_id = records.start_run("agent", question, model_name, run_options)
    return AgentResponse(run_id=run_id, model=model_name, question=question, tools=names, warnings=catalog.warnings,
                         _events=run_agent(question, chat_model, built, options), _halt=halt, _stop_when=stop_when)
