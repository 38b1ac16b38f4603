"""Sweeps attempted side by side (`services.collect`, `workers` > 1): the same records as one after another,
every attempt recorded by the parent as it comes back, a stopped sweep resumed with only the attempts left.

The fast tests run the workers as threads over one scripted model that answers by the question (so the order
the attempts run in cannot change an answer); the slow one spawns real worker processes on the embedded model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmdeck.agents import attempts
from llmdeck.core import runtime
from llmdeck.core.procs import owner_alive
from llmdeck.services import collect as collect_module
from llmdeck.services.collect import (
    AttemptRecorded,
    SweepStarted,
    auto_workers,
    collect,
    side_by_side,
    worker_threads,
)
from llmdeck.testing.fake_model import FakeLlama, fake_tokens

QUESTIONS = {"add": "2 + 2", "mul": "3 * 3", "sub": "9 - 4", "div": "8 / 2"}
WRONG = {"3 * 3"}  # the scripted model answers this one wrong


class QuestionModel(FakeLlama):
    """Answers every question at once with final_answer: the sum it asks for (one of them wrong)."""

    def create_completion(self, prompt, *args, **kwargs):
        self._prompt = prompt if isinstance(prompt, str) else self.detokenize(prompt).decode("utf-8")
        return super().create_completion(prompt, *args, **kwargs)

    def _next_chunks(self) -> list[str]:
        if self._prompt.endswith("Action:"):
            return fake_tokens(" final_answer\n")
        expression = re.findall(r"What is (.+?)\?", self._prompt)[-1]
        value = eval(expression) + (1 if expression in WRONG else 0)  # noqa: S307 - the test's own arithmetic
        return fake_tokens(json.dumps({"answer": str(int(value))}))


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [
        {
            "id": task_id,
            "kind": "agent",
            "question": f"What is {q}?",
            "answers": [str(int(eval(q)))],  # noqa: S307
            "tools": ["calculator"],
            "split": "train",
            "category": "arithmetic",
        }
        for task_id, q in QUESTIONS.items()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def threads_as_workers(monkeypatch):
    """Side-by-side sweeps run on a thread pool here (the scripted model lives in this process); counts the
    attempts handed to it and the models loaded."""
    pools: list[ThreadPoolExecutor] = []
    handed = []

    class CountingPool(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            handed.append((args[0].tasks[0].id, args[1], args[0].n_threads))
            return super().submit(fn, *args, **kwargs)

    def pool(workers, n_threads):
        pools.append(CountingPool(workers))
        return pools[-1]

    monkeypatch.setattr(collect_module, "worker_pool", pool)
    model = QuestionModel(n_ctx=2048)
    loads = []
    previous = runtime.set_model_loader(lambda path, options: loads.append(options) or model)
    runtime.model_cache().close_all()
    try:
        yield handed, loads
    finally:
        runtime.model_cache().close_all()
        runtime.set_model_loader(previous)
        for p in pools:
            p.shutdown(wait=True)


def recorded(collection: str) -> list[tuple]:
    return sorted(
        (a.task_id, a.sample, a.passed, json.dumps(a.verdict, sort_keys=True))
        for a in attempts.attempts(collection=collection)
    )


def test_workers_record_the_same_attempts_as_one_after_another(task_file, threads_as_workers):
    handed, loads = threads_as_workers
    options = {"samples": 2, "temperature": 0.8}
    one = collect(task_file, "agent", options=options, collection="one", workers=1)
    list(one)
    assert handed == []  # one worker: attempted here, no pool
    loads.clear()
    two = collect(task_file, "agent", options=options, collection="two", workers=2, n_threads=1)
    events = [e for e in two if isinstance(e, AttemptRecorded)]
    assert sorted((task, sample) for task, sample, _ in handed) == sorted(
        (task, sample) for task in QUESTIONS for sample in range(2)
    )
    assert {threads for _, _, threads in handed} == {1}
    assert recorded("two") == recorded("one") and len(recorded("one")) == 8
    assert [e.passed for e in events].count(False) == 2  # mul's two samples
    assert events[-1].done == 8 and two.summary()["passed"] == 6
    assert len(loads) == 1  # the model is loaded once for the sweep, not per attempt


def test_a_stopped_side_by_side_sweep_resumes_with_the_attempts_left(task_file, threads_as_workers):
    handed, _ = threads_as_workers
    sweep = collect(task_file, "agent", workers=2)
    for event in sweep:
        if isinstance(event, AttemptRecorded):
            sweep.close()  # the attempt still running is recorded too, nothing new is started
    first = {a.task_id for a in attempts.attempts(collection=sweep.collection)}
    assert 1 <= len(first) <= 2 and len(handed) == len(first) and sweep.summary()["stopped"]
    handed.clear()
    again = collect(task_file, "agent", workers=2)
    events = list(again)
    assert isinstance(events[0], SweepStarted) and events[0].done == len(first)
    redone = {e.task_id for e in events if isinstance(e, AttemptRecorded)}
    assert redone == set(QUESTIONS) - first and {task for task, _, _ in handed} == redone
    assert len(attempts.attempts(collection=sweep.collection)) == len(QUESTIONS)


def test_how_many_workers_and_threads(fake_model, monkeypatch):
    assert auto_workers() == 1  # models from an in-process stand-in: never side by side
    monkeypatch.setattr(collect_module.os, "cpu_count", lambda: 2)
    assert worker_threads(None, 2) == 1 and worker_threads(None, 1) == 2 and worker_threads(3, 2) == 3
    monkeypatch.setattr(collect_module.os, "cpu_count", lambda: 5)
    assert worker_threads(None, 2) == 2


def test_side_by_side_keeps_at_most_workers_in_flight_and_starts_nothing_once_closed_or_stopped():
    import threading

    gates = {n: threading.Event() for n in range(6)}
    started: list[int] = []
    with ThreadPoolExecutor(max_workers=6) as pool:

        def submit(n):
            started.append(n)
            return pool.submit(lambda: gates[n].wait(10) and n * n)

        results = side_by_side(range(6), 2, submit, lambda: False)
        gates[1].set()  # the second finishes first: it comes first
        assert next(results) == (1, 1) and started == [0, 1]  # two in flight at most
        gates[0].set()
        assert next(results) == (0, 0) and started == [0, 1, 2]
        gates[2].set()
        assert next(results) == (2, 4) and started == [0, 1, 2, 3]
        results.close()  # 3 is running (cancel() cannot stop it); nothing more starts
        assert started == [0, 1, 2, 3]
        for gate in gates.values():
            gate.set()

    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = []
        for item, result in side_by_side(range(5), 2, lambda n: pool.submit(lambda: n), stop.is_set):
            done.append((item, result))
            stop.set()  # nothing starts after the first result; what was in flight still comes back
        assert done == [(0, 0), (1, 1)]


@pytest.mark.slow
def test_worker_processes_on_the_real_model_record_what_one_process_does(task_file):
    """Spawned workers, each its own llama.cpp on one thread: the greedy attempts' verdicts and answers are the
    ones a single process records."""
    path = task_file
    try:
        list(collect(path, "agent", collection="one", n_threads=1, workers=1))
        sweep = collect(path, "agent", collection="two", n_threads=1, workers=2)
        assert sweep.workers == 2
        list(sweep)
    finally:
        collect_module.close_workers()
    assert recorded("two") == recorded("one") and len(recorded("one")) == len(QUESTIONS)


def test_worker_processes_end_when_their_parent_is_killed():
    # the parent starts the pool, lists its children (the workers, multiprocessing's resource tracker), and
    # is SIGKILLed: no handler runs, no pool shutdown
    script = (
        "import os\n"
        "from llmdeck.core.procs import start_time\n"
        "from llmdeck.services.collect import worker_pool\n"
        "pool = worker_pool(2, 1)\n"
        "assert all(f.result() for f in [pool.submit(os.getpid) for _ in range(4)])\n"
        "def parent_of(pid):\n"
        "    try:\n"
        "        return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1]\n"
        "    except OSError:\n"  # any process on the machine may end between the listing and the read
        "        return None\n"
        "kids = [p for p in os.listdir('/proc') if p.isdigit() and parent_of(p) == str(os.getpid())]\n"
        "born = {p: start_time(int(p)) for p in kids}\n"
        "print(' '.join(f'{p}:{t}' for p, t in born.items() if t is not None), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert parent.returncode == -9, parent.stderr
    # PID and start time: a PID reused by another process after a worker ended is not the worker
    children = [tuple(map(int, child.split(":"))) for child in parent.stdout.split()]
    assert children  # at least one worker was started
    deadline = time.monotonic() + 30  # each worker looks every 0.5 s: a bound, not a speed
    while any(owner_alive(*child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid, started in children if owner_alive(pid, started)]
    assert left == [], [_described(pid) for pid in left]


def _described(pid: int) -> str:
    """What a process left behind is (for the failure message): its stat line and command line."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid}: gone"
    return f"{stat.strip()} | {command}"
