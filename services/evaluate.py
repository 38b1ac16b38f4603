"""`llmdeck eval MODEL... --tasks FILE`: every model (a store model, `MODEL+RUN` or `+RUN`: a run's LoRA) answers
every row of an eval file (`services.eval_tasks`) greedily, each answer is scored (`services.scorers`), and the
scores become one table (`services.eval_report`): each scorer's metric per model with n and a 95% interval, and
every model's paired difference from the first.

Each (model, row) score is stored (SQLite, component `evaluations`) under keys of what decides it (the model's
files, the row's content, the answer cap, the judge): re-running the same command re-reads what is done and
scores only the rest, so a killed eval resumes. `evaluate()` checks everything first and returns an
`Evaluation`: iterate it for events (`EvalStarted`, a `RowScored` per row and model, `EvalReported`),
`close()` to stop after the current row.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.core import db
from llmdeck.core.child_events import ChildEvents
from llmdeck.core.errors import BadInput
from llmdeck.core.events import Event
from llmdeck.core.runtime import Sampling
from llmdeck.services.agent_bench import ModelSpec, parse_model
from llmdeck.services.eval_report import EvalReport, report_row
from llmdeck.services.eval_tasks import EvalFile, EvalTask, load_eval_file
from llmdeck.services.judge import DEFAULT_RUBRIC, Rubric, load_rubric
from llmdeck.services.scorers import CODE_SYSTEM, METRIC_NAMES, PASS_FAIL, RowScore

DEFAULT_MAX_TOKENS = 256
ANSWER_CHARS = 2000  # of each answer, in a RowScored event (the stored answer is whole)

COMPONENT = "evaluations"
MIGRATIONS = [
    """
    CREATE TABLE eval_scores (
        model_key TEXT NOT NULL,
        row_key TEXT NOT NULL,
        model TEXT NOT NULL,
        source TEXT NOT NULL,
        row_id TEXT NOT NULL,
        scorer TEXT NOT NULL,
        value REAL NOT NULL,
        answer TEXT NOT NULL,
        detail_json TEXT NOT NULL,
        seconds REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (model_key, row_key)
    );
    """,
]


@dataclass(frozen=True)
class EvalStarted(Event):
    """An eval begins: `total` (model, row) scores, `done` of them stored by an earlier run (resumed)."""

    type = "start"
    source: str
    models: list[str]
    rows: int
    total: int
    done: int


@dataclass(frozen=True)
class RowScored(Event):
    """One model's answer to one row, scored (`resumed`: re-read from an earlier run); counts are the eval's."""

    type = "scored"
    model: str
    row_id: str
    scorer: str
    value: float
    passed: bool | None
    answer: str
    detail: dict
    seconds: float
    resumed: bool
    done: int
    total: int


@dataclass(frozen=True)
class EvalReported(Event):
    """The table (`EvalReport.to_dict()`), and whether the eval was stopped before every row was scored."""

    type = "report"
    models: list[str]
    source: str
    rows: list[dict]
    stopped: bool = False


EvalEvent = EvalStarted | RowScored | EvalReported
EVAL_EVENTS = (EvalStarted, RowScored, EvalReported)

Questions = list[tuple[list[dict], list[str]]]  # per choice row: the messages before the reply, the options
Likelihood = Callable[[ModelSpec, Questions, int | None], list[list[float]]]


def llama_likelihood(spec: ModelSpec, questions: Questions, n_threads: int | None = None) -> list[list[float]]:
    """Each option's log-likelihood as the model's reply, from llama.cpp's logits (the run's LoRA applied)."""
    from llmdeck.core.gguf_meta import lora_mismatch
    from llmdeck.core.perplexity import option_loglikelihoods
    from llmdeck.services.chat import resolve_model

    entry, lora_path = resolve_model(spec.model, spec.adapter)
    if lora_path:
        mismatch = lora_mismatch(Path(entry.path), Path(lora_path))
        if mismatch:
            raise BadInput(f"{spec.label}: llama.cpp cannot apply the LoRA {lora_path} to {entry.name}: {mismatch}")
    return option_loglikelihoods(Path(entry.path), questions, lora_path=lora_path, n_threads=n_threads)


_likelihood: Likelihood = llama_likelihood


def set_likelihood(likelihood: Likelihood) -> Likelihood:
    """Replace how choice rows get their options' log-likelihoods (tests script them); returns the old one."""
    global _likelihood
    previous, _likelihood = _likelihood, likelihood
    return previous


