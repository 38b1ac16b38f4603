"""Verification runs for the CLI, the app and the benches: `verify()` checks the task, the checks and the
model before it records anything and returns a `VerifyResponse`: iterate it for events (`agents.events`:
CodeWritten ... VerdictReached); `passed`, `status`, `rounds`, `code` and `run_id` are set when it ends;
`close()` (from any thread) or a `stop_when` check stops it within a token of the writer's generation (or after
the sandbox's current run). Every event is recorded as it happens (`agents.records`)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

from llmdeck.agents import records
from llmdeck.agents.events import MessageSent, RunEvent, VerdictReached
from llmdeck.agents.sandbox import SandboxLimits, choose_tier
from llmdeck.core.errors import BadInput
from llmdeck.services.recorded_run import RecordedRun, halt_check

STATUS_CODES = {"verified": "verified", "ran, unverified": "unverified", "failed": "failed", "gave up": "gave_up"}


@dataclass
class VerifyResponse(RecordedRun):
    """One verification run being streamed."""

    model: str
    task: str
    passed: bool = False
    status: str | None = None
    rounds: int = 0
    code: str | None = None
    isolation: str | None = None

    def _take(self, event: RunEvent) -> None:
        if isinstance(event, VerdictReached):
            self.passed, self.status, self.rounds = event.passed, event.status, event.rounds
            self.code, self.isolation = event.code, event.isolation

    def _failed(self, error: Exception) -> None:
        self._record(MessageSent(self.rounds, "llmdeck", f"error: {type(error).__name__}: {error}"))

    def _finish(self, failed: bool = False) -> None:
        if self.status is not None:
            self.done = True
            records.finish_run(
                self.run_id,
                STATUS_CODES[self.status],
                self.code and records.fenced(self.code),
                self.rounds,
                passed=self.passed,
                isolation=self.isolation,
            )
        else:
            self.cancelled = True
            records.finish_run(self.run_id, "error" if failed else "cancelled", None, self.rounds, passed=False)

    def read(self) -> VerdictReached | None:
        """Run to the end and return the verdict (None: the run was stopped before it)."""
        for _ in self:
            pass
        last = self.events[-1] if self.events else None
        return last if isinstance(last, VerdictReached) else None

    def _stop_started(self, iteration: Generator[RunEvent, None, None]) -> None:
        """The pair is drained, not torn down mid-message: its writer stops at the next token and no further
        event comes. From another thread it returns at once (the iterating thread sees the end)."""
        if getattr(iteration, "gi_running", False):  # a generator running in another thread
            return
        try:
            for _ in iteration:
                pass
        except ValueError:  # the other thread resumed it meanwhile: it ends there
            pass


def verify(
    task: str,
    *,
    model: str | None = None,
    expect: str | None = None,
    tests: str | Path | None = None,
    options=None,
    limits: SandboxLimits | None = None,
    isolation: str = "auto",
    n_ctx: int | None = None,
    n_threads: int | None = None,
    client=None,
    stop_when: Callable[[], bool] | None = None,
    adapter: str | None = None,
    tests_text: str | None = None,
    task_info: dict | None = None,
) -> VerifyResponse:
    """Start the writer/executor pair on `task`; `expect` (exact stdout) or `tests` (a file of asserts, or
    `tests_text`, their text) make the verdict "verified"; `client` replaces the writer's model (any AutoGen chat
    client: the tests' replays). `adapter`: a finished training run whose LoRA llama.cpp applies to `model`.
    `task_info` (a task file's entry: id, split, set...) is recorded with the run. `stop_when` is checked at
    every token and message (the app passes its worker's cancellation)."""
    from llmdeck.agents.executor import Checks
    from llmdeck.agents.verify import WRITER_SYSTEM, VerifyOptions, iterate, run_pair, task_prompt, writer_client

    if not task or not task.strip():
        raise BadInput("verify: the task is empty")
    if expect is not None and (tests is not None or tests_text is not None):
        raise BadInput("verify: give --tests or --expect, not both")
    if tests is not None:
        tests_text = _read_tests(Path(tests))
    checks = Checks(expect=expect, tests=tests_text)
    options = options or VerifyOptions()
    tier = choose_tier(isolation)
    halt, stopped = halt_check(stop_when)
    if client is None:
        from llmdeck.services.agent import load_for_run

        model_name, loaded = load_for_run(model, adapter, n_ctx, n_threads)
        client = writer_client(loaded, options, stopped)
    else:
        model_name = model or type(client).__name__
    run_options = {
        **options.model_dump(),
        "checks": {"expect": expect, "tests": tests_text, "tests_file": str(tests) if tests else None},
        "isolation": tier,
        "system_prompt": WRITER_SYSTEM,
        "task_prompt": task_prompt(task, checks),
        "adapter": adapter,
        **({"task": task_info} if task_info else {}),
    }
    run_id = records.start_run("verify", task, model_name, run_options)
    events = iterate(run_pair(task, client, checks, options, limits, tier, stopped))
    return VerifyResponse(run_id=run_id, model=model_name, task=task, _events=events, _halt=halt)


def _read_tests(path: Path) -> str:
    from llmdeck.core.textfiles import read_text

    text = read_text(Path(path), "tests file", max_bytes=1024 * 1024)
    try:
        compile(text, str(path), "exec")
    except SyntaxError as exc:
        raise BadInput(f"--tests {path}:{exc.lineno}: not valid Python ({exc.msg})") from None
    if not text.strip():
        raise BadInput(f"--tests {path}: the file is empty (expected assert statements or test_ functions)")
    return text
