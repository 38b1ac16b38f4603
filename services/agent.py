"""Agent runs for the CLI, the app and the benches: `ask()` checks everything (model, tools, workspace,
collection, limits) before it records or decodes anything and returns an `AgentResponse`: iterate it for
events (`agents.events`: ThoughtWritten ... AgentAnswered); `answer`, `limit`, `steps` and `run_id` are set
when the iteration ends; `close()` (from any thread) or a `stop_when` check stops the run within a token of the
model's generation, recorded as cancelled. Every event is recorded as it happens (`agents.records`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.agents import records
from llmdeck.agents.events import AgentAnswered, RunEvent
from llmdeck.agents.react import AgentOptions, run_agent
from llmdeck.agents.tools import ToolCatalog, ToolSettings
from llmdeck.core.errors import BadInput
from llmdeck.core.runtime import load_entry
from llmdeck.services.recorded_run import RecordedRun, halt_check

STATUS_BY_LIMIT = {None: "answered", "max_steps": "limit", "wall_time": "limit", "error": "error"}


@dataclass
class AgentResponse(RecordedRun):
    """One agent run being streamed: iterate for events, read the outcome when done."""

    model: str
    question: str
    tools: list[str]
    warnings: list[str] = field(default_factory=list)  # custom tools that failed to load
    answer: str | None = None
    limit: str | None = None
    steps: int = 0
    seconds: float = 0.0
    _stop_when: Callable[[], bool] | None = field(default=None, repr=False)

    def _drops(self, event: RunEvent) -> bool:
        return self.stopped()  # what a stopped step leaves (an error, a best-so-far answer) is not the run's

    def _take(self, event: RunEvent) -> None:
        if isinstance(event, AgentAnswered):
            self.answer, self.limit, self.steps, self.seconds = event.answer, event.limit, event.steps, event.seconds

    def _finish(self, failed: bool = False) -> None:
        if self.answer is None:
            self.cancelled = True
            records.finish_run(self.run_id, "cancelled", None, self.steps)
        else:
            self.done = True
            records.finish_run(self.run_id, STATUS_BY_LIMIT.get(self.limit, "limit"), self.answer, self.steps)

    def stopped(self) -> bool:
        return self._halt.is_set() or bool(self._stop_when and self._stop_when())

    def read(self) -> str | None:
        """Run to the end and return the final answer (None: the run was stopped before it)."""
        for _ in self:
            pass
        return self.answer

    def _stop_started(self, iteration: Generator[RunEvent, None, None]) -> None:
        """Close the iteration: at once between events, else (from another thread) at the model's next token."""
        try:
            iteration.close()
        except ValueError:  # running in another thread: its generation stops at the next token
            pass


def load_for_run(model: str | None, adapter: str | None, n_ctx: int | None, n_threads: int | None):
    """The name of what runs (`MODEL+RUN` with an adapter) and the loaded model: `model`, or a training run's LoRA
    applied by llama.cpp to `model` (default: the run's own base GGUF)."""
    from llmdeck.core.runtime import LoraNotApplicable
    from llmdeck.services.chat import resolve_model

    entry, lora_path = resolve_model(model, adapter)
    try:
        loaded = load_entry(entry, n_ctx=n_ctx, n_threads=n_threads, lora_path=lora_path)
    except LoraNotApplicable as exc:
        raise BadInput(f"{exc}; export the run instead: `llmdeck export {adapter}`") from None
    return (f"{entry.name}+{adapter}" if adapter else entry.name), loaded


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
    adapter: str | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    constrained: bool = True,
    task: dict | None = None,
    guide: str | None = None,
) -> AgentResponse:
    """Start answering `question` with tools (names; None: the defaults) on a store model (or `chat_model`,
    any LangChain chat model with `bind_tools`: the tests' scripted ones). `adapter`: a finished training run
    whose LoRA llama.cpp applies to `model` (default: the run's own base). `temperature` > 0 samples each
    step (seeded by `seed`); `constrained=False` decodes without grammars (what the model does on its own).
    `task` (a task file's entry: id, split, set...) is recorded with the run. `guide` fixes the first step's
    action (a tool name or final_answer; constrained runs only); the rest of the run is the model's own.
    `stop_when` is checked at every token and event (the app passes its worker's cancellation)."""
    from llmdeck.agents.chat_model import ConstrainedChatModel, tool_specs
    from llmdeck.agents.decoding import system_prompt

    if not question or not question.strip():
        raise BadInput("agent: the question is empty")
    options = options or AgentOptions()
    settings = ToolSettings(
        workspace=Path(workspace) if workspace else None, collection=collection, isolation=isolation
    )
    catalog = ToolCatalog(tuple(tools_files), settings)
    built = catalog.build(tools)
    halt, stopped = halt_check(stop_when)
    if temperature < 0:
        raise BadInput(f"agent: temperature {temperature}: expected a number >= 0")
    if guide is not None and guide != "final_answer" and guide not in [tool.name for tool in built]:
        raise BadInput(f"agent: guide {guide!r} is not one of the run's tools ({', '.join(t.name for t in built)})")
    if chat_model is None:
        model_name, loaded = load_for_run(model, adapter, n_ctx, n_threads)
        chat_model = ConstrainedChatModel(
            loaded=loaded,
            model_name=model_name,
            thoughts=thoughts,
            observation_role=observation_role,
            temperature=temperature,
            seed=seed,
            constrained=constrained,
            guide=guide,
            stop_check=stopped,
        )
        observation_role = chat_model.rendered_observation_role
    else:
        model_name = getattr(chat_model, "model_name", None) or type(chat_model).__name__
    names = [tool.name for tool in built]
    run_options = {
        "tools": names,
        **options.model_dump(),
        "thoughts": thoughts,
        "observation_role": observation_role,
        "workspace": str(settings.workspace or Path.cwd()),
        "collection": collection,
        "system_prompt": system_prompt(tool_specs(built), options.system, thoughts),
        "adapter": adapter,
        "temperature": temperature,
        "seed": seed,
        "constrained": constrained,
        "guide": guide,
        **({"task": task} if task else {}),
    }
    run_id = records.start_run("agent", question, model_name, run_options)
    return AgentResponse(
        run_id=run_id,
        model=model_name,
        question=question,
        tools=names,
        warnings=catalog.warnings,
        _events=run_agent(question, chat_model, built, options),
        _halt=halt,
        _stop_when=stop_when,
    )