def _file_identity(path: str | None) -> list:
    if not path:
        return [None]
    stat = os.stat(path)
    return [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]


def model_key(spec: ModelSpec) -> str:
    """What identifies a model's answers: its GGUF file and its LoRA file (a re-export is a new model)."""
    from llmdeck.services.chat import resolve_model

    entry, lora_path = resolve_model(spec.model, spec.adapter)
    material = json.dumps([spec.label, *_file_identity(entry.path), *_file_identity(lora_path)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:20]


@dataclass
class Evaluation:
    """One eval being run: iterate for events; the last one is the report."""

    eval_file: EvalFile
    models: list[ModelSpec]
    model_keys: list[str]
    judge_model: str | None = None
    rubric: Rubric = DEFAULT_RUBRIC
    max_tokens: int = DEFAULT_MAX_TOKENS
    n_threads: int | None = None
    isolation: str = "auto"
    timeout_s: float = 10.0
    total: int = 0
    done: int = 0
    resumed: int = 0
    report: EvalReport | None = None
    _stop: bool = field(default=False, repr=False)

    def row_key(self, task: EvalTask) -> str:
        """What decides a row's score besides the model: the row, its answer cap, and the judge and rubric."""
        row = task.row
        judged = [self.judge_model, self.rubric.criteria] if row.scorer == "judge" else []
        cap = None if row.scorer == "choice" else (row.max_tokens or self.max_tokens)
        material = json.dumps([task.digest, cap, *judged])
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:20]

    def __iter__(self) -> Iterator[EvalEvent]:
        tasks = self.eval_file.tasks
        stored = [_stored(key) for key in self.model_keys]
        keys = {task.id: self.row_key(task) for task in tasks}
        self.total = len(tasks) * len(self.models)
        self.resumed = sum(keys[t.id] in found for t in tasks for found in stored)
        yield EvalStarted(
            str(self.eval_file.path), [m.label for m in self.models], len(tasks), self.total, self.resumed
        )
        scores: dict[str, dict[str, RowScore]] = {}
        for spec, key, found in zip(self.models, self.model_keys, stored):
            scores[spec.label] = {}
            for task, score, seconds, resumed in self._model_rows(spec, tasks, keys, found):
                if not resumed:
                    _store(key, keys[task.id], spec.label, str(self.eval_file.path), task.id, score, seconds)
                scores[spec.label][task.id] = score
                self.done += 1
                yield RowScored(
                    model=spec.label,
                    row_id=task.id,
                    scorer=score.scorer,
                    value=score.value,
                    passed=score.passed,
                    answer=score.answer[:ANSWER_CHARS],
                    detail=score.detail,
                    seconds=round(seconds, 3),
                    resumed=resumed,
                    done=self.done,
                    total=self.total,
                )
                if self._stop:
                    break
            if self._stop:
                break
        self.report = build_report(self.eval_file, [m.label for m in self.models], scores)
        yield EvalReported(**self.report.to_dict(), stopped=self.done < self.total)

    def _model_rows(
        self, spec: ModelSpec, tasks: list[EvalTask], keys: dict[str, str], found: dict[str, tuple[RowScore, float]]
    ) -> Iterator[tuple[EvalTask, RowScore, float, bool]]:
        """The model's scores row by row: stored ones re-read, others answered; the choice rows left are scored in
        one likelihood pass (one model load) when the first of them comes."""
        choice_todo = [t for t in tasks if t.row.scorer == "choice" and keys[t.id] not in found]
        choice_scores: dict[str, tuple[RowScore, float]] | None = None
        for task in tasks:
            if self._stop:
                return
            if keys[task.id] in found:
                score, seconds = found[keys[task.id]]
                yield task, score, seconds, True
            elif task.row.scorer == "choice":
                choice_scores = choice_scores if choice_scores is not None else self._choices(spec, choice_todo)
                score, seconds = choice_scores[task.id]
                yield task, score, seconds, False
            else:
                started = time.perf_counter()
                score = self._answer_and_score(spec, task)
                yield task, score, time.perf_counter() - started, False

    def _choices(self, spec: ModelSpec, todo: list[EvalTask]) -> dict[str, tuple[RowScore, float]]:
        from llmdeck.services.scorers import score_choice

        started = time.perf_counter()
        questions = [(_messages(t), list(t.row.choice or [])) for t in todo]
        likelihoods = _likelihood(spec, questions, self.n_threads)
        each = (time.perf_counter() - started) / len(todo)
        return {t.id: (score_choice(t.row, values), each) for t, values in zip(todo, likelihoods)}

    def _answer_and_score(self, spec: ModelSpec, task: EvalTask) -> RowScore:
        from llmdeck.services import scorers
        from llmdeck.services.chat import chat

        row = task.row
        prompt = scorers.code_prompt(row) if row.scorer == "code" else row.prompt
        system = row.system if row.system is not None else (CODE_SYSTEM if row.scorer == "code" else None)
        sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=row.max_tokens or self.max_tokens)
        answer = chat(
            prompt, model=spec.model, adapter=spec.adapter, system=system, sampling=sampling, n_threads=self.n_threads
        ).read()
        if row.scorer == "code":
            return scorers.score_code(row, answer, self.isolation, self.timeout_s)
        if row.scorer == "judge":
            assert self.judge_model is not None  # evaluate() refuses judge rows without a judge
            return scorers.score_judge(row, answer, self.judge_model, self.rubric)
        return scorers.score_text(row, answer)

    def close(self) -> None:
        self._stop = True


