"""The self-improvement loop (`llmdeck loop`): a model collects attempts at the training tasks, the verified
ones become training data, a tuned model is trained and exported, and that model collects the next round.

Each round, on `model_r` (the base model in round 1, the previous round's export after):

1. collect-agent / collect-verify: sweeps over the train split of the task files (`services.collect`), sampled:
   best of n (`samples` attempts per task, the verified ones kept, best first), n growing for a task never verified
   in an earlier round (`task_samples`);
2. data: `agents.run_datasets.build` over the sweeps of every round so far (held-out tasks kept out): verified
   attempts, repair conversations (a failed program, the executor's feedback, the fix), preference pairs;
3. sft: an SFT run on the base model (STaR-style: each round restarts from the base, on all data so far);
4. export-sft: the run exported to the store (`NAME-rR-sft.QUANT`);
5. preference / export-preference: DPO (or ORPO) on the preference pairs, starting from the SFT export, exported
   as `NAME-rR.QUANT` (skipped when there are too few pairs: the SFT export is the round's model);
5b. rl / export-rl: GRPO on the train coding tasks with the sandbox verifier as the reward (`agents.rewards`),
   from the round's model so far, exported as `NAME-rR-grpo.QUANT`; by default only where CUDA is (`--rl auto`:
   on CPU a step is too slow, `GRPO_CPU_SECONDS_PER_STEP`);
6. evaluate: the base, the loop's current model and the round's model side by side on the held-out tasks
   (`services.agent_bench`, greedy; a model's answers are recorded once and reused by later rounds);
7. transfer: the base and the round's model on what the loop never trains on: HumanEval pass@1 (greedy,
   `services.humaneval`) and the perplexity of a general text (`TRANSFER_TEXT`);
8. gate: the round's model becomes the loop's current model only when its paired difference from the current
   model on the gate metric (default `GATE_METRIC`, the held-out score) has a 95% interval above zero;
   otherwise the round is rejected, the current model stays and collects the next round with more samples and
   a higher temperature (`collect_settings`).

State lives in the state database (`services.loop_state`, written in one transaction after every stage), so a
loop that is interrupted or killed resumes where it stopped: finished stages are skipped, a sweep resumes attempt
by attempt, a training run still going is waited for (a stopped or failed one is resumed from its checkpoint), an
export that did not register is redone.

`run_loop()` returns a `LoopResponse`: iterate it for events, `close()` stops after the current step (a training
run keeps going in its own process and is picked up on resume). Events: `StageStarted` and `StageEnded` around
each stage, `StageProgressed` within one, `RoundFinished` (its row of the summary table), then `LoopFinished`.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from llmdeck.core.errors import BadInput, LlmdeckError, validated
from llmdeck.core.events import Event
from llmdeck.core.validate import MAX_AUTO_WORKERS, MAX_COUNT, MAX_CTX, MAX_STEPS, MAX_THREADS, MAX_WORKERS
from llmdeck.services.eval_report import Metric, delta_text, interval_text, mean, paired_delta, rate
from llmdeck.services.loop_state import LoopState, find_state, loop_dir, save_state
from llmdeck.services.loop_state import list_loops as list_loops  # front ends read loops through here
from llmdeck.services.loop_state import load_state as load_state

STAGES = (
    "collect-agent",
    "collect-verify",
    "data",
    "sft",
    "export-sft",
    "preference",
    "export-preference",
    "rl",
    "export-rl",
    "evaluate",
    "transfer",
    "gate",
)
STAGE_GROUPS = {  # `loop show`'s stage times: what a round spends its wall time on
    "collect": ("collect-agent", "collect-verify"),
    "build data": ("data",),
    "train": ("sft", "preference", "rl"),
    "export": ("export-sft", "export-preference", "export-rl"),
    "measure": ("evaluate", "transfer", "gate"),
}
GATE_METRIC = "held-out score"  # per held-out task: verify pass@1, or the mean of an agent question's answer accuracies
SCORE_PARTS = {  # the bench metrics the held-out score is made of, per part
    "agent": ("answer accuracy, constrained", "answer accuracy, free"),
    "verify": ("verify pass@1 (first program)",),
}
HUMANEVAL_METRIC = "humaneval pass@1"
PERPLEXITY_METRIC = "text perplexity"
CURVE_METRICS = (  # drawn per round (the app's charts, bench/loop.py's plot); every metric is in the JSON
    GATE_METRIC,
    "answer accuracy, constrained",
    "answer accuracy, free",
    "tool-choice accuracy, free",
    "verify pass@1 (first program)",
    HUMANEVAL_METRIC,
    PERPLEXITY_METRIC,
)
TRANSFER_TEXT_DIST = "huggingface-hub"  # a dependency whose wheel ships the Apache License 2.0 text
MAX_SAMPLES, MAX_TEMPERATURE = 32, 1.5  # how far a rejected round's successor escalates its collection
# One GRPO step on CPU, measured (docs/loop.md): the loop's `--rl auto` runs GRPO only where CUDA is.
GRPO_CPU_SECONDS_PER_STEP = 362.0
GRPO_CPU_MEASURED = "SmolLM2-135M, 2 programs of 64 tokens per step, 2 shared Xeon cores, 2026-12-03"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
FIXED_FIELDS = ("tasks", "base_model", "quant")  # a resumed loop cannot change what its rounds were built on


class LoopConfig(BaseModel):
    """Everything a loop needs; the loop's state keeps it."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    name: str | None = Field(None, description="Loop name (lowercase letters, digits, dashes); default: loop-DATE.")
    tasks: list[str] = Field(
        default_factory=list,
        description="Task files (default: the bundled tool questions and"
        " coding tasks); their train split is collected.",
    )
    rounds: int = Field(1, ge=1, le=20, description="Rounds to run (a resumed loop can be given more).")
    base_model: str | None = Field(None, description="Store model to start from (default: the store default).")
    samples: int = Field(3, ge=1, le=32, description="Attempts per task per round (best of n: the verified are kept).")
    unsolved_growth: int = Field(
        2,
        ge=1,
        le=8,
        description="A task never verified in an earlier round gets this many times the attempts, once more for"
        " each such round (1: every task gets --samples).",
    )
    max_task_samples: int = Field(
        12, ge=1, le=64, description="Attempts per task per round at most, however the growth for unsolved ones went."
    )
    temperature: float = Field(0.6, gt=0, le=2, description="Sampling temperature of the attempts after the first.")
    greedy_first: bool = Field(True, description="The first attempt at each task is greedy, the others sampled.")
    guide: bool = Field(True, description="Agent attempts start with the task's tool (the rest is the model's own).")
    hints: bool = Field(
        False,
        description="Agent attempts see the task's hint (rationalization); the data built"
        " from them asks the plain question.",
    )
    limit: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="At most this many train tasks per category (quick loops)."
    )
    max_steps: int = Field(3, ge=1, le=20, description="Agent: model steps at most per attempt.")
    max_rounds: int = Field(2, ge=1, le=10, description="Verify: write-and-run rounds at most per attempt.")
    max_per_task: int = Field(4, ge=1, le=10_000, description="Verified traces per task in the SFT data at most.")
    sft_epochs: float = Field(1.0, gt=0, le=10_000, description="SFT passes over the data.")
    sft_max_steps: int = Field(-1, ge=-1, le=MAX_STEPS, description="SFT optimizer steps (-1: by epochs).")
    sft_learning_rate: float = Field(2e-4, gt=0, le=1, description="SFT peak learning rate.")
    lora_r: int = Field(16, ge=1, le=4096, description="LoRA rank (alpha is twice it).")
    max_length: int = Field(
        512, ge=64, le=MAX_CTX, description="Tokens per training row; longer rows are cut, and the stage says so."
    )
    batch_size: int = Field(4, ge=1, le=65536, description="Sequences per optimizer step.")
    preference: Literal["dpo", "orpo", "none"] = Field("dpo", description="Preference stage after SFT.")
    preference_epochs: float = Field(1.0, gt=0, le=10_000, description="Preference passes over the pairs.")
    preference_max_steps: int = Field(
        -1, ge=-1, le=MAX_STEPS, description="Preference optimizer steps (-1: by epochs)."
    )
    preference_learning_rate: float = Field(5e-5, gt=0, le=1, description="Preference peak learning rate.")
    beta: float = Field(0.1, gt=0, le=1000, description="DPO temperature / ORPO weight.")
    min_pairs: int = Field(
        8, ge=1, le=MAX_COUNT, description="Fewer preference pairs than this skip the preference stage."
    )
    rl: Literal["auto", "grpo", "none"] = Field(
        "auto",
        description="GRPO with the sandbox verifier as the reward, after SFT/DPO: auto runs it only where CUDA is"
        " (on CPU a step is too slow), grpo always, none never.",
    )
    rl_max_steps: int = Field(30, ge=1, le=MAX_STEPS, description="GRPO optimizer steps.")
    rl_num_generations: int = Field(4, ge=2, le=64, description="GRPO: programs sampled per task per step.")
    rl_max_completion_length: int = Field(256, ge=16, le=4096, description="GRPO: tokens per sampled program at most.")
    rl_learning_rate: float = Field(1e-5, gt=0, le=1, description="GRPO peak learning rate.")
    rl_tasks: int = Field(64, ge=1, le=MAX_COUNT, description="GRPO: train coding tasks in its prompt set at most.")
    quant: str = Field("q8_0", description="Quant type of the exported models.")
    evaluate: bool = Field(
        True,
        description="Measure the base, the current and each round's model on the held-out tasks (the gate"
        " decides on them; without it every round's model is promoted ungated).",
    )
    gate_metric: str = Field(
        GATE_METRIC,
        description="The metric the promotion gate decides on: 'held-out score', 'humaneval pass@1', 'text"
        " perplexity' or a held-out metric's name (e.g. 'verify pass@1 (first program)').",
    )
    transfer: bool = Field(
        True,
        description="Also score the base and each round's model on HumanEval pass@1 and a general text's"
        " perplexity (never trained on; with --evaluate).",
    )
    humaneval_limit: int | None = Field(
        None, ge=1, le=164, description="The first N HumanEval problems only (default: all 164)."
    )
    max_tokens: int = Field(512, ge=64, le=4096, description="Verify: tokens per written program while collecting.")
    eval_limit: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="Held-out tasks per category in the evaluation at most."
    )
    threads: int | None = Field(
        None, ge=1, le=MAX_THREADS, description="llama.cpp threads for attempts and evaluation (in each worker)."
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=MAX_WORKERS,
        description="Processes attempting a sweep's tasks side by side while collecting and evaluating, each its"
        f" own llama.cpp (default: one per core on CPU, at most {MAX_AUTO_WORKERS}; 1 with a GPU).",
    )
    train_threads: int | None = Field(
        None, ge=1, le=MAX_THREADS, description="torch threads for training (default: all cores)."
    )


