"""Models side by side on the held-out tasks (`llmdeck bench agents --model A --model B`, `bench/loop.py`, the
loop's per-round comparison).

Each model answers every held-out agent question twice, with grammar constraints and without (free text,
parsed: what the model learned to do on its own), greedily, and writes every held-out program with the verify
pair. The attempts are ordinary sweeps (`services.collect`, split "heldout", one greedy sample), so they are
recorded, resumable, and - being held out - never become training data. Reported per model, with the number of
tasks and a 95% interval (Wilson for rates, t for means: services.eval_report), and for each model after the first its
difference from the first with a paired bootstrap 95% interval:

- agent, constrained and free: tool-choice accuracy (first action), answer accuracy, well-formed runs (free),
  mean steps;
- verify: pass@1 (the first, greedy program verified), pass within the rounds, mean rounds.

Events: an `AttemptBenched` per attempt, then `BenchReported` (`BenchReport.to_dict()`'s fields).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.agents import attempts
from llmdeck.agents.tasks import load_tasks
from llmdeck.core.errors import BadInput
from llmdeck.core.events import Event
from llmdeck.services import eval_report
from llmdeck.services.eval_report import NON_NEGATIVE, Metric, mean, rate

PARTS = ("agent-constrained", "agent-free", "verify")


@dataclass(frozen=True)
class ModelSpec:
    """What answers: a store model, or a training run's LoRA on a store model (`MODEL+RUN`, `+RUN`: its base)."""

    label: str
    model: str | None
    adapter: str | None


def parse_model(spec: str) -> ModelSpec:
    from llmdeck.core.store import ModelStore

    text = spec.strip()
    if not text:
        raise BadInput("--model: empty")
    if "+" in text:
        store = ModelStore()
        if not store.exists(text) and not Path(text).is_file():
            model, _, run = text.rpartition("+")
            if not run:
                raise BadInput(f"--model {spec!r}: expected MODEL, MODEL+RUN or +RUN")
            return ModelSpec(text, model or None, run)
    return ModelSpec(text, text, None)


@dataclass
class BenchRow:
    metric: str
    higher_is_better: bool
    models: dict[str, Metric]
    deltas: dict[str, dict] = field(default_factory=dict)  # label -> {"value", "low", "high"} vs the first model

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "models": {k: m.to_dict() for k, m in self.models.items()},
            "deltas": self.deltas,
        }


@dataclass
class BenchReport:
    models: list[str]
    split: str
    rows: list[BenchRow] = field(default_factory=list)
    collections: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> part -> collection
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "models": self.models,
            "split": self.split,
            "rows": [r.to_dict() for r in self.rows],
            "collections": self.collections,
            "seconds": self.seconds,
        }

    def row(self, metric: str) -> BenchRow:
        return next(r for r in self.rows if r.metric == metric)


@dataclass(frozen=True)
class AttemptBenched(Event):
    """One model's attempt at one task of one part, recorded; `done` of `total` in this part so far."""

    type = "progress"
    model: str
    part: str
    done: int
    total: int
    task_id: str
    passed: bool


@dataclass(frozen=True)
class BenchReported(Event):
    """The comparison's end: `BenchReport.to_dict()`, every row as a dict."""

    type = "report"
    models: list[str]
    split: str
    rows: list[dict]
    collections: dict[str, dict[str, str]]
    seconds: dict[str, float]


BenchEvent = AttemptBenched | BenchReported
BENCH_EVENTS = (AttemptBenched, BenchReported)


def paired_delta(first: Metric, other: Metric, seed: int = 0) -> dict:
    """other - first over the tasks both answered, with a paired bootstrap 95% interval, as the report's dict."""
    return eval_report.paired_delta(first, other, seed=seed).to_dict()


def _metrics_from(part: str, collection: str) -> dict[str, tuple[Metric, bool]]:
    """The metrics of one part from its recorded attempts (one greedy sample per task)."""
    found = {a.task_id: a.verdict for a in attempts.attempts(collection=collection) if a.sample == 0}
    if part == "verify":
        return {
            "verify pass@1 (first program)": (
                rate({t: float(v.get("first_round", False)) for t, v in found.items()}),
                True,
            ),
            "verify pass within the rounds": (rate({t: float(v["passed"]) for t, v in found.items()}), True),
            "verify mean rounds": (
                mean({t: float(v.get("rounds", 0)) for t, v in found.items()}, bounds=NON_NEGATIVE),
                False,
            ),
        }
    mode = "constrained" if part == "agent-constrained" else "free"
    metrics = {
        f"tool-choice accuracy, {mode}": (rate({t: float(v["tool_ok"]) for t, v in found.items()}), True),
        f"answer accuracy, {mode}": (rate({t: float(v["correct"]) for t, v in found.items()}), True),
        f"mean steps, {mode}": (mean({t: float(v["steps"]) for t, v in found.items()}, bounds=NON_NEGATIVE), False),
    }
    if mode == "free":
        metrics["well-formed runs, free"] = (rate({t: float(v["well_formed"]) for t, v in found.items()}), True)
    return metrics


