"""The code-verification pair (AutoGen): a writer `AssistantAgent` on a store model writes Python, a
`CodeExecutorAgent` runs it in llmdeck's sandbox and checks it; a round-robin team goes on until the code
is verified (or ran, when there is nothing to check), the writer gives up, or the rounds run out.

On a small model the writer is constrained by a grammar: each reply is exactly one fenced python block
(or the words "I give up."). The executor's feedback (stderr, the failing check) is the writer's next
message. The run streams the events of `agents.events`: `CodeWritten`, `CodeExecuted`, `MessageSent`, then one
`VerdictReached` (status: "verified" (passed), "ran, unverified" (exit 0, no checks given), "failed", "gave up").

A `stop` check ends a run early without tearing AutoGen down mid-message: the writer's generation stops
at its next token, the team terminates after the current message, and no further event (nor a verdict)
is yielded.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator, Callable, Generator

from autogen_core.models import ChatCompletionClient
from pydantic import BaseModel, Field

from llmdeck.agents.events import CodeWritten, MessageSent, VerdictReached, VerifyEvent
from llmdeck.agents.executor import Checks, SandboxCodeExecutor
from llmdeck.agents.sandbox import SandboxLimits, isolation_note
from llmdeck.core.validate import MAX_TEMPERATURE, MAX_TOKENS

GIVE_UP = "I give up."
WRITER_SYSTEM = (
    "You write Python programs. Reply with one Python code block, from ```python to ```."
    " The program prints its result. When told that your program failed, reply with a corrected program."
    f" If you cannot solve the task, reply: {GIVE_UP}"
)
MAX_CODE_LINES = 30
MAX_LINE_CHARS = 120
FENCE_PATTERN = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


class VerifyOptions(BaseModel):
    """How one verification run is bounded."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    max_rounds: int = Field(3, ge=1, le=10, description="Write-and-run rounds at most.")
    max_tokens: int = Field(
        1024, ge=64, le=MAX_TOKENS, description="Tokens per written reply (the grammar bounds it too)."
    )
    temperature: float = Field(
        0.0, ge=0, le=MAX_TEMPERATURE, description="Sampling temperature of the first program (0: greedy)."
    )
    retry_temperature: float = Field(
        0.7, ge=0, le=MAX_TEMPERATURE, description="Sampling temperature of rewrites after a failure."
    )
    seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="Seeds the sampled programs, so an attempt can be replayed."
    )
    constrained: bool = Field(True, description="Constrain the writer to one fenced python block (grammar).")


def writer_grammar(max_lines: int = MAX_CODE_LINES, max_line_chars: int = MAX_LINE_CHARS) -> str:
    """GBNF: one ```python block of at most `max_lines` lines without backticks, or the give-up sentence."""
    return (
        f'root ::= "```python\\n" line{{1,{max_lines}}} "```" | "{GIVE_UP}"\n'
        f'line ::= [^`\\n]{{0,{max_line_chars}}} "\\n"'
    )


def task_prompt(task: str, checks: Checks) -> str:
    """The writer's first message: the task and what will check it."""
    parts = [task.strip()]
    if checks.expect is not None:
        parts.append(f"The program must print exactly:\n{checks.expect.strip()}")
    if checks.tests:
        parts.append(
            f"These tests will run against your code (define what they use):\n```python\n{checks.tests.strip()}\n```"
        )
    return "\n\n".join(parts)


def extract_code(text: str) -> str | None:
    match = FENCE_PATTERN.search(text)
    return match.group(1).rstrip() if match else None


def writer_client(loaded, options: VerifyOptions, stop: Callable[[], bool] | None = None):
    """The writer's AutoGen client over the shared model: greedy, grammar-constrained, fence always closed;
    with `stop`, a generation ends at the next token once it is true."""
    from llama_cpp import LlamaGrammar

    from llmdeck.core.adapters import autogen_model_client

    create_args: dict[str, float | int | LlamaGrammar | None] = {
        "temperature": options.temperature,
        "max_tokens": options.max_tokens,
    }
    if options.temperature > 0:
        create_args["seed"] = options.seed
    if options.constrained:
        create_args["grammar"] = LlamaGrammar.from_string(writer_grammar(), verbose=False)
    return ClosedFenceClient(
        autogen_model_client(loaded, stop_check=stop, **create_args), options.retry_temperature, options.seed
    )


def closed_fence(text: str) -> str:
    """A reply cut by the token budget inside its block gets the closing fence (it is still one block)."""
    if text.lstrip().startswith("```") and text.count("```") == 1:
        return text.rstrip("\n") + "\n```"
    return text