@dataclass(frozen=True)
class StageStarted(Event):
    """A stage of a round begins."""

    type = "stage"
    round: int
    stage: str
    status: Literal["start"] = "start"


@dataclass(frozen=True)
class StageEnded(Event):
    """A stage of a round ended ("done", with its result) or was skipped ("skip": nothing to do, or done earlier:
    then with the result it had)."""

    type = "stage"
    round: int
    stage: str
    status: Literal["done", "skip"]
    result: dict | None


@dataclass(frozen=True)
class StageProgressed(Event):
    """A step within a stage: an attempt recorded, a training step, an export registered."""

    type = "progress"
    round: int
    stage: str
    done: int
    total: int
    detail: str


@dataclass(frozen=True)
class RoundFinished(Event):
    """A round ended; `row` is its row of the summary table (`summary_rows`)."""

    type = "round"
    round: int
    row: dict


@dataclass(frozen=True)
class LoopFinished(Event):
    """The loop ended (completed, stopped); `rows`: the summary table."""

    type = "done"
    loop: str
    status: str
    rows: list[dict]
    seconds: float
    cpu_seconds: float


LoopEvent = StageStarted | StageEnded | StageProgressed | RoundFinished | LoopFinished
LOOP_EVENTS = (StageStarted, StageEnded, StageProgressed, RoundFinished, LoopFinished)