class Bench:
    """The comparison being run: iterate for progress events; the last event is the report."""

    def __init__(
        self,
        models: list[ModelSpec],
        agent_file: Path | None,
        code_file: Path | None,
        split: str,
        limit: int | None,
        max_steps: int,
        max_rounds: int,
        n_threads: int | None,
        parts: tuple[str, ...],
        workers: int | None = 1,
    ):
        self.models, self.agent_file, self.code_file = models, agent_file, code_file
        self.split, self.limit, self.max_steps, self.max_rounds = split, limit, max_steps, max_rounds
        self.n_threads, self.parts, self.workers = n_threads, parts, workers
        self.report = BenchReport(models=[m.label for m in models], split=split)
        self._stop = False

    def __iter__(self) -> Iterator[BenchEvent]:
        from llmdeck.services.collect import close_workers

        try:
            yield from self._run()
        finally:
            close_workers()  # the sweeps' worker processes, shared by them, each holding a model

    def _run(self) -> Iterator[BenchEvent]:
        import time

        from llmdeck.services.collect import AttemptRecorded, collect

        metrics: dict[str, dict[str, tuple[Metric, bool]]] = {}
        for spec in self.models:
            metrics[spec.label] = {}
            self.report.collections[spec.label] = {}
            started = time.perf_counter()
            for part in self.parts:
                kind = "verify" if part == "verify" else "agent"
                path = self.code_file if kind == "verify" else self.agent_file
                if path is None:
                    continue
                options = {"split": self.split, "limit": self.limit, "temperature": 0.0, "samples": 1}
                options.update(
                    {"max_rounds": self.max_rounds}
                    if kind == "verify"
                    else {"max_steps": self.max_steps, "constrained": part == "agent-constrained"}
                )
                sweep = collect(
                    path,
                    kind,
                    model=spec.model,
                    adapter=spec.adapter,
                    options=options,
                    n_threads=self.n_threads,
                    workers=self.workers,
                )
                self.report.collections[spec.label][part] = sweep.collection
                for event in sweep:
                    if isinstance(event, AttemptRecorded):
                        yield AttemptBenched(
                            model=spec.label,
                            part=part,
                            done=event.done,
                            total=event.total,
                            task_id=event.task_id,
                            passed=event.passed,
                        )
                    if self._stop:
                        sweep.close()
                if self._stop:
                    return
                metrics[spec.label].update(_metrics_from(part, sweep.collection))
            self.report.seconds[spec.label] = round(time.perf_counter() - started, 1)
        self.report.rows = self._rows(metrics)
        yield BenchReported(**self.report.to_dict())

    def _rows(self, metrics: dict[str, dict[str, tuple[Metric, bool]]]) -> list[BenchRow]:
        first = self.models[0].label
        rows = []
        for name, (_, higher) in metrics[first].items():
            row = BenchRow(
                name, higher, {label: metrics[label][name][0] for label in metrics if name in metrics[label]}
            )
            for label, metric in row.models.items():
                if label != first:
                    row.deltas[label] = paired_delta(row.models[first], metric)
            rows.append(row)
        return rows

    def close(self) -> None:
        self._stop = True


def compare(
    models: list[str],
    *,
    tasks: Sequence[str | Path] = (),
    split: str = "heldout",
    limit: int | None = None,
    max_steps: int = 4,
    max_rounds: int = 3,
    n_threads: int | None = None,
    parts: tuple[str, ...] = PARTS,
    workers: int | None = None,
) -> Bench:
    """Check the models and task files; the returned `Bench` runs when iterated. `tasks`: task files (default:
    the bundled sets); a file's agent questions and coding tasks are both used. `workers`: processes attempting
    each sweep side by side (None: `services.collect.auto_workers()`), `n_threads` llama.cpp threads in each."""
    from llmdeck.agents.task_sets import bundled

    if not models:
        raise BadInput("bench agents: give at least one --model")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise BadInput(f"--parts: unknown {', '.join(unknown)} (expected {', '.join(PARTS)})")
    specs = [parse_model(m) for m in models]
    if len({s.label for s in specs}) < len(specs):
        raise BadInput("bench agents: the same --model twice")
    files = [Path(t) for t in tasks] or [bundled("agent"), bundled("verify")]
    agent_file = code_file = None
    for path in files:
        loaded = load_tasks(path)
        if loaded.select("agent", split) and agent_file is None:
            agent_file = path
        if loaded.select("verify", split) and code_file is None:
            code_file = path
    if agent_file is None and code_file is None:
        raise BadInput(f"bench agents: no {split} tasks in {', '.join(str(f) for f in files)}")
    return Bench(specs, agent_file, code_file, split, limit, max_steps, max_rounds, n_threads, parts, workers)


def format_table(report: BenchReported) -> str:
    """The report as an aligned text table: value [low, high] per model, then each delta vs the first model."""
    labels = report.models
    header = ["metric", "n", *labels, *[f"{label} - {labels[0]}" for label in labels[1:]]]
    lines = [header]
    for row in report.rows:
        first = row["models"].get(labels[0], {})
        cells = [row["metric"], str(first.get("n", ""))]
        for label in labels:
            m = row["models"].get(label)
            cells.append("-" if not m or m["value"] is None else f"{m['value']:.3f} [{m['low']:.2f}, {m['high']:.2f}]")
        for label in labels[1:]:
            d = row["deltas"].get(label)
            cells.append(
                "-" if not d or d["value"] is None else f"{d['value']:+.3f} [{d['low']:+.2f}, {d['high']:+.2f}]"
            )
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)
