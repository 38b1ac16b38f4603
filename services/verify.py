"""Verification runs for the CLI, the app and the benches: `verify()` checks the task, the checks and the
model before it records anything and returns a `VerifyResponse`: iterate it for events (`agents.verify`
lists them); `passed`, `status`, `rounds`, `code` and `run_id` are set when it ends; `close()` stops it.
Every event is recorded as it happens (`agents.records`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.agents import records
from llmdeck.agents.sandbox import SandboxLimits, choose_tier
from llmdeck.core.errors import BadInput
from llmdeck.core.runtime import load_entry
from llmdeck.core.store import ModelStore

STATUS_CODES = {"verified": "verified", "ran, unverified": "unverified", "failed": "failed", "gave up": "gave_up"}


@dataclass
class VerifyResponse:
    """One verification run being streamed."""

    run_id: str
    model: str
    task: str
    passed: bool = False
    status: str | None = None
    rounds: int = 0
    code: str | None = None
    isolation: str | None = None
    events: list[dict] = field(default_factory=list)
    done: bool = False
    cancelled: bool = False
    _events: Iterator[dict] | None = field(default=None, repr=False)
    _iterator: Iterator[dict] | None = field(default=None, repr=False)
    _stop_requested: bool = field(default=False, repr=False)

    def __iter__(self) -> Iterator[dict]:
        if self._iterator is not None:
            raise RuntimeError("a VerifyResponse can be iterated once")
        self._iterator = self._run()
        return self._iterator

    def _run(self) -> Iterator[dict]:
        failed = False
        try:
            for event in self._events:
                self.events.append(event)
                records.add_event(self.run_id, event)
                if event["type"] == "verdict":
                    self.passed, self.status, self.rounds = event["passed"], event["status"], event["rounds"]
                    self.code, self.isolation = event["code"], event["isolation"]
                yield event
                if self._stop_requested:
                    break
        except Exception as exc:
            failed = True
            event = {"type": "message", "round": self.rounds, "source": "llmdeck",
                     "content": f"error: {type(exc).__name__}: {exc}"}
            self.events.append(event)
            records.add_event(self.run_id, event)
            raise
        finally:
            self._events.close()
            self._finish(failed)

    def _finish(self, failed: bool = False) -> None:
        if self.status is not None:
            self.done = True
            records.finish_run(self.run_id, STATUS_CODES[self.status], self.code and records.fenced(self.code),
                               self.rounds, passed=self.passed, isolation=self.isolation)
        else:
            self.cancelled = True
            records.finish_run(self.run_id, "error" if failed else "cancelled", None, self.rounds, passed=False)

    def read(self) -> dict:
        """Run to the end and return the verdict event."""
        for _ in self:
            pass
        return self.events[-1]

    def close(self) -> None:
        """Stop the run (recorded as cancelled): at once between events, else after the current one."""
        if self.done or self.cancelled:
            return
        self._stop_requested = True
        if self._iterator is None:
            self._iterator = iter(())
            self._events.close()
            self._finish()
            return
        try:
            self._iterator.close()
        except ValueError:  # running in another thread: it stops after its current event
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
) -> VerifyResponse:
    """Start the writer/executor pair on `task`; `expect` (exact stdout) or `tests` (a file of asserts) make
    the verdict "verified"; `client` replaces the writer's model (any AutoGen chat client: the tests' replays)."""
    from llmdeck.agents.executor import Checks
    from llmdeck.agents.verify import WRITER_SYSTEM, VerifyOptions, iterate, run_pair, task_prompt, writer_client

    if not task or not task.strip():
        raise BadInput("verify: the task is empty")
    if expect is not None and tests is not None:
        raise BadInput("verify: give --tests or --expect, not both")
    tests_text = _read_tests(Path(tests)) if tests is not None else None
    checks = Checks(expect=expect, tests=tests_text)
    options = options or VerifyOptions()
    tier = choose_tier(isolation)
    if client is None:
        entry = ModelStore().resolve(model)
        client = writer_client(load_entry(entry, n_ctx=n_ctx, n_threads=n_threads), options)
        model_name = entry.name
    else:
        model_name = model or type(client).__name__
    run_options = {**options.model_dump(), "checks": {"expect": expect, "tests": tests_text, "tests_file": str(tests) if tests else None},
                   "isolation": tier, "system_prompt": WRITER_SYSTEM, "task_prompt": task_prompt(task, checks)}
    run_id = records.start_run("verify", task, model_name, run_options)
    events = iterate(run_pair(task, client, checks, options, limits, tier))
    return VerifyResponse(run_id=run_id, model=model_name, task=task, _events=events)


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
