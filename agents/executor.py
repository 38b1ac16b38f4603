"""Run LLM-written code and check it: the sandbox run, then the task's checks, as one `Attempt`; and the
AutoGen `CodeExecutor` that hands attempts to a `CodeExecutorAgent` (instead of AutoGen's local executor,
which passes the whole environment, sets no limits and kills only the direct child).

Verified means: exit code 0 and the checks pass (expected stdout, or assert-based tests run against the
code in the sandbox). Without checks an attempt that exits 0 has "ran" - never "passed".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from autogen_core import CancellationToken
from autogen_core.code_executor import CodeBlock, CodeExecutor, CodeResult

from llmdeck.agents.events import CodeExecuted
from llmdeck.agents.sandbox import SandboxLimits, SandboxResult, run_python

STREAM_EXCERPT_CHARS = 2000
TESTS_RUNNER = """\
import os, sys
sys.path.insert(0, os.getcwd())  # tests may `import solution`
namespace = {"__name__": "solution"}  # the solution's `if __name__ == "__main__":` block does not run
exec(compile(open("solution.py", encoding="utf-8").read(), "solution.py", "exec"), namespace)
exec(compile(open("tests.py", encoding="utf-8").read(), "tests.py", "exec"), namespace)
tests = [value for name, value in list(namespace.items()) if name.startswith("test") and callable(value)]
for test in tests:
    test()
print(f"checks passed ({len(tests)} test functions)")
"""


@dataclass(frozen=True)
class Checks:
    """What makes an attempt verified: the exact stdout, or assert-based tests (a file's text)."""

    expect: str | None = None
    tests: str | None = None

    @property
    def kind(self) -> str | None:
        return "tests" if self.tests else "expect" if self.expect is not None else None


@dataclass
class Attempt:
    """One execution of written code, and what its checks said."""

    code: str
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    isolation: str
    limit: str | None
    checks: str  # "passed", "failed", "not run" (the code itself failed) or "none" (no checks given)
    check_message: str | None = None

    @property
    def ran(self) -> bool:
        return self.exit_code == 0 and self.limit is None

    @property
    def passed(self) -> bool:
        return self.ran and self.checks == "passed"

    @property
    def success(self) -> bool:
        """Nothing more to do: verified, or ran cleanly with nothing to verify against."""
        return self.ran and self.checks in ("passed", "none")

    def event(self, round_number: int) -> CodeExecuted:
        """The attempt as round `round_number`'s event (its streams truncated, its code in the round's CodeWritten)."""
        return CodeExecuted(
            round=round_number,
            exit_code=self.exit_code,
            stdout=excerpt(self.stdout),
            stderr=excerpt(self.stderr),
            seconds=self.seconds,
            isolation=self.isolation,
            limit=self.limit,
            checks=self.checks,
            check_message=self.check_message,
            passed=self.passed,
        )

    def feedback(self) -> str:
        """What the writer reads next: the failure and its evidence, or the success."""
        if self.limit:
            return f"Your program was stopped: {self.limit} limit.\n{tail(self.stderr)}".strip()
        if self.exit_code != 0:
            return f"Your program failed with exit code {self.exit_code}:\n{tail(self.stderr) or tail(self.stdout)}"
        if self.checks == "failed":
            return f"Your program ran, but the check failed: {self.check_message}"
        if self.checks == "passed":
            return f"VERIFIED: {self.check_message}"
        return "Your program ran (exit code 0); there were no checks to verify it."


def excerpt(text: str, limit: int = STREAM_EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"


def tail(text: str, limit: int = 1200) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def check_code(code: str, checks: Checks, limits: SandboxLimits | None = None, isolation: str = "auto") -> Attempt:
    """Run `code` in the sandbox, then its checks (tests in a second sandboxed run, against the same code)."""
    run = run_python(code, limits=limits, isolation=isolation, script_name="solution.py")
    attempt = _attempt(code, run, "none" if checks.kind is None else "not run")
    if not attempt.ran or checks.kind is None:
        return attempt
    if not checks.tests:
        expect = checks.expect
        assert expect is not None  # kind "expect": a kind of None returned above
        expected, got = _lines(expect), _lines(run.stdout)
        attempt.checks = "passed" if expected == got else "failed"
        attempt.check_message = (
            f"stdout is {expect.strip()!r}"
            if expected == got
            else f"expected stdout {expect.strip()!r}, got {excerpt(run.stdout.strip(), 300)!r}"
        )
        return attempt
    tests = run_python(
        TESTS_RUNNER,
        files={"solution.py": code, "tests.py": checks.tests},
        limits=limits,
        isolation=isolation,
        script_name="run_tests.py",
    )
    attempt.seconds = round(attempt.seconds + tests.seconds, 4)
    if tests.ok:
        attempt.checks, attempt.check_message = "passed", tests.stdout.strip().splitlines()[-1]
    else:
        attempt.checks = "failed"
        attempt.check_message = tests.summary() + "\n" + (tail(tests.stderr, 800) or tail(tests.stdout, 800))
    return attempt


def _attempt(code: str, run: SandboxResult, checks: str) -> Attempt:
    return Attempt(
        code=code,
        exit_code=run.exit_code,
        stdout=run.stdout,
        stderr=run.stderr,
        seconds=run.seconds,
        isolation=run.isolation,
        limit=run.limit,
        checks=checks,
    )


def _lines(text: str) -> list[str]:
    """Output compared line by line, trailing spaces and blank lines at the ends ignored."""
    return [line.rstrip() for line in text.strip().splitlines()]


class SandboxCodeExecutor(CodeExecutor):
    """An AutoGen code executor over llmdeck's sandbox; keeps every attempt for the verdict."""

    def __init__(self, checks: Checks, limits: SandboxLimits | None = None, isolation: str = "auto"):
        self.checks = checks
        self.limits = limits or SandboxLimits()
        self.isolation = isolation
        self.attempts: list[Attempt] = []

    async def execute_code_blocks(
        self, code_blocks: list[CodeBlock], cancellation_token: CancellationToken
    ) -> CodeResult:
        python = [block.code for block in code_blocks if block.language.lower() in ("python", "py", "python3", "")]
        if not python:
            return CodeResult(exit_code=1, output="No Python code block found: reply with one ```python block.")
        code = "\n\n".join(block.rstrip() for block in python)
        attempt = await asyncio.to_thread(check_code, code, self.checks, self.limits, self.isolation)
        self.attempts.append(attempt)
        return CodeResult(exit_code=0 if attempt.success else 1, output=attempt.feedback())

    async def start(self) -> None:
        """Nothing to start: every run gets a fresh sandbox."""

    async def stop(self) -> None:
        """Nothing to stop: sandboxes end with their run."""

    async def restart(self) -> None:
        self.attempts.clear()
