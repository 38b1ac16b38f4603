"""The ReAct agent: LangChain's `create_agent` over any chat model (ours: `ConstrainedChatModel`), our tools
and the middleware of `agents.middleware`, streamed as the events of `agents.events`: `ThoughtWritten`,
`ToolCalled`, `ToolReturned`, `AgentFailed` and `AgentAnswered`.

A run always ends with one `AgentAnswered`: on a limit or a failure, with the best answer so far, marked.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator

from pydantic import BaseModel, Field

from llmdeck.agents.decoding import FINAL_ANSWER, step_text
from llmdeck.agents.events import AgentAnswered, AgentEvent, AgentFailed, ThoughtWritten, ToolCalled, ToolReturned


class AgentOptions(BaseModel):
    """How one agent run is bounded and prompted."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    max_steps: int = Field(
        6, ge=1, le=50, description="Model steps at most; the last one must answer (tools withheld)."
    )
    max_seconds: float = Field(120.0, gt=0, le=86_400, description="Wall-time limit, checked before each step.")
    system: str | None = Field(None, description="Extra instructions placed before the ReAct instructions.")


def run_agent(question: str, chat_model, tools: list, options: AgentOptions) -> Generator[AgentEvent, None, None]:
    """Stream one run's events (see the module docstring)."""
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage

    from llmdeck.agents.middleware import agent_middleware

    start = time.monotonic()
    limits, middleware = agent_middleware(options.max_steps, options.max_seconds)
    agent = create_agent(chat_model, tools, system_prompt=options.system, middleware=middleware)
    trace = _Trace()
    try:
        updates = agent.stream(
            {"messages": [HumanMessage(question)]},
            stream_mode="updates",
            config={"recursion_limit": 4 * options.max_steps + 10},
        )
        for update in updates:
            for node_update in update.values():
                for message in (node_update or {}).get("messages", []) if isinstance(node_update, dict) else []:
                    yield from trace.events_for(message)
    except Exception as exc:  # the run still ends with an answer: the best so far
        yield AgentFailed(f"{type(exc).__name__}: {exc}")
        trace.limit = "error"
    yield trace.final_event(limits.limit, time.monotonic() - start)


class _Trace:
    """Turns the agent's messages into events and remembers what the final event needs."""

    def __init__(self):
        self.step = 0
        self.answer: str | None = None
        self.answer_text: str | None = None
        self.thought = ""
        self.last_observation: str | None = None
        self.limit: str | None = None
        self.well_formed = True

    def events_for(self, message) -> Iterator[AgentEvent]:
        from langchain_core.messages import AIMessage, ToolMessage

        if isinstance(message, AIMessage):
            self.step += 1
            metadata = message.response_metadata or {}
            self.thought = metadata.get("thought") or (str(message.content) if message.tool_calls else "")
            if self.thought:
                yield ThoughtWritten(self.step, self.thought)
            for call in message.tool_calls:
                call_id = call["id"]
                assert call_id is not None  # ConstrainedChatModel gives each call an id
                yield ToolCalled(
                    self.step,
                    call["name"],
                    call["args"],
                    call_id,
                    metadata.get("step_text") or step_text(self.thought, call["name"], call["args"]),
                    well_formed=metadata.get("well_formed") is not False,
                )
            if not message.tool_calls:
                self.answer = str(message.content)
                self.answer_text = metadata.get("step_text")
                self.well_formed = metadata.get("well_formed", True)
        elif isinstance(message, ToolMessage):
            error = getattr(message, "status", "success") == "error"
            content = str(message.content)
            if not error:
                self.last_observation = content
            assert message.name is not None  # the agent's tool node and middleware name each result
            yield ToolReturned(self.step, message.name, content, error)

    def final_event(self, limit: str | None, seconds: float) -> AgentAnswered:
        limit = self.limit or limit
        answer = self.answer if self.answer is not None else (self.last_observation or "(no answer)")
        text = (
            self.answer_text
            if self.answer is not None and self.answer_text
            else step_text(self.thought if self.answer is not None else "", FINAL_ANSWER, {"answer": answer})
        )
        return AgentAnswered(answer, self.step, limit, round(seconds, 3), text, well_formed=bool(self.well_formed))
