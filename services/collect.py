"""Collecting attempts over a task file (`llmdeck agent|verify --tasks FILE`): every task of a split is attempted
`samples` times (sampled at `temperature`, each attempt seeded so it can be replayed), every attempt recorded as
an agent or verify run plus its verdict (`agents.attempts`). Re-running the same collection resumes it.

`collect()` checks the task file, the model and the fixtures before it attempts anything and returns a
`Collection`: iterate it for events (`SweepStarted`, an `AttemptRecorded` per attempt, `SweepFinished`), read
`summary()` when done, `close()` to stop after the current attempt(s).

With `workers` above 1 the attempts run side by side in that many worker processes, each with its own llama.cpp
(the model loaded once per worker and sweep) on `n_threads` threads (default: the cores divided among the
workers). llama.cpp's threads wait for each other at every layer, so on a small CPU machine several one-thread
decoders beat one decoder on every core, and do not stall when another process takes a core. Each attempt is
independent of the others (its own prompt and seed), so its result does not depend on the number of workers;
the parent records every attempt as it comes back, so a killed sweep resumes with the attempts left.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from llmdeck.agents import attempts
from llmdeck.agents.tasks import Task, TaskFile, agent_tools, grade_agent, load_tasks, prepare_fixtures
from llmdeck.core.errors import BadInput, validated
from llmdeck.core.events import Event
from llmdeck.core.validate import MAX_AUTO_WORKERS, MAX_COUNT, MAX_TOKENS


@dataclass(frozen=True)
class SweepStarted(Event):
    """A sweep begins: `total` attempts, `done` of them recorded earlier (resumed)."""

    type = "start"
    collection: str
    kind: str
    tasks: int
    samples: int
    total: int
    done: int


@dataclass(frozen=True)
class AttemptRecorded(Event):
    """One attempt recorded with its verdict; the counts are the sweep's so far."""

    type = "attempt"
    collection: str
    task_id: str
    sample: int
    category: str | None
    passed: bool
    run_id: str
    seconds: float
    verdict: dict
    done: int
    total: int
    passed_so_far: int
    pass_rate: float


@dataclass(frozen=True)
class SweepFinished(Event):
    """The sweep's summary (`Collection.summary()`), also when it was stopped."""

    type = "summary"
    collection: str
    kind: str
    tasks: int
    total: int
    resumed: int
    attempted: int
    passed: int
    pass_rate: float | None
    by_category: dict[str, dict[str, int]]
    seconds: float
    stopped: bool


SweepEvent = SweepStarted | AttemptRecorded | SweepFinished
SWEEP_EVENTS = (SweepStarted, AttemptRecorded, SweepFinished)


