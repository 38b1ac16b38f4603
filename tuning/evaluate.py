"""`llmdeck eval`: what a model (and each quant of it) loses on held-out data, measured through llama.cpp.

Data is a file (held-out text, or a dataset whose assistant turns are scored), a run's eval split, or
the bundled sample. Scoring is `core.perplexity`; this module picks the examples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from llmdeck.core.errors import BadInput
from llmdeck.core.perplexity import score_gguf
from llmdeck.core.textfiles import missing_reason
from llmdeck.tuning import data
from llmdeck.tuning.methods import DEFAULT_METHOD, trains_on

DEFAULT_MAX_EXAMPLES = 64


@dataclass(frozen=True)
class EvalData:
    """The examples to score and a line saying where they came from."""

    examples: list[dict]
    description: str


@dataclass(frozen=True)
class EvalResult:
    """One model's loss on the data."""

    model: str
    path: str
    file_type: str
    size_bytes: int
    loss: float
    perplexity: float
    tokens: int
    sequences: int
    truncated: int
    data: str

    def to_dict(self) -> dict:
        return asdict(self)


def _as_sft(example: dict) -> dict | None:
    """What a row scores: a preference pair's chosen reply, a desirable (KTO) completion, an RL prompt's expected
    answer; None for rows with nothing to score (undesirable completions, prompts without an answer)."""
    if "chosen" in example:
        return {"prompt": example["prompt"], "completion": example["chosen"]}
    if "label" in example:
        return {"prompt": example["prompt"], "completion": example["completion"]} if example["label"] else None
    if "completion" not in example and "prompt" in example:
        answer = example.get("answer")
        return (
            {"prompt": example["prompt"], "completion": [{"role": "assistant", "content": answer}]} if answer else None
        )
    return example


def _scored(examples: list[dict]) -> list[dict]:
    return [scored for scored in map(_as_sft, examples) if scored is not None]


def from_file(path: str | Path, max_examples: int | None = DEFAULT_MAX_EXAMPLES) -> EvalData:
    """A .txt file (blank-line separated passages) or a dataset file in any training format."""
    source = Path(path).expanduser()
    if not source.exists():
        raise BadInput(f"--data {path}: {missing_reason(source)}")
    rows, _ = data.read_rows(source)
    preference = bool(rows) and data.detect_format(rows) == "preference"
    method = trains_on("preference")[0] if preference else DEFAULT_METHOD  # pairs score their chosen reply
    prepared = data.prepare(str(source), "auto", method, skip_bad=False)
    examples = _scored(prepared.examples)[:max_examples]
    return EvalData(examples, f"{source} ({len(examples)} of {prepared.report.valid} rows)")


def from_run(run_ref: str, max_examples: int | None = DEFAULT_MAX_EXAMPLES, require_split: bool = True) -> EvalData:
    """The run's own eval split (the rows it held out, by its seed); without one, its training rows when
    `require_split` is False (an export still shows what each quant costs relative to f16 on them)."""
    from llmdeck.tuning.registry import Registry

    run = Registry().get(run_ref)
    config = run.config
    if run.method == "merge":  # no training data of its own
        if require_split:
            raise BadInput(f"--run {run.id}: a merge has no eval split; pass --data FILE instead")
        return bundled(max_examples)
    prepared = data.prepare(
        config.get("dataset"),
        config.get("dataset_format", "auto"),
        config.get("method", "sft"),
        config.get("skip_bad", False),
        config.get("max_samples"),
    )
    split = config.get("eval_split") or 0.0
    train_rows, eval_rows = data.split_eval(prepared.examples, split, config.get("seed", 42))
    if _scored(eval_rows):
        examples = _scored(eval_rows)[:max_examples]
        return EvalData(examples, f"eval split of run {run.id} ({len(examples)} rows)")
    if require_split:
        raise BadInput(
            f"--run {run.id}: the run has no eval split to score (eval_split {split}); pass --data FILE instead"
        )
    if not _scored(train_rows):  # RL prompts without answers: nothing of the run's own to score
        return bundled(max_examples)
    examples = _scored(train_rows)[:max_examples]
    return EvalData(examples, f"training rows of run {run.id} ({len(examples)} rows; it has no eval split)")


def bundled(max_examples: int | None = DEFAULT_MAX_EXAMPLES) -> EvalData:
    examples = data.prepare(None).examples[:max_examples]
    return EvalData(examples, f"bundled sample ({len(examples)} rows)")


def choose_data(data_file: str | Path | None, run_ref: str | None, max_examples: int | None) -> EvalData:
    if data_file and run_ref:
        raise BadInput("eval: give --data FILE or --run RUN, not both")
    if data_file:
        return from_file(data_file, max_examples)
    if run_ref:
        return from_run(run_ref, max_examples)
    return bundled(max_examples)


def evaluate_models(
    models: Sequence[str],
    eval_data: EvalData,
    n_threads: int | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[EvalResult]:
    """Loss and perplexity of each store model (name or .gguf path) on the same examples."""
    from llmdeck.core.store import ModelStore

    store = ModelStore()
    entries = [store.resolve(name) for name in models]  # every name checked before any model loads
    results = []
    for entry in entries:
        progress = (lambda done, total, name=entry.name: on_progress(name, done, total)) if on_progress else None
        score = score_gguf(Path(entry.path), eval_data.examples, n_threads=n_threads, on_progress=progress)
        results.append(
            EvalResult(
                model=entry.name,
                path=entry.path,
                file_type=entry.file_type,
                size_bytes=entry.size_bytes,
                data=eval_data.description,
                **score.to_dict(),
            )
        )
    return results
