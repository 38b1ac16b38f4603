"""`llmdeck eval`: score models on your own prompts (`--tasks FILE`: checks, multiple choice, code, a judge), or
their mean token loss and perplexity on held-out data (`--data`/`--run`, through llama.cpp's logits)."""

from __future__ import annotations

import click

from llmdeck.cli.humaneval import suite_eval, suite_options
from llmdeck.cli.options import NAME, Number, UserPath
from llmdeck.cli.output import emit_event, emit_json, info, table
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.units import human_size
from llmdeck.core.validate import MAX_COUNT, MAX_THREADS, MAX_TOKENS


@click.command("eval")
@click.argument("models", nargs=-1, required=True)
@click.option(
    "--tasks",
    "tasks_file",
    type=UserPath(dir_okay=False),
    help="An eval file (JSON lines: prompt and one scorer: exact, contains, regex, choice, code or judge): every"
    " MODEL (store model, MODEL+RUN or +RUN) answers every row; one table with 95% intervals and paired"
    " differences from the first MODEL. Re-running the same command resumes it.",
)
@click.option(
    "--judge", "judge_model", type=NAME, help="With --tasks: the model that grades judge rows 1-10 (MODEL+RUN too)."
)
@click.option("--rubric", "rubric_file", type=UserPath(dir_okay=False), help="With --judge: the judge's criteria.")
@click.option(
    "--max-tokens",
    type=Number(int, 1, MAX_TOKENS),
    default=256,
    show_default=True,
    help="With --tasks: tokens per answer (a row's max_tokens wins).",
)
@click.option("--limit", type=Number(int, 1, MAX_COUNT), help="With --tasks: only the first N rows (quick runs).")
@click.option(
    "--isolation",
    type=click.Choice(["auto", "bubblewrap", "namespaces", "process"]),
    default="auto",
    show_default=True,
    help="Sandbox tier for code rows (auto: the strongest available; `llmdeck verify --help` says what each hides).",
)
@click.option(
    "--events",
    "as_events",
    is_flag=True,
    help="With --tasks: JSON lines on stdout, one per scored row, then the report (what the app reads).",
)
@click.option(
    "--data", "data_file", type=UserPath(), help="Held-out text (.txt) or a dataset file (assistant turns scored)."
)
@click.option("--run", "run_id", type=NAME, help="Use this run's eval split.")
@click.option(
    "--max-examples", type=Number(int, 1, MAX_COUNT), default=64, show_default=True, help="Examples scored per model."
)
@click.option("--threads", "n_threads", type=Number(int, 1, MAX_THREADS), help="CPU threads for llama.cpp.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@suite_options
def command(
    models,
    tasks_file,
    judge_model,
    rubric_file,
    max_tokens,
    limit,
    isolation,
    as_events,
    data_file,
    run_id,
    max_examples,
    n_threads,
    as_json,
    suite,
    suite_mode,
    samples,
    temperature,
    workers,
    timeout_s,
):
    """Score MODEL(s) on the same data: your eval file with --tasks, else loss per token and perplexity (default
    data: the bundled sample).

    Example: llmdeck eval smollm2-135m-instruct +my-run --tasks my-evals.jsonl
    """
    if suite:
        if tasks_file or data_file or run_id or judge_model or as_events:
            raise BadInput("eval: --suite goes alone (not with --tasks, --data, --run, --judge or --events)")
        return suite_eval(
            models,
            suite,
            mode=suite_mode,
            samples=samples,
            temperature=temperature,
            max_tokens=max_tokens,
            limit=limit,
            timeout_s=timeout_s,
            isolation=isolation,
            n_threads=n_threads,
            workers=workers,
            as_json=as_json,
        )
    if tasks_file:
        if data_file or run_id:
            raise BadInput("eval: give --tasks FILE or --data/--run, not both")
        return tasks_eval(
            models, tasks_file, judge_model, rubric_file, max_tokens, limit, isolation, n_threads, as_json, as_events
        )
    for flag, value in (
        ("--judge", judge_model),
        ("--rubric", rubric_file),
        ("--limit", limit),
        ("--events", as_events),
    ):
        if value:
            raise BadInput(f"eval: {flag} goes with --tasks FILE")
    perplexity_eval(models, data_file, run_id, max_examples, n_threads, as_json)


def tasks_eval(
    models, tasks_file, judge_model, rubric_file, max_tokens, limit, isolation, n_threads, as_json, as_events
):
    """`--tasks`: the eval file's table; progress on stderr, the table (or JSON) on stdout."""
    from llmdeck.services.evaluate import EvalReported, evaluate

    evaluation = evaluate(
        list(models),
        tasks_file,
        judge_model=judge_model,
        rubric_file=rubric_file,
        max_tokens=max_tokens,
        limit=limit,
        n_threads=n_threads,
        isolation=isolation,
    )
    try:
        for event in evaluation:
            if as_events:
                emit_event(event)
            if not isinstance(event, EvalReported):
                show_event(event)
            elif as_json and not as_events:
                emit_json({"models": event.models, "source": event.source, "rows": event.rows})
            elif not as_events:
                show_event(event)
    except KeyboardInterrupt:
        evaluation.close()
        raise LlmdeckError(
            f"interrupted: {evaluation.done}/{evaluation.total} scores stored; run the same command again to resume"
        ) from None


def show_event(event) -> None:
    """One event of an eval (`services.evaluate`): progress on stderr, the report's table on stdout."""
    from llmdeck.services.eval_report import format_table
    from llmdeck.services.evaluate import EvalReported, EvalStarted, RowScored

    match event:
        case EvalStarted():
            resumed = f", resuming: {event.done} done" if event.done else ""
            info(f"eval {event.source}: {event.rows} rows x {len(event.models)} models{resumed}")
        case RowScored():
            outcome = {True: "pass", False: "fail", None: f"{event.value:g}"}[event.passed]
            again = " (stored)" if event.resumed else f" ({event.seconds:.1f} s)"
            info(f"[{event.done}/{event.total}] {event.model} {event.row_id} {event.scorer}: {outcome}{again}")
        case EvalReported():
            click.echo(format_table({"models": event.models, "rows": event.rows}))
        case _:
            raise TypeError(f"an eval has no {type(event).__name__} event")


def perplexity_eval(models, data_file, run_id, max_examples, n_threads, as_json):
    """`--data`/`--run`/the bundled sample: loss and perplexity per model."""
    from llmdeck.core.store import ModelStore
    from llmdeck.tuning.evaluate import choose_data, evaluate_models

    for name in models:  # every model resolves before anything is read or printed
        ModelStore().resolve(name)
    eval_data = choose_data(data_file, run_id, max_examples)
    info(f"data: {eval_data.description}")
    results = evaluate_models(list(models), eval_data, n_threads=n_threads)
    if as_json:
        emit_json({"data": eval_data.description, "results": [r.to_dict() for r in results]})
        return
    reference = results[0].loss
    rows = [
        {
            "model": r.model,
            "quant": r.file_type,
            "size": human_size(r.size_bytes),
            "loss": f"{r.loss:.4f}",
            "ppl": f"{r.perplexity:.3f}",
            "vs first": f"{r.loss - reference:+.4f}",
            "tokens": r.tokens,
        }
        for r in results
    ]
    click.echo(table(rows, ["model", "quant", "size", "loss", "ppl", "vs first", "tokens"]))
