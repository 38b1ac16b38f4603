"""`llmdeck bench`: compare models on held-out tasks (`bench agents`)."""

from __future__ import annotations

import click

from llmdeck.cli.options import INT, NAME, Number, UserPath, setting
from llmdeck.cli.output import emit_event, info
from llmdeck.core.validate import MAX_AUTO_WORKERS, MAX_WORKERS


@click.group("bench")
def command() -> None:
    """Benchmarks you can run on your own models.

    Example: llmdeck bench agents --model smollm2-135m-instruct --limit 3
    """


@command.command("agents")
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    required=True,
    type=NAME,
    help="A store model, MODEL+RUN (a training run's LoRA on MODEL) or +RUN (on the run's base); repeat to"
    " compare (differences are against the first).",
)
@click.option(
    "--tasks",
    "task_files",
    multiple=True,
    type=UserPath(dir_okay=False),
    help="Task files (default: the bundled tool questions and coding tasks).",
)
@click.option(
    "--split",
    type=click.Choice(["heldout", "train", "all"]),
    default="heldout",
    show_default=True,
    help="Which tasks (held-out ones are never trained on).",
)
@click.option("--limit", type=INT, help="At most this many tasks per category (quick runs).")
@click.option(
    "--parts",
    default=",".join(("agent-constrained", "agent-free", "verify")),
    show_default=True,
    help="What to run: agent-constrained, agent-free, verify (comma-separated).",
)
@click.option("--max-steps", type=INT, default=4, show_default=True, help="Agent: model steps at most.")
@click.option("--max-rounds", type=INT, default=3, show_default=True, help="Verify: write-and-run rounds at most.")
@click.option("--threads", "n_threads", type=setting("n_threads"), help="CPU threads for llama.cpp (in each worker).")
@click.option(
    "--workers",
    type=Number(int, 1, MAX_WORKERS),
    help="Processes attempting the tasks side by side, each its own llama.cpp (default: one per core on CPU,"
    f" at most {MAX_AUTO_WORKERS}; 1 with a GPU).",
)
@click.option("--json", "as_json", is_flag=True, help="Progress as JSON lines, then the report as the last line.")
def agents_command(models, task_files, split, limit, parts, max_steps, max_rounds, n_threads, workers, as_json):
    """Held-out tool questions (with and without grammar constraints) and coding tasks, every model side by side:
    each number with its n and 95% interval, each difference with a paired bootstrap 95% interval.

    Example: llmdeck bench agents --model smollm2-135m-instruct --model loop-r1.q8_0 --limit 5
    """
    from llmdeck.services.agent_bench import compare

    bench = compare(
        list(models),
        tasks=list(task_files),
        split=split,
        limit=limit,
        max_steps=max_steps,
        max_rounds=max_rounds,
        n_threads=n_threads,
        parts=tuple(p.strip() for p in parts.split(",") if p.strip()),
        workers=workers,
    )
    try:
        for event in bench:
            emit_event(event) if as_json else show_event(event)
    finally:
        bench.close()


def show_event(event) -> None:
    """One event of a comparison (`services.agent_bench`): progress on stderr, the report's table on stdout."""
    from llmdeck.services.agent_bench import AttemptBenched, BenchReported, format_table

    match event:
        case AttemptBenched():
            info(
                f"[{event.model} {event.part} {event.done}/{event.total}] {event.task_id}"
                f" {'pass' if event.passed else 'fail'}"
            )
        case BenchReported():
            click.echo(format_table(event))
        case _:
            raise TypeError(f"a comparison has no {type(event).__name__} event")
