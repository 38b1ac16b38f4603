"""`llmdeck loop`: collect -> build data -> train (SFT, then DPO/ORPO) -> export, round after round, each round's
model collecting the next round's data (services.loop); `loop list` and `loop show` inspect loops."""

from __future__ import annotations

import signal

import click

from llmdeck.cli.groups import DefaultCommandGroup
from llmdeck.cli.options import UserPath, config_options
from llmdeck.cli.output import emit_event, emit_json, info, table
from llmdeck.services.loop import (
    LoopConfig,
    LoopEvent,
    LoopFinished,
    RoundFinished,
    StageEnded,
    StageProgressed,
    StageStarted,
    stage_brief,
    summary_columns,
)

TASKS_OPTION = click.Option(
    ["--tasks", "tasks"],
    multiple=True,
    type=UserPath(dir_okay=False),
    help=LoopConfig.model_fields["tasks"].description,
)


@click.group("loop", cls=DefaultCommandGroup, default_command="run")
def command() -> None:
    """The self-improvement loop: `llmdeck loop --rounds R [options]` (the `run` command) collects attempts at the
    train tasks, builds data from the verified ones, trains SFT then DPO, exports, and lets that model collect the
    next round; `llmdeck loop list|show` inspect loops.

    Example: llmdeck loop --name demo --rounds 2 --limit 5 --samples 2
    """


@command.command("run")
@click.option("--json", "as_json", is_flag=True, help="Events as JSON lines (stage, progress, round, done).")
@config_options(LoopConfig, custom={"tasks": TASKS_OPTION})
def run_command(as_json: bool, **fields) -> None:
    """Run (or resume: same --name) a loop; progress on stderr, the summary table per round on stdout.

    Example: llmdeck loop --name demo --tasks my_tasks.jsonl --rounds 2 --samples 4 --evaluate --eval-limit 5
    """
    from llmdeck.services.loop import run_loop

    values = {k: (list(v) if k == "tasks" else v) for k, v in fields.items() if v is not None and v != ()}
    response = run_loop(values)
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)  # a killed loop saves its state like Ctrl-C does
    info(
        f"loop {response.state.name}: {response.config.rounds} round(s) (state in $LLMDECK_HOME/llmdeck.db, data in"
        f" $LLMDECK_HOME/loops/{response.state.name}; the same command resumes it)"
    )
    last_progress: dict[tuple[int, str], tuple[int, str]] = {}
    try:
        for event in response:
            emit_event(event) if as_json else show_event(event, last_progress)
            if isinstance(event, LoopFinished) and not as_json:
                echo_details(response.state)
    finally:
        response.close()
        signal.signal(signal.SIGTERM, previous_handler)


def show_event(event: LoopEvent, last_progress: dict[tuple[int, str], tuple[int, str]]) -> None:
    """One event of a loop: stages and progress on stderr (a progress line only when it changed since
    `last_progress`), the summary table of each round on stdout."""
    match event:
        case StageStarted():
            info(f"[round {event.round}] {event.stage} ...")
        case StageEnded():
            info(f"[round {event.round}] {event.stage}: {event.status}" + stage_brief(event.result))
        case StageProgressed():
            key = (event.round, event.stage)
            if last_progress.get(key) != (event.done, event.detail):
                last_progress[key] = (event.done, event.detail)
                info(f"  {event.stage} {event.done}/{event.total or '?'} {event.detail}")
        case RoundFinished():
            click.echo(round_table([event.row]))
        case LoopFinished():
            click.echo(round_table(event.rows))
            info(
                f"loop {event.loop} {event.status}: {event.seconds / 60:.1f} min wall,"
                f" {event.cpu_seconds / 60:.1f} min CPU"
            )
        case _:
            raise TypeError(f"a loop has no {type(event).__name__} event")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def round_table(rows: list[dict]) -> str:
    return table(rows, summary_columns(rows))


def echo_details(state) -> None:
    """After the rounds table: the held-out and transfer curve with 95% intervals, the current model and why,
    and each round's stage times."""
    from llmdeck.services.loop import current_model, current_reason, curve_rows, curve_table_rows, stage_times

    curve = curve_table_rows(curve_rows(state))
    if curve:
        click.echo("\nheld-out and transfer metrics per round (value [95% interval]; round 0: the base)")
        click.echo(table(curve, list(curve[0])))
    click.echo(f"\ncurrent model: {current_model(state)} ({current_reason(state)})")
    times = stage_times(state)
    if times:
        click.echo("\nstage wall seconds per round")
        click.echo(table(times, list(times[0])))


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def list_command(as_json: bool) -> None:
    """Loops, oldest first.

    Example: llmdeck loop list --json
    """
    from llmdeck.services.loop import current_model, list_loops

    found = list_loops()
    if as_json:
        emit_json([state.to_dict() for state in found])
        return
    rows = [
        {
            "name": s.name,
            "status": s.status,
            "rounds": f"{len(s.rounds)}/{s.config.get('rounds')}",
            "base": s.rounds[0]["model"] if s.rounds else "-",
            "latest": (s.rounds[-1].get("output") if s.rounds else None),
            "current": current_model(s),  # the model the gate last promoted (the base until one is)
            "minutes": round(s.seconds / 60, 1),
        }
        for s in found
    ]
    click.echo(table(rows, ["name", "status", "rounds", "base", "latest", "current", "minutes"]))


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The whole state as one JSON document.")
def show_command(name: str, as_json: bool) -> None:
    """A loop's rounds table, its held-out and transfer metrics per round with 95% intervals, the current model
    and the gate decision that made it current, each round's stage times, and its status.

    Example: llmdeck loop show demo
    """
    from llmdeck.services.loop import current_model, current_reason, curve_rows, load_state, stage_times, summary_rows

    state = load_state(name)
    if as_json:
        emit_json(
            {
                **state.to_dict(),
                "rows": summary_rows(state),
                "current_model": current_model(state),
                "current_reason": current_reason(state),
                "curve": curve_rows(state),
                "stage_times": stage_times(state),
            }
        )
        return
    click.echo(round_table(summary_rows(state)))
    echo_details(state)
    info(
        f"loop {state.name} {state.status}"
        + (f": {state.error}" if state.error else "")
        + f"; {state.seconds / 60:.1f} min wall, {state.cpu_seconds / 60:.1f} min CPU"
    )