def _messages(task: EvalTask) -> list[dict]:
    row = task.row
    system = [{"role": "system", "content": row.system}] if row.system else []
    return [*system, {"role": "user", "content": row.prompt}]


def build_report(eval_file: EvalFile, labels: list[str], scores: dict[str, dict[str, RowScore]]) -> EvalReport:
    """The table: a row per scorer the file uses, plus "all checks" over every pass/fail row when it mixes
    several pass/fail scorers."""
    report = EvalReport(models=labels, source=str(eval_file.path))
    scorer_of = {task.id: task.row.scorer for task in eval_file.tasks}
    used = eval_file.scorers
    for scorer in used:
        per_model = {
            label: {row_id: s.value for row_id, s in scores.get(label, {}).items() if scorer_of[row_id] == scorer}
            for label in labels
        }
        report.rows.append(report_row(METRIC_NAMES[scorer], "mean" if scorer == "judge" else "rate", per_model))
    if sum(scorer in PASS_FAIL for scorer in used) > 1:
        per_model = {
            label: {row_id: s.value for row_id, s in scores.get(label, {}).items() if scorer_of[row_id] in PASS_FAIL}
            for label in labels
        }
        report.rows.append(report_row("all checks", "rate", per_model))
    return report


def evaluate(
    models: Sequence[str],
    tasks_file: str | Path,
    *,
    judge_model: str | None = None,
    rubric_file: str | Path | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    limit: int | None = None,
    n_threads: int | None = None,
    isolation: str = "auto",
    timeout_s: float = 10.0,
) -> Evaluation:
    """Check the models, the eval file and the judge before anything runs; the `Evaluation` runs when iterated."""
    if not models:
        raise BadInput("eval: give at least one MODEL (a store model, MODEL+RUN or +RUN)")
    if max_tokens < 1:
        raise BadInput(f"--max-tokens {max_tokens}: expected at least 1")
    if limit is not None and limit < 1:
        raise BadInput(f"--limit {limit}: expected at least 1")
    specs = [parse_model(name) for name in models]
    if len({s.label for s in specs}) < len(specs):
        raise BadInput("eval: the same MODEL twice")
    eval_file = load_eval_file(tasks_file)
    if limit is not None:
        eval_file = EvalFile(eval_file.path, eval_file.tasks[:limit])
    judged = next((t for t in eval_file.tasks if t.row.scorer == "judge"), None)
    if judged is not None and not judge_model:
        raise BadInput(f"{eval_file.path}:{judged.line}: a judge row needs --judge MODEL (the model that grades)")
    rubric = load_rubric(rubric_file)
    keys = [model_key(spec) for spec in specs]  # every model resolves (and every adapter converts) before a row
    if judge_model:
        model_key(parse_model(judge_model))  # the judge resolves (and its adapter converts) before a row too
    return Evaluation(eval_file, specs, keys, judge_model, rubric, max_tokens, n_threads, isolation, timeout_s)