class ClosedFenceClient(ChatCompletionClient):
    """Wraps an AutoGen chat client so that a reply cut short inside its code block comes back closed, and
    rewrites after the first are sampled (`retry_temperature`, seeded) rather than greedy, so a failed
    program is not written again verbatim. A generation stopped by the run's stop check is an empty reply:
    the team's halt condition then ends the run without an error inside AutoGen."""

    def __init__(self, inner: ChatCompletionClient, retry_temperature: float | None = None, seed: int | None = None):
        self.inner = inner
        self.retry_temperature = retry_temperature
        self.seed = seed
        self.calls = 0

    async def create(self, messages, **kwargs):
        self.calls += 1
        if self.retry_temperature is not None and self.calls > 1:
            extra = dict(kwargs.pop("extra_create_args", {}) or {})
            extra.update(temperature=self.retry_temperature, seed=(self.calls + 1000 * (self.seed or 0)) % 2**31)
            kwargs["extra_create_args"] = extra
        from autogen_core.models import CreateResult, RequestUsage

        from llmdeck.core.adapters import GenerationStopped

        try:
            result = await self.inner.create(messages, **kwargs)
        except GenerationStopped:
            return CreateResult(
                content="", usage=RequestUsage(prompt_tokens=0, completion_tokens=0), finish_reason="stop", cached=False
            )
        if isinstance(result.content, str):
            result.content = closed_fence(result.content)
        return result

    def create_stream(self, messages, **kwargs):
        return self.inner.create_stream(messages, **kwargs)

    async def close(self) -> None:
        await self.inner.close()

    def actual_usage(self):
        return self.inner.actual_usage()

    def total_usage(self):
        return self.inner.total_usage()

    def count_tokens(self, messages, **kwargs) -> int:
        return self.inner.count_tokens(messages, **kwargs)

    def remaining_tokens(self, messages, **kwargs) -> int:
        return self.inner.remaining_tokens(messages, **kwargs)

    @property
    def capabilities(self):
        return self.inner.capabilities

    @property
    def model_info(self):
        return self.inner.model_info


def _approve(request):
    from autogen_agentchat.agents import ApprovalResponse

    return ApprovalResponse(approved=True, reason="runs in llmdeck's sandbox")


async def run_pair(
    task: str,
    client,
    checks: Checks,
    options: VerifyOptions,
    limits: SandboxLimits | None = None,
    isolation: str = "auto",
    stop: Callable[[], bool] | None = None,
) -> AsyncGenerator[VerifyEvent, None]:
    """Stream the pair's events (module docstring), ending with the verdict; nothing more once `stop()`."""
    from autogen_agentchat.agents import AssistantAgent, CodeExecutorAgent
    from autogen_agentchat.base import TaskResult
    from autogen_agentchat.conditions import FunctionalTermination, MaxMessageTermination
    from autogen_agentchat.messages import TextMessage
    from autogen_agentchat.teams import RoundRobinGroupChat

    start = time.monotonic()
    executor = SandboxCodeExecutor(checks, limits, isolation)
    writer = AssistantAgent("writer", model_client=client, system_message=WRITER_SYSTEM)
    runner = CodeExecutorAgent("executor", code_executor=executor, approval_func=_approve, sources=["writer"])
    done = FunctionalTermination(
        lambda messages: bool(executor.attempts) and messages[-1].source == "executor" and executor.attempts[-1].success
    )
    given_up = FunctionalTermination(
        lambda messages: messages[-1].source == "writer" and str(messages[-1].content).strip() == GIVE_UP
    )
    stopped = stop or (lambda: False)
    halted = FunctionalTermination(lambda messages: stopped())
    ending = done | given_up | halted | MaxMessageTermination(1 + 2 * options.max_rounds)
    team = RoundRobinGroupChat([writer, runner], termination_condition=ending)
    rounds, gave_up, seen_attempts = 0, False, 0
    async for item in team.run_stream(task=task_prompt(task, checks)):
        if stopped():
            continue  # drained, not torn down: the team ends after this message
        if isinstance(item, TaskResult) or not isinstance(item, TextMessage):
            continue
        if item.source == "writer":
            code = extract_code(item.content)
            if code is None:
                gave_up = gave_up or item.content.strip() == GIVE_UP
                yield MessageSent(rounds + 1, "writer", item.content)
                continue
            rounds += 1
            yield CodeWritten(rounds, code, item.content)
        elif item.source == "executor":
            if len(executor.attempts) > seen_attempts:
                seen_attempts = len(executor.attempts)
                yield executor.attempts[-1].event(rounds)
            yield MessageSent(rounds, "executor", item.content)
    if not stopped():
        yield verdict(executor.attempts, checks, rounds, gave_up, time.monotonic() - start, isolation)


def verdict(
    attempts: list, checks: Checks, rounds: int, gave_up: bool, seconds: float, isolation: str
) -> VerdictReached:
    last = attempts[-1] if attempts else None
    if last is not None and last.passed:
        status = "verified"
    elif last is not None and last.success:
        status = "ran, unverified"
    elif gave_up:
        status = "gave up"
    else:
        status = "failed"
    tier = last.isolation if last else _tier(isolation)
    return VerdictReached(
        passed=status == "verified",
        status=status,
        rounds=rounds,
        code=last.code if last else None,
        checks=checks.kind,
        isolation=tier,
        isolation_note=isolation_note(tier),
        seconds=round(seconds, 3),
    )


def _tier(isolation: str) -> str:
    from llmdeck.agents.sandbox import choose_tier

    return choose_tier(isolation)


def iterate(events: AsyncGenerator[VerifyEvent, None]) -> Generator[VerifyEvent, None, None]:
    """An async event stream as a plain iterator, on a private event loop (closing it cancels the run)."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(events.__anext__())
            except StopAsyncIteration:
                return
    finally:
        try:
            loop.run_until_complete(events.aclose())
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