class CollectOptions(BaseModel):
    """How a task file is swept."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    samples: int = Field(1, ge=1, le=64, description="Attempts per task.")
    temperature: float = Field(
        0.0, ge=0, le=2, description="Sampling temperature (0: greedy; needed > 0 for samples > 1)."
    )
    greedy_first: bool = Field(
        False,
        description="Attempt 0 of each task is greedy (the model's best guess, what an"
        " evaluation decodes), the others sampled at `temperature`.",
    )
    split: str = Field("train", pattern="^(train|heldout|all)$", description="Which tasks: train, heldout or all.")
    limit: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="At most this many tasks per category (quick runs)."
    )
    max_steps: int = Field(4, ge=1, le=50, description="Agent: model steps at most.")
    max_rounds: int = Field(3, ge=1, le=10, description="Verify: write-and-run rounds at most.")
    max_tokens: int = Field(1024, ge=64, le=MAX_TOKENS, description="Verify: tokens per written program.")
    constrained: bool = Field(True, description="Agent: grammar-constrained steps (False: free text, parsed).")
    timeout_s: float = Field(
        10.0, gt=0, le=86_400, description="Wall seconds per sandboxed run (verify programs, the python tool)."
    )
    isolation: str = Field("auto", pattern="^(auto|bubblewrap|namespaces|process)$", description="Sandbox tier.")
    guide: bool = Field(
        False,
        description="Agent: the first action is fixed to the task's `tool` (guided"
        " collection); arguments and answer stay the model's own.",
    )
    hints: bool = Field(
        False,
        description="Agent: ask with the task's `hint` appended (rationalization); the"
        " training data built from the trace asks the plain question.",
    )


def collection_id(kind: str, task_file: TaskFile, model: str, options: CollectOptions) -> str:
    """The default collection name: the same sweep (file content, model files, sampling) always resumes the same
    one; more samples or a larger limit extend it; a model re-exported under the same name starts a new one."""
    identity = {
        "kind": kind,
        "tasks": hashlib.sha256(task_file.path.read_bytes()).hexdigest(),
        "model": model,
        **options.model_dump(exclude={"samples", "limit", "split", "timeout_s", "isolation"}),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return f"{task_file.name}-{kind}-{digest}"


def attempt_seed(collection: str, task_id: str, sample: int) -> int:
    return int(hashlib.sha256(f"{collection}/{task_id}/{sample}".encode()).hexdigest()[:5], 16)


@dataclass
class Collection:
    """One sweep being run: iterate for events; counts and the pass rate are current at every event."""

    collection: str
    kind: str
    task_file: TaskFile
    tasks: list[Task]
    options: CollectOptions
    model: str | None = None
    adapter: str | None = None
    n_threads: int | None = None
    workers: int = 1  # attempts side by side in this many worker processes (1: here, one after another)
    samples_for: dict[str, int] = field(default_factory=dict)  # task id -> its attempts, when not options.samples
    total: int = 0
    resumed: int = 0
    attempted: int = 0
    passed: int = 0
    seconds: float = 0.0
    by_category: dict[str, list[int]] = field(default_factory=dict)  # category -> [attempts, passed]
    _stop: bool = field(default=False, repr=False)

    def __iter__(self) -> Iterator[SweepEvent]:
        done = attempts.done(self.collection)
        todo = [
            (task, sample)
            for task in self.tasks
            for sample in range(self.samples_of(task))
            if (task.id, sample) not in done
        ]
        self.total = sum(self.samples_of(task) for task in self.tasks)
        self.resumed = self.total - len(todo)
        yield SweepStarted(
            collection=self.collection,
            kind=self.kind,
            tasks=len(self.tasks),
            samples=self.options.samples,
            total=self.total,
            done=self.resumed,
        )
        started = time.perf_counter()
        if self.workers > 1 and len(todo) > 1:
            yield from self._side_by_side(todo)
        else:
            for task, sample in todo:
                if self._stop:
                    break
                yield self._record(task, sample, *self._run(task, sample))
        self.seconds = time.perf_counter() - started
        yield SweepFinished(**self.summary())

    def _side_by_side(self, todo: list[tuple[Task, int]]) -> Iterator[AttemptRecorded]:
        """The attempts in `self.workers` worker processes, at most one each in flight (so a stop is quick);
        each recorded here as it comes back (the ones finished together in the sweep's order)."""
        from dataclasses import replace

        threads = worker_threads(self.n_threads, self.workers)
        pool = worker_pool(self.workers, threads)

        def submit(item: tuple[Task, int]) -> Future:
            copy = replace(self, tasks=[item[0]], n_threads=threads, workers=1, by_category={})
            return pool.submit(_worker_attempt, copy, item[1])

        with closing(side_by_side(todo, self.workers, submit, lambda: self._stop)) as results:
            for (task, sample), result in results:
                yield self._record(task, sample, *result)

    def _run(self, task: Task, sample: int) -> tuple[str, dict, float]:
        """Attempt `task` once (here or in a worker): its run id, its verdict and its seconds; nothing recorded."""
        start = time.perf_counter()
        temperature = 0.0 if sample == 0 and self.options.greedy_first else self.options.temperature
        seed = attempt_seed(self.collection, task.id, sample) if temperature > 0 else None
        run_id, verdict = (self._agent if self.kind == "agent" else self._verify)(task, seed, temperature)
        return run_id, verdict, time.perf_counter() - start

    def _record(self, task: Task, sample: int, run_id: str, verdict: dict, seconds: float) -> AttemptRecorded:
        attempts.add(
            self.collection,
            task.id,
            sample,
            run_id,
            self.kind,
            str(self.task_file.path),
            task.effective_split,
            verdict,
            self.model_label,
        )
        self.attempted += 1
        self.passed += verdict["passed"]
        counts = self.by_category.setdefault(task.category or self.kind, [0, 0])
        counts[0] += 1
        counts[1] += verdict["passed"]
        return AttemptRecorded(
            collection=self.collection,
            task_id=task.id,
            sample=sample,
            category=task.category,
            passed=verdict["passed"],
            run_id=run_id,
            seconds=round(seconds, 3),
            verdict=verdict,
            done=self.resumed + self.attempted,
            total=self.total,
            passed_so_far=self.passed,
            pass_rate=round(self.passed / self.attempted, 4),
        )

    def samples_of(self, task: Task) -> int:
        """Attempts at `task` in this sweep: `samples_for` (the loop's growing n for unsolved tasks), else
        `options.samples`."""
        return self.samples_for.get(task.id, self.options.samples)

    @property
    def model_label(self) -> str:
        return (self.model or "default") + (f"+{self.adapter}" if self.adapter else "")

    def _agent(self, task: Task, seed: int | None, temperature: float) -> tuple[str, dict]:
        from llmdeck.agents.react import AgentOptions
        from llmdeck.services.agent import ask

        workspace = self.task_file.resolve(task.workspace)
        question = task.hinted_question() if self.options.hints else task.prompt
        response = ask(
            question,
            model=self.model,
            adapter=self.adapter,
            tools=agent_tools(task),
            workspace=workspace or self.task_file.path.parent,
            collection=task.collection,
            options=AgentOptions(max_steps=self.options.max_steps),
            n_threads=self.n_threads,
            isolation=self.options.isolation,
            temperature=temperature,
            seed=seed,
            constrained=self.options.constrained,
            task=task.record(str(self.task_file.path)),
            guide=task.tool if self.options.guide else None,
        )
        try:
            events = list(response)
        finally:
            response.close()
        return response.run_id, {**grade_agent(task, events, response.answer), "answer": response.answer}

    def _verify(self, task: Task, seed: int | None, temperature: float) -> tuple[str, dict]:
        from llmdeck.agents.sandbox import SandboxLimits
        from llmdeck.agents.verify import VerifyOptions
        from llmdeck.services.verify import verify

        options = VerifyOptions(
            max_rounds=self.options.max_rounds, max_tokens=self.options.max_tokens, temperature=temperature, seed=seed
        )
        response = verify(
            task.prompt,
            model=self.model,
            adapter=self.adapter,
            expect=task.expect,
            tests_text=task.tests,
            options=options,
            n_threads=self.n_threads,
            task_info=task.record(str(self.task_file.path)),
            limits=SandboxLimits(wall_s=self.options.timeout_s),
            isolation=self.options.isolation,
        )
        try:
            verdict = response.read()
        finally:
            response.close()
        passed = verdict is not None and verdict.passed
        return response.run_id, {
            "passed": passed,
            "status": response.status,
            "rounds": response.rounds,
            "first_round": passed and response.rounds == 1,
        }

    def close(self) -> None:
        """Stop after the current attempt(s) (recorded; the rest are attempted when the collection resumes)."""
        self._stop = True

    def summary(self) -> dict:
        attempted = self.attempted
        return {
            "collection": self.collection,
            "kind": self.kind,
            "tasks": len(self.tasks),
            "total": self.total,
            "resumed": self.resumed,
            "attempted": attempted,
            "passed": self.passed,
            "pass_rate": round(self.passed / attempted, 4) if attempted else None,
            "by_category": {k: {"attempts": a, "passed": p} for k, (a, p) in sorted(self.by_category.items())},
            "seconds": round(self.seconds, 1),
            "stopped": self._stop,
        }


def collect(
    tasks_file: str | Path,
    kind: str,
    *,
    model: str | None = None,
    adapter: str | None = None,
    options: CollectOptions | dict | None = None,
    collection: str | None = None,
    n_threads: int | None = None,
    workers: int | None = 1,
) -> Collection:
    """Check everything and return the sweep of `kind` ("agent" or "verify") tasks of `tasks_file`. `workers`:
    worker processes attempting side by side (None: `auto_workers()`); `n_threads`: llama.cpp threads in each."""
    if kind not in ("agent", "verify"):
        raise ValueError(f"collect kind {kind!r}")
    options = options if isinstance(options, CollectOptions) else validated(CollectOptions, "collect", options or {})
    if options.samples > 1 and options.temperature == 0:
        raise BadInput(
            f"--samples {options.samples}: several attempts need --temperature above 0 (greedy attempts"
            " would all be the same)"
        )
    task_file = load_tasks(tasks_file)
    tasks = task_file.select(kind, options.split, options.limit)
    if not tasks:
        other = "verify" if kind == "agent" else "agent"
        raise BadInput(
            f"--tasks {task_file.path}: no {kind} tasks in split {options.split}"
            + (f" (it holds {other} tasks: use `llmdeck {other} --tasks`)" if task_file.select(other) else "")
        )
    identity = _model_identity(model, adapter, n_threads)
    if kind == "agent":
        prepare_fixtures(task_file, tasks)
    name = collection or collection_id(kind, task_file, identity, options)
    return Collection(
        collection=name,
        kind=kind,
        task_file=task_file,
        tasks=tasks,
        options=options,
        model=model,
        adapter=adapter,
        n_threads=n_threads,
        workers=auto_workers() if workers is None else workers,
    )


def auto_workers() -> int:
    """Worker processes for a sweep when none is asked for: one per core on CPU (at most MAX_AUTO_WORKERS); one
    where llama.cpp offloads to a GPU, or where models come from an in-process stand-in (the tests' fakes)."""
    from llmdeck.core import runtime

    if not runtime.uses_default_loader():
        return 1
    from llama_cpp import llama_supports_gpu_offload

    if llama_supports_gpu_offload():
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def worker_threads(n_threads: int | None, workers: int) -> int:
    """llama.cpp threads in each of `workers` workers: `n_threads` when given, else the cores divided among them."""
    return n_threads or max(1, (os.cpu_count() or 1) // workers)


_pool: tuple[tuple, Executor] | None = None  # the worker processes, kept for the next sweep asking the same


def worker_pool(workers: int, n_threads: int) -> Executor:
    """`workers` worker processes (spawned: a clean interpreter, no copy of this process's models or threads;
    each ends itself when this process is gone).
    Consecutive sweeps asking for the same share them, so each worker loads a model once for all of them (a
    benchmark's three sweeps per model); `close_workers()` ends them."""
    import multiprocessing

    from llmdeck.core.paths import HOME_ENV

    global _pool
    key = (workers, n_threads, os.environ.get(HOME_ENV))
    if _pool is not None and _pool[0] == key and not getattr(_pool[1], "_broken", False):
        return _pool[1]
    close_workers()
    from llmdeck.core.procs import exit_with_parent

    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,  # a killed parent leaves no worker holding a model
        initargs=(os.getpid(),),
    )
    _pool = (key, pool)
    return pool


Item = TypeVar("Item")


def side_by_side(
    items: Iterable[Item], workers: int, submit: Callable[[Item], Future], stopped: Callable[[], bool]
) -> Generator[tuple[Item, Any], None, None]:
    """Each item with its result, `workers` at most in flight (so a stop is quick): `submit(item)` starts one in
    the pool. Results come as they finish (those finished together in the items' order); nothing more starts
    once `stopped()`. An error or closing the iteration cancels what has not started."""
    queue = iter(enumerate(items))
    running: dict[Future, tuple[int, Item]] = {}
    try:
        while True:
            while len(running) < workers and not stopped():
                entry = next(queue, None)
                if entry is None:
                    break
                running[submit(entry[1])] = entry
            if not running:
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: running[f][0]):
                _, item = running.pop(future)
                yield item, future.result()
    finally:
        for future in running:  # not recorded by the caller
            future.cancel()


def close_workers() -> None:
    """End the worker processes kept for the next sweep (they hold a model each)."""
    global _pool
    if _pool is not None:
        _pool[1].shutdown(wait=True, cancel_futures=True)
        _pool = None


atexit.register(close_workers)


def _worker_attempt(sweep: Collection, sample: int) -> tuple[str, dict, float]:
    """One attempt in a worker, on a copy of the sweep holding only its task: the run is recorded there as it
    happens (agents.records); the parent records the attempt."""
    return sweep._run(sweep.tasks[0], sample)


def _model_identity(model: str | None, adapter: str | None, n_threads: int | None) -> str:
    """Load the model (and the adapter) once before anything is attempted; what it is: its files, sizes, times."""
    from llmdeck.services.agent import load_for_run

    _, loaded = load_for_run(model, adapter, None, n_threads)
    files = [loaded.path] + ([Path(loaded.options.lora_path)] if loaded.options.lora_path else [])
    return ";".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