def summary_rows(state: LoopState) -> list[dict]:
    """One row per round: what was collected, trained and, when evaluated, how the model did on held-out tasks."""
    rows = []
    for entry in state.rounds:
        stages = entry["stages"]

        def result(stage: str) -> dict:
            return (stages.get(stage) or {}).get("result") or {}

        agent, code, data = result("collect-agent"), result("collect-verify"), result("data")
        row = {
            "round": entry["round"],
            "collected_by": entry["model"],
            "agent_pass": _fraction(agent.get("passed"), agent.get("attempts")),
            "verify_pass": _fraction(code.get("passed"), code.get("attempts")),
            "sft_rows": data.get("sft_rows"),
            "pairs": data.get("preference_rows"),
            "sft_loss": result("sft").get("loss"),
            "pref_loss": result("preference").get("loss"),
            "model": entry.get("output"),
            "gate": gate_text(result("gate")),
            "minutes": round(entry.get("seconds", 0.0) / 60, 1),
        }
        rows.append(row)
    return rows


def gate_text(decision: dict) -> str | None:
    """A gate's decision in a few words: `accepted +0.120 [+0.040, +0.200]` (its paired 95% interval)."""
    if not decision:
        return None
    delta = decision.get("delta")
    return decision["decision"] + (f" {delta_text(delta)}" if delta else "")


def current_model(state: LoopState, upto: int | None = None) -> str | None:
    """The loop's current model after round `upto` (default: every round): the base, replaced by each round's
    model the gate accepted."""
    if not state.rounds:
        return None
    current = state.rounds[0]["model"]
    for entry in state.rounds[:upto]:
        decision = ((entry["stages"].get("gate") or {}).get("result")) or {}
        if decision.get("decision") == "accepted":
            current = decision["candidate"]
    return current


def current_reason(state: LoopState) -> str:
    """Why the current model is current, in one line (the gate decision that made it so, with its interval)."""
    current = current_model(state)
    for entry in reversed(state.rounds):
        decision = ((entry["stages"].get("gate") or {}).get("result")) or {}
        if decision.get("decision") == "accepted" and decision.get("candidate") == current:
            return f"round {entry['round']} accepted: {decision['reason']}"
    decided = [e for e in state.rounds if (e["stages"].get("gate") or {}).get("result")]
    if not decided:
        return "the base model (no round decided yet)"
    return "the base model: " + "; ".join(
        f"round {e['round']} rejected ({e['stages']['gate']['result']['reason']})" for e in decided
    )


def curve_rows(state: LoopState) -> list[dict]:
    """Every round's model on the held-out and transfer metrics, each `{"value", "low", "high", "n"}` (a 95%
    interval), after a row for the base (round 0) taken from the first round that measured it."""
    rows: list[dict] = []
    for entry in state.rounds:
        stages = entry["stages"]
        evaluation = ((stages.get("evaluate") or {}).get("result")) or {}
        transfer = ((stages.get("transfer") or {}).get("result")) or {}
        measured = {**evaluation.get("curve", {}), **transfer.get("curve", {})}
        if not measured:
            continue
        if not rows:
            base = state.rounds[0]["model"]
            rows.append({"round": 0, "model": base, "gate": None, **_curve_of(measured, base)})
        model = entry.get("output") or _round_model(entry)
        if model is None:
            continue
        decision = ((stages.get("gate") or {}).get("result")) or {}
        rows.append(
            {"round": entry["round"], "model": model, "gate": decision.get("decision"), **_curve_of(measured, model)}
        )
    return rows


def _curve_of(measured: dict, model: str) -> dict:
    return {metric: values[model] for metric, values in measured.items() if model in values}


def curve_table_rows(rows: list[dict], metrics: tuple[str, ...] = CURVE_METRICS) -> list[dict]:
    """`curve_rows` as text cells, `value [low, high]`, for the metrics that were measured."""
    shown = [m for m in metrics if any(m in row for row in rows)]
    return [
        {"round": row["round"], "model": row["model"], "gate": row["gate"] or "-"}
        | {metric: _cell(row.get(metric)) for metric in shown}
        for row in rows
    ]


def _cell(metric: dict | None) -> str:
    if metric and metric.get("value") is not None and metric.get("low") is None:  # no interval (one text)
        return f"{metric['value']:.3f}"
    return interval_text(metric)


def stage_times(state: LoopState) -> list[dict]:
    """Per round, each stage group's wall seconds (`STAGE_GROUPS`), the round's total and what dominated."""
    rows = []
    for entry in state.rounds:
        row: dict = {"round": entry["round"]}
        for group, stages in STAGE_GROUPS.items():
            row[group] = round(sum(float((entry["stages"].get(s) or {}).get("seconds") or 0.0) for s in stages), 1)
        total = sum(row[g] for g in STAGE_GROUPS)
        row["total"] = round(total, 1)
        row["dominant"] = max(STAGE_GROUPS, key=lambda g: row[g]) if total else None
        rows.append(row)
    return rows


SUMMARY_COLUMNS = (
    "round",
    "collected_by",
    "agent_pass",
    "verify_pass",
    "sft_rows",
    "pairs",
    "sft_loss",
    "pref_loss",
    "model",
    "gate",
    "minutes",
)


def summary_columns(rows: list[dict]) -> list[str]:
    """The summary table's columns: the fixed ones, then the evaluation's metrics in the order they appear."""
    extra = [k for row in rows for k in row if k not in SUMMARY_COLUMNS]
    return list(SUMMARY_COLUMNS) + list(dict.fromkeys(extra))


BRIEF_KEYS = (
    "attempts",
    "passed",
    "pass_rate",
    "sft_rows",
    "preference_rows",
    "run_id",
    "loss",
    "truncated",
    "model",
    "seconds",
)


def stage_brief(result) -> str:
    """A stage's result in a few words for a progress line (the counts, losses and models that matter), or ""."""
    if not isinstance(result, dict):
        return ""
    parts = [f"{key} {result[key]}" for key in BRIEF_KEYS if result.get(key) is not None]
    return f" ({', '.join(parts)})" if parts else ""


def _fraction(passed, attempts) -> str | None:
    return None if not attempts else f"{passed}/{attempts} ({passed / attempts:.2f})"


