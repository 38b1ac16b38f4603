"""`--tasks FILE` for `llmdeck agent` and `llmdeck verify`: attempt every task of a task file, several times,
recorded with verdicts (services.collect); progress and the running pass rate on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from llmdeck.cli.options import FLOAT, INT, NAME, UserPath
from llmdeck.cli.output import emit_event, info

if TYPE_CHECKING:
    from llmdeck.services.collect import SweepEvent


def sweep_options(kind: str):
    """The flags of a task sweep, added to the `agent` / `verify` run command."""

    def decorate(func):
        options = [
            click.option(
                "--tasks",
                "tasks_file",
                type=UserPath(dir_okay=False),
                help="A task file (JSON lines with checks or expected answers): attempt every task of --split,"
                " recording each attempt with its verdict. Re-running the same command resumes it.",
            ),
            click.option("--samples", type=INT, default=1, show_default=True, help="Attempts per task (with --tasks)."),
            click.option(
                "--temperature",
                type=FLOAT,
                default=0.0,
                show_default=True,
                help="Sampling temperature (0: greedy; several --samples need it above 0).",
            ),
            click.option(
                "--greedy-first",
                is_flag=True,
                help="With --tasks: attempt 0 of each task is greedy, the other samples at --temperature.",
            ),
            click.option(
                "--split",
                type=click.Choice(["train", "heldout", "all"]),
                default="train",
                show_default=True,
                help="Which tasks of the file (with --tasks).",
            ),
            click.option("--limit", type=INT, help="At most this many tasks per category (with --tasks; quick runs)."),
            click.option(
                "--sweep",
                "collection_name",
                type=NAME,
                help="With --tasks: name of the sweep, the attempts' collection (default: derived from the file,"
                " model and sampling, so the same command resumes it).",
            ),
            click.option(
                "--adapter",
                type=NAME,
                help="A finished training run whose LoRA is applied to the model (default model: the run's own base).",
            ),
        ]
        if kind == "agent":
            options.append(
                click.option(
                    "--guide",
                    is_flag=True,
                    help="With --tasks: fix each first action to the task's `tool` (guided"
                    " collection; the arguments and the answer stay the model's own).",
                )
            )
            options.append(
                click.option(
                    "--hints",
                    is_flag=True,
                    help="With --tasks: append each task's `hint` to its question (rationalization;"
                    " data built from the traces asks the plain question).",
                )
            )
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


SAMPLING_FLAGS = ("samples", "temperature", "greedy_first", "split", "limit")  # collect()'s options from the flags


def run_sweep(kind: str, *, model: str | None, n_threads: int | None, as_json: bool, **kind_options) -> None:
    """Run the sweep the current command's `sweep_options` flags describe (read from its click context), with
    `kind_options` (the agent's or verifier's own limits) added to its options: JSON lines on stdout with
    --json, one line per attempt on stderr otherwise."""
    from llmdeck.core.errors import LlmdeckError
    from llmdeck.services.collect import AttemptRecorded, collect

    flags = click.get_current_context().params
    options = {name: flags[name] for name in SAMPLING_FLAGS} | kind_options
    sweep = collect(
        flags["tasks_file"],
        kind,
        model=model,
        adapter=flags["adapter"],
        options=options,
        collection=flags["collection_name"],
        n_threads=n_threads,
    )
    try:
        for event in sweep:
            if as_json:
                emit_event(event)
            line = render(event)
            if line and not (as_json and isinstance(event, AttemptRecorded)):
                info(line)
    except KeyboardInterrupt:
        sweep.close()
        raise LlmdeckError(
            f"interrupted: {sweep.resumed + sweep.attempted}/{sweep.total} attempts recorded;"
            f" run the same command again to resume sweep {sweep.collection}"
        ) from None


def render(event: SweepEvent) -> str:
    """One event of a sweep (`services.collect`) as a line for stderr."""
    from llmdeck.services.collect import AttemptRecorded, SweepFinished, SweepStarted

    match event:
        case SweepStarted():
            resumed = f", resuming: {event.done} done" if event.done else ""
            return (
                f"collection {event.collection}: {event.tasks} {event.kind} tasks x {event.samples}"
                f" = {event.total} attempts{resumed}"
            )
        case AttemptRecorded():
            detail = event.verdict.get("first_action") or event.verdict.get("status") or ""
            return (
                f"[{event.done}/{event.total}] {event.task_id} #{event.sample} "
                f"{'pass' if event.passed else 'fail'} ({detail}, {event.seconds:.1f} s)  "
                f"pass rate {event.pass_rate:.2f}"
            )
        case SweepFinished():
            rate = f"{event.pass_rate:.3f}" if event.pass_rate is not None else "-"
            parts = ", ".join(f"{name} {c['passed']}/{c['attempts']}" for name, c in event.by_category.items())
            return (
                f"collected {event.attempted} attempts ({event.resumed} earlier) in {event.seconds:.0f} s:"
                f" {event.passed} verified, pass rate {rate}"
                + (f"; {parts}" if parts else "")
                + (" (stopped)" if event.stopped else "")
            )
    raise TypeError(f"a sweep has no {type(event).__name__} event")
