"""LangChain agent middleware that keeps a tiny model's ReAct loop safe and finite:

- `StepLimits`: at most `max_steps` model steps and `max_seconds` of wall time (checked before each step);
  the last step is decoded with the tools withheld, so the run always ends with an answer, marked with
  the limit that forced it.
- `RepeatGuard`: the same tool call twice in a row is refused with an observation (not run again).
- `ArgumentCheck`: arguments are validated against the tool's JSON schema; unknown tools and invalid
  arguments come back as observations naming every problem.
Tool exceptions become observations through LangChain's own `ToolErrorMiddleware` (see `agent_middleware`).
"""

from __future__ import annotations

import json
import time

from langchain.agents.middleware import AgentMiddleware, ModelResponse, ToolErrorMiddleware
from langchain_core.messages import AIMessage, ToolMessage

from llmdeck.agents.tools import tool_parameters


class StepLimits(AgentMiddleware):
    """Withholds the tools on the last allowed step (by count or by time) and guarantees a final answer."""

    def __init__(self, max_steps: int, max_seconds: float, clock=time.monotonic):
        super().__init__()
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.clock = clock
        self.started = clock()
        self.steps = 0
        self.limit: str | None = None

    def wrap_model_call(self, request, handler):
        self.steps += 1
        if self.steps >= self.max_steps:
            self.limit = "max_steps"
        elif self.clock() - self.started >= self.max_seconds:
            self.limit = "wall_time"
        if self.limit is None:
            return handler(request)
        response = handler(request.override(tools=[], tool_choice="none"))
        messages = response.result if isinstance(response, ModelResponse) else [response]
        answer = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        if answer is None or answer.tool_calls:  # a model that ignores the withheld tools: best answer so far
            answer = AIMessage(
                content=best_answer_so_far(request.messages),
                response_metadata=dict(answer.response_metadata) if answer else {},
            )
        answer.response_metadata["limit"] = self.limit
        return ModelResponse(result=[answer])


def best_answer_so_far(messages) -> str:
    """The last tool result (what the run learned last), or a plain statement that nothing was found."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage) and getattr(message, "status", "success") != "error":
            return str(message.content)
    return "(no answer found within the limits)"


class RepeatGuard(AgentMiddleware):
    """Refuses a tool call identical to the one just before it."""

    def __init__(self):
        super().__init__()
        self.last: tuple[str, str] | None = None

    def wrap_tool_call(self, request, handler):
        call = request.tool_call
        key = (call["name"], json.dumps(call.get("args") or {}, sort_keys=True))
        if key == self.last:
            return ToolMessage(
                content=f"Refused: you just called {call['name']} with these same arguments; its result is above."
                " Use it, try something else, or give the final answer.",
                tool_call_id=call["id"],
                name=call["name"],
                status="error",
            )
        self.last = key
        return handler(request)


class ArgumentCheck(AgentMiddleware):
    """Unknown tools and arguments that do not fit the tool's schema become observations."""

    def wrap_tool_call(self, request, handler):
        import jsonschema

        call = request.tool_call
        if request.tool is None:
            return ToolMessage(
                content=f"Error: there is no tool named {call['name']!r}.",
                tool_call_id=call["id"],
                name=call["name"],
                status="error",
            )
        schema = tool_parameters(request.tool)
        problems = [
            f"{'.'.join(str(p) for p in error.path) or 'arguments'}: {error.message}"
            for error in sorted(jsonschema.Draft202012Validator(schema).iter_errors(call.get("args") or {}), key=str)
        ]
        if problems:
            return ToolMessage(
                content=f"Error: invalid arguments for {call['name']}: " + "; ".join(problems),
                tool_call_id=call["id"],
                name=call["name"],
                status="error",
            )
        return handler(request)


def tool_error_observation(error: Exception, request) -> str:
    """A failing tool's exception as the observation the model sees next."""
    return f"Error: {request.tool_call['name']} failed: {type(error).__name__}: {error}"


def agent_middleware(max_steps: int, max_seconds: float) -> tuple[StepLimits, list]:
    """The middleware stack, outermost first, and the `StepLimits` whose `limit` says how a run ended."""
    limits = StepLimits(max_steps, max_seconds)
    return limits, [limits, RepeatGuard(), ArgumentCheck(), ToolErrorMiddleware(tool_error_observation)]
