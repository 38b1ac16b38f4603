"""The events of the recorded runs: an agent run's (`agents.react`) and a verify run's (`agents.verify`, its
executions from `agents.executor`). They live here, apart from the modules that emit them, because those import
LangChain and AutoGen while the front ends and the run records (`agents.records`) read these without them.
Each event's JSON form ("type" and its fields) is the `--json` line and the stored record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmdeck.core.events import Event, decoder, omitted_when


# -- an agent run (agents.react): thoughts, tool calls, their results, then always one AgentAnswered ------------
@dataclass(frozen=True)
class ThoughtWritten(Event):
    """The model's thought before a step's action."""

    type = "thought"
    step: int
    text: str


@dataclass(frozen=True)
class ToolCalled(Event):
    """A step that calls a tool; `text` is the step as the model wrote it."""

    type = "tool_call"
    step: int
    name: str
    args: dict[str, Any]
    id: str
    text: str
    well_formed: bool = omitted_when(True)  # False: a free-text step that had to be repaired to parse


@dataclass(frozen=True)
class ToolReturned(Event):
    """A tool's result (or its error) for the step's call."""

    type = "observation"
    step: int
    name: str
    content: str
    error: bool


@dataclass(frozen=True)
class AgentAnswered(Event):
    """The run's end: its answer, or on a limit or failure the best answer so far (`limit` says which)."""

    type = "final"
    answer: str
    steps: int
    limit: str | None  # None, "max_steps", "wall_time" or "error"
    seconds: float
    text: str
    well_formed: bool = omitted_when(True)


@dataclass(frozen=True)
class AgentFailed(Event):
    """The agent raised; an AgentAnswered with limit "error" follows."""

    type = "error"
    message: str


AGENT_EVENTS = (ThoughtWritten, ToolCalled, ToolReturned, AgentAnswered, AgentFailed)
AgentEvent = ThoughtWritten | ToolCalled | ToolReturned | AgentAnswered | AgentFailed


# -- a verify run (agents.verify): code, its execution, the messages, then one VerdictReached ------------------
@dataclass(frozen=True)
class CodeWritten(Event):
    """The writer's program of a round (`text`: its whole reply)."""

    type = "code"
    round: int
    code: str
    text: str


@dataclass(frozen=True)
class CodeExecuted(Event):
    """A round's program run in the sandbox and checked (stdout and stderr truncated)."""

    type = "execution"
    round: int
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    isolation: str
    limit: str | None
    checks: str  # "passed", "failed", "not run" or "none"
    check_message: str | None
    passed: bool


@dataclass(frozen=True)
class MessageSent(Event):
    """A message of the pair that is not code: the writer giving up, the executor's feedback, llmdeck's error."""

    type = "message"
    round: int
    source: str  # "writer", "executor" or "llmdeck"
    content: str


@dataclass(frozen=True)
class VerdictReached(Event):
    """The run's end: "verified" (passed), "ran, unverified" (exit 0, no checks), "failed" or "gave up"."""

    type = "verdict"
    passed: bool
    status: str
    rounds: int
    code: str | None
    checks: str | None
    isolation: str
    isolation_note: str
    seconds: float


VERIFY_EVENTS = (CodeWritten, CodeExecuted, MessageSent, VerdictReached)
VerifyEvent = CodeWritten | CodeExecuted | MessageSent | VerdictReached
RunEvent = AgentEvent | VerifyEvent

run_event = decoder(AGENT_EVENTS + VERIFY_EVENTS)  # a stored event's JSON form -> its event