def _conn():
    return db.connection(COMPONENT, MIGRATIONS)


def _stored(model_key: str) -> dict[str, tuple[RowScore, float]]:
    rows = _conn().execute(
        "SELECT row_key, scorer, value, answer, detail_json, seconds FROM eval_scores WHERE model_key = ?",
        (model_key,),
    )
    return {
        row["row_key"]: (
            RowScore(row["scorer"], row["value"], row["answer"], json.loads(row["detail_json"])),
            row["seconds"],
        )
        for row in rows
    }


def _store(model_key: str, row_key: str, model: str, source: str, row_id: str, score: RowScore, seconds: float) -> None:
    conn = _conn()
    with db.transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO eval_scores (model_key, row_key, model, source, row_id, scorer, value, answer,"
            " detail_json, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                model_key,
                row_key,
                model,
                source,
                row_id,
                score.scorer,
                score.value,
                score.answer,
                json.dumps(score.detail, ensure_ascii=False),
                seconds,
                time.time(),
            ),
        )


class ApartEvaluation(ChildEvents[EvalEvent]):
    """An eval run by `llmdeck eval --events` in a child process (the app never decodes in its own process):
    iterate for its events, decoded from the child's JSON lines; `close()` ends the child (a stopped eval keeps
    every score stored so far; the same eval resumes). A child that fails raises its one-line error (BadInput for
    exit 2)."""

    event_classes = EVAL_EVENTS


def evaluate_apart(
    models: Sequence[str],
    tasks_file: str | Path,
    *,
    judge_model: str | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    n_threads: int | None = None,
) -> Evaluation | ApartEvaluation:
    """The eval as the app runs it: `llmdeck eval ... --events` in a child process, or here when the models come
    from a stand-in that exists only in this process (the tests' scripted model). Either way: iterate for events,
    `close()` to stop."""
    import sys

    from llmdeck.core.runtime import uses_default_loader

    if not uses_default_loader():
        return evaluate(models, tasks_file, judge_model=judge_model, max_tokens=max_tokens, n_threads=n_threads)
    command = [sys.executable, "-m", "llmdeck.cli", "eval", *models, "--tasks", str(tasks_file), "--events"]
    command += ["--max-tokens", str(max_tokens)] + (["--judge", judge_model] if judge_model else [])
    command += ["--threads", str(n_threads)] if n_threads else []
    return ApartEvaluation(command)


def run_models(run_id: str, base_model: str | None) -> list[str]:
    """What compares a run with its base: the base (a store model or .gguf; the default model for none) first,
    then `+RUN` (the run's LoRA on it); `+RUN` alone when the base is not a GGUF llama.cpp can run."""
    from llmdeck.core.store import ModelStore

    store = ModelStore()
    if base_model is None:
        return [store.default_name(), f"+{run_id}"]
    if store.exists(base_model) or (base_model.endswith(".gguf") and Path(base_model).expanduser().is_file()):
        return [base_model, f"+{run_id}"]
    return [f"+{run_id}"]  # a Hugging Face directory or hub id: llama.cpp runs the run's own GGUF base only


def sample_file() -> Path:
    """The bundled eval file (a few rows of each check scorer), the app's default."""
    return Path(__file__).resolve().with_name("eval_data") / "sample_evals.jsonl"