class CpuClock:
    """CPU seconds of this process, its waited-for children, and the training workers it watched."""

    def __init__(self):
        self.start = self._own()
        self.workers: dict[int, float] = {}

    @staticmethod
    def _own() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def sample_worker(self, pid: int | None) -> None:
        """Remember a training worker's CPU time (it runs in its own session, so it is never our child)."""
        if not pid:
            return
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            self.workers[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass

    def seconds(self) -> float:
        return self._own() - self.start + sum(self.workers.values())


class LoopStopped(Exception):
    """close() was called: the loop stops between steps."""


@dataclass
class LoopResponse:
    """A loop being run: iterate for events; `state` is current at every event."""

    state: LoopState
    config: LoopConfig
    _stop: bool = False

    def close(self) -> None:
        self._stop = True

    def _check(self) -> None:
        if self._stop:
            raise LoopStopped()

    def __iter__(self) -> Iterator[LoopEvent]:
        started = time.perf_counter()
        clock = CpuClock()
        previous_seconds, previous_cpu = self.state.seconds, self.state.cpu_seconds
        self.state.status, self.state.error = "running", None
        save_state(self.state)
        try:
            for number in range(1, self.config.rounds + 1):
                yield from self._round(number, clock)
            self.state.status = "completed"
        except LoopStopped:
            self.state.status = "stopped"
        except KeyboardInterrupt:  # Ctrl-C (or SIGTERM through the CLI): recorded as stopped, with its time
            self.state.status = "stopped"
            raise
        except Exception as exc:
            self.state.status = "failed"
            self.state.error = str(exc) if isinstance(exc, LlmdeckError) else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.state.seconds = previous_seconds + time.perf_counter() - started
            self.state.cpu_seconds = previous_cpu + clock.seconds()
            save_state(self.state)
        yield LoopFinished(
            loop=self.state.name,
            status=self.state.status,
            rows=summary_rows(self.state),
            seconds=round(self.state.seconds, 1),
            cpu_seconds=round(self.state.cpu_seconds, 1),
        )

    # -- one round ----------------------------------------------------------------------------------------
    def _round(self, number: int, clock: CpuClock) -> Iterator[LoopEvent]:
        entry = self._round_entry(number)
        round_started = time.perf_counter() - entry.get("seconds", 0.0)
        for stage in STAGES:
            record = entry["stages"].setdefault(stage, {"status": "pending"})
            if record["status"] in ("done", "skipped"):
                yield StageEnded(number, stage, "skip", record.get("result"))
                continue
            self._check()
            yield StageStarted(number, stage)
            record.update(status="running", started_at=record.get("started_at") or time.time())
            save_state(self.state)
            stage_started, earlier = time.perf_counter(), float(record.get("seconds") or 0.0)
            try:
                outcome = yield from getattr(self, "_" + stage.replace("-", "_"))(number, entry, record, clock)
            finally:  # a stopped stage keeps the time it ran (a killed one loses only its own attempt's)
                record["seconds"] = round(earlier + time.perf_counter() - stage_started, 3)
            if outcome is None:
                record.update(status="skipped", finished_at=time.time())
            else:
                record.update(status="done", result=outcome, finished_at=time.time())
            entry["seconds"] = time.perf_counter() - round_started
            save_state(self.state)
            yield StageEnded(number, stage, "done" if outcome is not None else "skip", outcome)
        entry["output"] = _round_model(entry)
        save_state(self.state)
        yield RoundFinished(number, summary_rows(self.state)[number - 1])

    def _round_entry(self, number: int) -> dict:
        while len(self.state.rounds) < number:
            previous = current_model(self.state) or self.config.base_model or _default_model()
            self.state.rounds.append(
                {"round": len(self.state.rounds) + 1, "model": previous, "stages": {}, "seconds": 0.0}
            )
        return self.state.rounds[number - 1]

    def _collections(self, upto: int) -> list[str]:
        names = []
        for entry in self.state.rounds[:upto]:
            for stage in ("collect-agent", "collect-verify"):
                result = entry["stages"].get(stage, {}).get("result") or {}
                names += result.get("collections", [])
        return names

    # -- the stages (generators returning the stage's result, or None when skipped) ---------------------------
    def _sweep(self, kind: str, number: int, entry: dict, record: dict):
        from llmdeck.services.collect import close_workers

        try:
            return (yield from self._sweep_files(kind, number, entry))
        finally:
            close_workers()  # the sweeps' worker processes hold a model each: not kept for training

    def _sweep_files(self, kind: str, number: int, entry: dict):
        from llmdeck.agents.tasks import load_tasks
        from llmdeck.services.collect import AttemptRecorded, collect

        cfg = self.config
        files = [f for f in self._task_files() if load_tasks(f).select(kind, "train")]
        if not files:
            return None
        attempted, passed, seconds = 0, 0, 0.0
        collections: list[str] = []
        samples, temperature = self.collect_settings(number)
        options = {
            "samples": samples,
            "temperature": temperature,
            "greedy_first": cfg.greedy_first,
            "split": "train",
            "limit": cfg.limit,
        }
        options.update(
            {"max_steps": cfg.max_steps, "guide": cfg.guide, "hints": cfg.hints}
            if kind == "agent"
            else {"max_rounds": cfg.max_rounds, "max_tokens": cfg.max_tokens}
        )
        grown: dict[str, int] = {}
        for path in files:
            sweep = collect(
                path,
                kind,
                model=entry["model"],
                options=options,
                n_threads=cfg.threads,
                collection=f"{self.state.name}-r{number}-{kind}-{Path(path).stem}",
                workers=cfg.workers,
            )
            sweep.samples_for = self.task_samples(kind, number, samples, [task.id for task in sweep.tasks])
            grown.update(sweep.samples_for)
            for event in sweep:
                if isinstance(event, AttemptRecorded):
                    yield StageProgressed(
                        number,
                        record_stage(kind),
                        event.done,
                        event.total,
                        f"{event.task_id} {'pass' if event.passed else 'fail'} (pass rate {event.pass_rate:.2f})",
                    )
                    if self._stop:
                        sweep.close()
            self._check()
            from llmdeck.agents import attempts

            recorded = attempts.attempts(collection=sweep.collection)
            attempted += len(recorded)
            passed += sum(a.passed for a in recorded)
            collections.append(sweep.collection)
            seconds += sweep.seconds
        return {
            "attempts": attempted,
            "passed": passed,
            "collections": collections,
            "seconds": seconds,
            "pass_rate": round(passed / attempted, 4) if attempted else None,
            "samples": samples,
            "temperature": temperature,
            "grown_tasks": len(grown),
            "max_task_samples": max(grown.values(), default=samples),
        }

    def task_samples(self, kind: str, number: int, samples: int, task_ids: list[str]) -> dict[str, int]:
        """Best of n with n growing where it is needed: each task never verified in an earlier round gets `samples`
        times `unsolved_growth` to the power of the earlier rounds that attempted it without a verified attempt
        (at most `max_task_samples`); returned only for the tasks whose n is not `samples`."""
        from llmdeck.agents import attempts

        cfg = self.config
        if cfg.unsolved_growth == 1 or number == 1:
            return {}
        unsolved_rounds: dict[str, int] = {}
        solved: set[str] = set()
        for entry in self.state.rounds[: number - 1]:
            result = (entry["stages"].get(record_stage(kind)) or {}).get("result") or {}
            outcome: dict[str, bool] = {}
            for attempt in attempts.attempts(collections=result.get("collections", [])):
                outcome[attempt.task_id] = outcome.get(attempt.task_id, False) or attempt.passed
            solved |= {task for task, passed in outcome.items() if passed}
            for task, passed in outcome.items():
                unsolved_rounds[task] = unsolved_rounds.get(task, 0) + (not passed)
        grown = {}
        for task in task_ids:
            rounds = 0 if task in solved else unsolved_rounds.get(task, 0)
            n = max(samples, min(cfg.max_task_samples, samples * cfg.unsolved_growth**rounds))
            if n != samples:
                grown[task] = n
        return grown

    def collect_settings(self, number: int) -> tuple[int, float]:
        """Round `number`'s samples per task and temperature: the configured ones, and after each round the gate
        rejected in a row before it, `samples` more per task and 0.2 more temperature (at most 32 and 1.5)."""
        rejected = 0
        for entry in reversed(self.state.rounds[: number - 1]):
            decision = ((entry["stages"].get("gate") or {}).get("result")) or {}
            if decision.get("decision") != "rejected":
                break
            rejected += 1
        cfg = self.config
        samples = min(MAX_SAMPLES, cfg.samples * (1 + rejected))
        return samples, round(min(MAX_TEMPERATURE, cfg.temperature + 0.2 * rejected), 2)

    def _collect_agent(self, number, entry, record, clock):
        return (yield from self._sweep("agent", number, entry, record))

    def _collect_verify(self, number, entry, record, clock):
        return (yield from self._sweep("verify", number, entry, record))

    def _data(self, number, entry, record, clock):
        from llmdeck.agents.run_datasets import build
        from llmdeck.agents.tasks import load_tasks

        out = loop_dir(self.state.name) / f"round-{number}" / "data"
        try:
            report = build(
                out,
                collections=self._collections(number),
                task_files=[load_tasks(f) for f in self._task_files()],
                max_per_task=self.config.max_per_task,
            )
        except BadInput as exc:
            raise LlmdeckError(f"round {number}: {exc}") from None
        yield from ()
        return {
            "sft_rows": report.sft_total,
            "preference_rows": report.preference_total,
            "repair_rows": report.repair_rows,
            "repair_pairs": report.repair_pairs,
            "files": report.files,
            "train_tasks": len(report.train_tasks),
            "heldout_tasks": len(report.heldout_tasks),
            "heldout_attempts_dropped": report.heldout_attempts_dropped,
            "duplicates_dropped": report.duplicates_dropped,
        }

    def _sft(self, number, entry, record, clock):
        data = entry["stages"]["data"]["result"]
        if not data.get("files", {}).get("sft"):
            raise LlmdeckError(
                f"round {number}: no verified attempt to train on; collect more (--samples,"
                " --temperature, --guide) or use an easier task set"
            )
        cfg = self.config
        values = {
            "name": f"{self.state.name}-r{number}-sft",
            "method": "sft",
            "base_model": self.base_model,
            "dataset": data["files"]["sft"],
            "dataset_format": "messages",
            "num_epochs": cfg.sft_epochs,
            "max_steps": cfg.sft_max_steps,
            "learning_rate": cfg.sft_learning_rate,
        }
        return (yield from self._train(number, "sft", record, values, clock))

    def _preference(self, number, entry, record, clock):
        data = entry["stages"]["data"]["result"]
        cfg = self.config
        if (
            cfg.preference == "none"
            or data.get("preference_rows", 0) < cfg.min_pairs
            or not data["files"].get("preference")
        ):
            return None
        values = {
            "name": f"{self.state.name}-r{number}-{cfg.preference}",
            "method": cfg.preference,
            "base_model": entry["stages"]["export-sft"]["result"]["model"],
            "dataset": data["files"]["preference"],
            "dataset_format": "preference",
            "num_epochs": cfg.preference_epochs,
            "max_steps": cfg.preference_max_steps,
            "learning_rate": cfg.preference_learning_rate,
            "beta": cfg.beta,
        }
        return (yield from self._train(number, "preference", record, values, clock))

    def _train(self, number: int, stage: str, record: dict, values: dict, clock: CpuClock):
        from llmdeck.tuning import runs
        from llmdeck.tuning.config import build_config

        cfg = self.config
        run_id = record.get("run_id")
        if run_id is None:
            config = build_config(
                {
                    "tuning": "lora",
                    "lora_r": cfg.lora_r,
                    "lora_alpha": 2 * cfg.lora_r,
                    "max_length": cfg.max_length,
                    "batch_size": cfg.batch_size,
                    "save_steps": 25,
                    "threads": cfg.train_threads,
                    "seed": 42 + number,
                    # unattended: a few long rows must not stop the night's rounds; what is cut is recorded
                    # (raise --max-length to keep every row whole)
                    "allow_truncation": True,
                    **values,  # the stage's own (GRPO's batch is a multiple of its group size)
                },
                source=f"loop {stage}",
            )
            run, launch_plan = runs.launch(config)
            record["run_id"] = run_id = run.id
            record["truncated"] = launch_plan.truncation_warning()
            save_state(self.state)
        run = runs.get(run_id)
        if run.status in ("stopped", "failed"):
            run = runs.resume(run_id)
        while run.status in ("queued", "running"):
            clock.sample_worker(run.pid)
            yield StageProgressed(number, stage, run.global_step, run.max_steps or 0, _train_detail(run))
            if self._stop:
                raise LoopStopped()
            time.sleep(1.0)
            run = runs.get(run_id)
        if run.status != "completed":
            raise LlmdeckError(
                f"round {number}: {stage} run {run_id} {run.status}: {run.error or 'see llmdeck runs logs ' + run_id}"
            )
        metrics = run.last_metrics or {}
        return {
            "run_id": run_id,
            "steps": run.global_step,
            "loss": _round(metrics.get("loss")),
            "seconds": round((run.finished_at or time.time()) - (run.started_at or run.created_at), 1),
            **({"truncated": record["truncated"]} if record.get("truncated") else {}),
        }

    def _export_sft(self, number, entry, record, clock):
        run_id = entry["stages"]["sft"]["result"]["run_id"]
        return (yield from self._export(number, "export-sft", run_id, f"{self.state.name}-r{number}-sft"))

    def _export_preference(self, number, entry, record, clock):
        result = entry["stages"]["preference"].get("result")
        if not result:
            return None
        return (yield from self._export(number, "export-preference", result["run_id"], f"{self.state.name}-r{number}"))

    def _export(self, number: int, stage: str, run_id: str, name: str):
        from llmdeck.core.store import ModelStore
        from llmdeck.tuning.export import export_run

        quant = self.config.quant
        target = f"{name}.{quant}"
        started = time.perf_counter()
        if not ModelStore().exists(target):
            events: list = []
            export_run(run_id, quants=quant, name=name, score=False, on_event=events.append)
        yield StageProgressed(number, stage, 1, 1, target)
        return {"model": target, "run_id": run_id, "seconds": round(time.perf_counter() - started, 1)}

    def rl_skip_reason(self) -> str | None:
        """Why the rl stage does not run here (None: it runs): `--rl none`, or `--rl auto` without CUDA."""
        from llmdeck.core.hardware import cuda_device_possible

        if self.config.rl == "none":
            return "--rl none"
        if self.config.rl == "auto" and not cuda_device_possible():
            return (
                f"no CUDA device: GRPO on CPU takes about {GRPO_CPU_SECONDS_PER_STEP:.0f} s per step"
                f" ({GRPO_CPU_MEASURED}), too slow for a round; --rl grpo runs it anyway"
            )
        return None

    def _rl(self, number, entry, record, clock):
        reason = self.rl_skip_reason()
        if reason is None and ((entry["stages"].get("gate") or {}).get("status")) in ("done", "skipped"):
            reason = "the round was decided before this stage existed"
        if reason is not None:
            yield StageProgressed(number, "rl", 0, 0, f"skipped: {reason}")
            return None
        start = _round_model(entry)
        if start is None:
            raise LlmdeckError(f"round {number}: no exported model to start GRPO from")
        cfg = self.config
        dataset, prompts = self._rl_prompts(number)
        if not prompts:
            yield StageProgressed(number, "rl", 0, 0, "skipped: no train coding task to sample")
            return None
        from llmdeck.agents import rewards

        values = {
            "name": f"{self.state.name}-r{number}-grpo",
            "method": "grpo",
            "base_model": start,
            "dataset": str(dataset),
            "dataset_format": "prompt",
            "max_steps": cfg.rl_max_steps,
            "learning_rate": cfg.rl_learning_rate,
            "reward_fn": f"{rewards.__file__}:verify_reward",
            "num_generations": cfg.rl_num_generations,
            "max_completion_length": cfg.rl_max_completion_length,
            "temperature": cfg.temperature,
            "batch_size": cfg.rl_num_generations,
        }
        result = yield from self._train(number, "rl", record, values, clock)
        return {**result, "prompts": prompts, "start_model": start}

    def _rl_prompts(self, number: int) -> tuple[Path, int]:
        """The GRPO prompt set: train coding tasks (those this round attempted first, the ones sometimes verified
        before the rest: a group whose programs all pass or all fail has no advantage to learn from), each the
        writer's prompt with the task's checks (`agents.rewards.prompt_row`)."""
        from llmdeck.agents import attempts
        from llmdeck.agents.rewards import prompt_row
        from llmdeck.agents.tasks import load_tasks
        from llmdeck.core.atomic import atomic_write_text

        entry = self.state.rounds[number - 1]
        result = (entry["stages"].get("collect-verify") or {}).get("result") or {}
        outcome: dict[str, list[bool]] = {}
        for attempt in attempts.attempts(collections=result.get("collections", [])):
            outcome.setdefault(attempt.task_id, []).append(attempt.passed)
        tasks = [t for f in self._task_files() for t in load_tasks(f).select("verify", "train", self.config.limit)]
        mixed = lambda t: 0 if len(set(outcome.get(t.id, []))) == 2 else 1 if t.id in outcome else 2  # noqa: E731
        chosen = sorted(tasks, key=mixed)[: self.config.rl_tasks]
        path = loop_dir(self.state.name) / f"round-{number}" / "data" / "grpo.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "".join(json.dumps(prompt_row(t), ensure_ascii=False) + "\n" for t in chosen))
        return path, len(chosen)

    def _export_rl(self, number, entry, record, clock):
        result = entry["stages"]["rl"].get("result")
        if not result:
            return None
        return (yield from self._export(number, "export-rl", result["run_id"], f"{self.state.name}-r{number}-grpo"))

    def _evaluate(self, number, entry, record, clock):
        from llmdeck.services.agent_bench import AttemptBenched, BenchReported, compare

        if not self.config.evaluate:
            return None
        candidate = _round_model(entry)
        models = list(dict.fromkeys([self.base_model, entry["model"], candidate]))  # base, current, candidate
        from llmdeck.agents.tasks import load_tasks

        if not any(load_tasks(f).select(kind, "heldout") for f in self._task_files() for kind in ("agent", "verify")):
            return None  # nothing held out to measure on: the gate says so
        bench = compare(
            models,
            tasks=self._task_files(),
            limit=self.config.eval_limit,
            n_threads=self.config.threads,
            workers=self.config.workers,
        )
        report = None
        for event in bench:
            if isinstance(event, AttemptBenched):
                yield StageProgressed(
                    number, "evaluate", event.done, event.total, f"{event.model} {event.part} {event.task_id}"
                )
                if self._stop:
                    bench.close()
            elif isinstance(event, BenchReported):
                report = event
        self._check()
        if report is None:
            raise LlmdeckError(f"round {number}: the evaluation ended without its report")
        metrics = {}
        for row in report.rows:
            values = [row["models"][label]["value"] for label in report.models]
            metrics[row["metric"]] = " -> ".join("-" if v is None else f"{v:.3f}" for v in values)
        per_item = {
            row.metric: {label: metric.per_item for label, metric in row.models.items()} for row in bench.report.rows
        }
        per_item[GATE_METRIC] = {label: heldout_score(per_item, label) for label in models}
        curve = {
            name: {label: _metric(name, values).to_dict() for label, values in by_model.items()}
            for name, by_model in per_item.items()
        }
        return {"metrics": metrics, "report": report.to_json(), "per_item": per_item, "curve": curve}

    def _transfer(self, number, entry, record, clock):
        if not (self.config.evaluate and self.config.transfer) or not entry["stages"]["evaluate"].get("result"):
            return None  # not asked for, or a round whose held-out evaluation was skipped (an older loop resumed)
        candidate = _round_model(entry)
        models = list(dict.fromkeys([self.base_model, entry["model"], candidate]))
        text_path, text_name = transfer_text()
        per_item: dict[str, dict[str, dict[str, float]]] = {HUMANEVAL_METRIC: {}}
        perplexity: dict[str, dict] = {}
        seconds: dict[str, float] = {}
        for model in models:
            started = time.perf_counter()
            known = self._known_transfer(model, number)
            if known is not None:  # measured by an earlier round (the base, the current model): the same files
                per_item[HUMANEVAL_METRIC][model] = known["per_item"][HUMANEVAL_METRIC][model]
                perplexity[model] = known["perplexity"][model]
                continue
            scores = yield from self._humaneval(number, model)
            per_item[HUMANEVAL_METRIC][model] = scores
            yield StageProgressed(number, "transfer", 0, 1, f"{model} perplexity of {text_path.name}")
            perplexity[model] = measure_perplexity(model, text_path, self.config.threads)
            seconds[model] = round(time.perf_counter() - started, 1)
        curve = {
            HUMANEVAL_METRIC: {m: rate(v).to_dict() for m, v in per_item[HUMANEVAL_METRIC].items()},
            PERPLEXITY_METRIC: {
                m: {"value": p["perplexity"], "low": None, "high": None, "n": p["tokens"]}
                for m, p in perplexity.items()
            },
        }
        return {
            "per_item": per_item,
            "perplexity": perplexity,
            "curve": curve,
            "text": {"path": str(text_path), "name": text_name},
            "humaneval_limit": self.config.humaneval_limit,
            "seconds_per_model": seconds,
        }

    def _known_transfer(self, model: str, number: int) -> dict | None:
        for earlier in self.state.rounds[: number - 1]:
            result = ((earlier["stages"].get("transfer") or {}).get("result")) or {}
            if (
                model in result.get("perplexity", {})
                and result.get("humaneval_limit") == self.config.humaneval_limit
                and model in result.get("per_item", {}).get(HUMANEVAL_METRIC, {})
            ):
                return result
        return None

    def _humaneval(self, number: int, model: str):
        run = humaneval_run(model, self.config.humaneval_limit, self.config.threads, self.config.workers)
        for scored in run:
            yield StageProgressed(
                number,
                "transfer",
                scored.done,
                scored.total,
                f"{model} HumanEval {scored.task_id} {scored.status} ({scored.passed_so_far} passed)",
            )
            if self._stop:
                run.close()
        self._check()
        return {task_id: float(count > 0) for task_id, count in run.report().passed.items()}

    def _gate(self, number, entry, record, clock):
        candidate, current = _round_model(entry), entry["model"]
        if candidate is None:
            raise LlmdeckError(f"round {number}: no exported model to decide on")
        metric = self.config.gate_metric
        decision = {"candidate": candidate, "current": current, "metric": metric}
        evaluation = ((entry["stages"].get("evaluate") or {}).get("result")) or {}
        transfer = ((entry["stages"].get("transfer") or {}).get("result")) or {}
        yield from ()
        if not evaluation:
            return decision | {
                "decision": "accepted",
                "delta": None,
                "reason": "not measured (--no-evaluate, or no held-out task): promoted without a gate",
            }
        if "per_item" not in evaluation:
            return decision | {
                "decision": "accepted",
                "delta": None,
                "reason": "measured by an older llmdeck without per-task values: promoted without a gate",
            }
        values = {**evaluation.get("per_item", {}), **transfer.get("per_item", {})}
        if metric == PERPLEXITY_METRIC:
            return decision | perplexity_gate(transfer.get("perplexity", {}), current, candidate)
        if metric not in values:
            raise LlmdeckError(
                f"round {number}: --gate-metric {metric!r} was not measured (measured: {', '.join(sorted(values))})"
            )
        return decision | gate_decision(metric, values[metric].get(current, {}), values[metric].get(candidate, {}))

    # -- helpers ----------------------------------------------------------------------------------------------
    @property
    def base_model(self) -> str:
        return self.state.rounds[0]["model"]

    def _task_files(self) -> list[str]:
        from llmdeck.agents.task_sets import bundled

        return self.config.tasks or [str(bundled("agent")), str(bundled("verify"))]


def gate_decision(metric: str, current: dict[str, float], candidate: dict[str, float]) -> dict:
    """Accepted when candidate - current (lower-is-better metrics: current - candidate), paired over the items both
    have, has a bootstrap 95% interval above zero; else rejected (a tie, no clear difference, or worse)."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    delta = paired_delta(Metric(None, 0, None, None, current), Metric(None, 0, None, None, candidate))
    if delta.value is None or delta.low is None or delta.high is None:
        return {"decision": "rejected", "delta": None, "reason": f"{metric}: no item measured on both models"}
    low, high = sorted((sign * delta.low, sign * delta.high))
    shown = {"value": round(sign * delta.value, 4), "low": low, "high": high, "n": delta.n}
    text = f"{metric} {delta_text(shown)} over {delta.n} items"
    if low > 0:
        return {"decision": "accepted", "delta": shown, "reason": f"{text}: the 95% interval is above zero"}
    why = "a tie" if delta.value == 0 else ("worse" if shown["value"] < 0 else "the 95% interval reaches zero")
    return {"decision": "rejected", "delta": shown, "reason": f"{text}: {why}"}


def perplexity_gate(perplexity: dict[str, dict], current: str, candidate: str) -> dict:
    """The gate on the general text's perplexity (no interval: one text): accepted when it is lower."""
    if current not in perplexity or candidate not in perplexity:
        return {"decision": "rejected", "delta": None, "reason": f"{PERPLEXITY_METRIC}: not measured on both models"}
    before, after = perplexity[current]["perplexity"], perplexity[candidate]["perplexity"]
    accepted = after < before
    reason = f"{PERPLEXITY_METRIC} {before:.2f} -> {after:.2f}: {'lower' if accepted else 'not lower'}"
    return {"decision": "accepted" if accepted else "rejected", "delta": None, "reason": reason}


GATE_METRICS = (
    GATE_METRIC,
    HUMANEVAL_METRIC,
    PERPLEXITY_METRIC,
    "answer accuracy, constrained",
    "answer accuracy, free",
    "tool-choice accuracy, constrained",
    "tool-choice accuracy, free",
    "well-formed runs, free",
    "verify pass@1 (first program)",
    "verify pass within the rounds",
    "verify mean rounds",
    "mean steps, constrained",
    "mean steps, free",
)
LOWER_IS_BETTER = ("verify mean rounds", "mean steps, constrained", "mean steps, free", PERPLEXITY_METRIC)


def heldout_score(per_item: dict[str, dict[str, dict[str, float]]], label: str) -> dict[str, float]:
    """One score per held-out task for `label`: a coding task's pass@1, an agent question's answer accuracies
    (constrained and free) averaged: the gate's default metric, paired by task."""
    scores: dict[str, list[float]] = {}
    for part, metrics in SCORE_PARTS.items():
        for name in metrics:
            for task_id, value in per_item.get(name, {}).get(label, {}).items():
                scores.setdefault(f"{part}:{task_id}", []).append(value)
    return {task: sum(values) / len(values) for task, values in scores.items()}


def _metric(name: str, values: dict[str, float]) -> Metric:
    return rate(values) if all(v in (0.0, 1.0) for v in values.values()) and "mean" not in name else mean(values)


def _round_model(entry: dict) -> str | None:
    """The round's trained model: the GRPO export, else the preference export, else the SFT export (None before
    they exist)."""
    stages = entry["stages"]
    for stage in ("export-rl", "export-preference", "export-sft"):
        model = ((stages.get(stage) or {}).get("result") or {}).get("model")
        if model:
            return model
    return None


def transfer_text() -> tuple[Path, str]:
    """The general text whose perplexity is measured: the Apache License 2.0 that `TRANSFER_TEXT_DIST`'s wheel
    ships (offline, never loop training data), as (path, what it is)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(TRANSFER_TEXT_DIST)
    except metadata.PackageNotFoundError:
        raise LlmdeckError(f"transfer: {TRANSFER_TEXT_DIST} is not installed (its license text is measured)") from None
    for file in dist.files or []:
        if file.name.upper().startswith("LICENSE"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path, f"the Apache License 2.0 text shipped in the {TRANSFER_TEXT_DIST} wheel ({file})"
    raise LlmdeckError(f"transfer: {TRANSFER_TEXT_DIST}'s wheel has no license file")


def humaneval_run(model: str, limit: int | None, n_threads: int | None, workers: int | None = None):
    """HumanEval pass@1, greedy, completion mode (samples stored: a killed round resumes where it stopped), its
    problems `workers` side by side like the sweeps (None: one per core on CPU)."""
    from llmdeck.services.humaneval import SuiteOptions, humaneval

    return humaneval(model, SuiteOptions(limit=limit), n_threads=n_threads, workers=workers)


def measure_perplexity(model: str, text_path: Path, n_threads: int | None) -> dict:
    """The perplexity of `text_path` under `model` (every token after the first, in context-sized windows)."""
    from llmdeck.core.perplexity import score_gguf
    from llmdeck.core.store import ModelStore

    score = score_gguf(Path(ModelStore().resolve(model).path), [{"text": text_path.read_text()}], n_threads)
    return {"perplexity": round(score.perplexity, 4), "loss": round(score.loss, 5), "tokens": score.tokens}


def record_stage(kind: str) -> str:
    return f"collect-{kind}"


def _round(value) -> float | None:
    return None if value is None else round(float(value), 4)


def _train_detail(run) -> str:
    metrics = run.last_metrics or {}
    parts = [run.status]
    if metrics.get("loss") is not None:
        parts.append(f"loss {metrics['loss']:.4f}")
    if metrics.get("tokens_per_s"):
        parts.append(f"{metrics['tokens_per_s']:.0f} tok/s")
    return ", ".join(parts)


def _default_model() -> str:
    from llmdeck.core.store import ModelStore

    return ModelStore().resolve(None).name


def run_loop(config: LoopConfig | dict) -> LoopResponse:
    """Check the config, the task files and the base model, create or resume the loop, and return it (it runs
    when iterated). A loop of the same name resumes: its task files, base model and quant must match; rounds
    and the other settings may change."""
    from llmdeck.agents.humaneval import refuse_task_file
    from llmdeck.agents.tasks import load_tasks
    from llmdeck.core.store import ModelStore

    config = config if isinstance(config, LoopConfig) else validated(LoopConfig, "loop", config)
    name = config.name or time.strftime("loop-%m%d-%H%M")
    if not NAME_PATTERN.match(name):
        raise BadInput(f"--name {name!r}: expected lowercase letters, digits and dashes (at most 41 characters)")
    for path in config.tasks:  # before resolving: a symlink loop is named as one, not a RuntimeError
        refuse_task_file(load_tasks(Path(path).expanduser()))  # HumanEval is a measurement, never trained on
    config = config.model_copy(
        update={"name": name, "tasks": [str(Path(t).expanduser().resolve()) for t in config.tasks]}
    )
    from llmdeck.core.quantize import parse_quant_types

    parse_quant_types(config.quant)
    if config.gate_metric not in GATE_METRICS:
        raise BadInput(f"--gate-metric {config.gate_metric!r}: expected one of {', '.join(GATE_METRICS)}")
    if config.gate_metric in (HUMANEVAL_METRIC, PERPLEXITY_METRIC) and not config.transfer:
        raise BadInput(f"--gate-metric {config.gate_metric!r} is measured by the transfer stage: drop --no-transfer")
    base = ModelStore().resolve(config.base_model).name
    state = find_state(name)
    if state is not None:
        changed = [f for f in FIXED_FIELDS if state.config.get(f) != config.model_dump()[f]]
        if changed:
            raise BadInput(
                f"loop {name} exists with other {', '.join(changed)}; resume it with the same values or"
                " choose another --name"
            )
        state.config = config.model_dump()
    else:
        state = LoopState(name=name, config=config.model_dump())
        state.rounds.append({"round": 1, "model": base, "stages": {}, "seconds": 0.0})
    save_state(state)
    return LoopResponse(state=state, config=config)
