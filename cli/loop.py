"""`llmdeck loop`: collect -> build data -> train (SFT, then DPO/ORPO) -> export, round after round, each round's
model collecting the next round's data (services.loop); `loop list` and `loop show` inspect loops."""

from __future__ import annotations

import signal
import types
import typing

import click

from llmdeck.cli.groups import DefaultCommandGroup
from llmdeck.cli.output import emit_json, info, table
from llmdeck.services.loop import LoopConfig, stage_brief, summary_columns


def _option(name: str, field) -> click.Option:
    """A click option for one LoopConfig field; every default is None so only given flags override."""
    flag = "--" + name.replace("_", "-")
    annotation = field.annotation
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    args = [a for a in typing.get_args(annotation) if a is not type(None)] if union else [annotation]
    kind = args[0]
    if name == "tasks":
        return click.Option([flag, name], multiple=True, type=click.Path(dir_okay=False), help=field.description)
    if kind is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}", name], default=None, help=field.description)
    if typing.get_origin(kind) is typing.Literal:
        return click.Option([flag, name], type=click.Choice([str(v) for v in typing.get_args(kind)]), default=None,
                            help=field.description)
    return click.Option([flag, name], type=kind if kind in (int, float) else str, default=None, help=field.description)


def _config_options(func):
    func.__click_params__ = getattr(func, "__click_params__", [])
    for name, field in reversed(list(LoopConfig.model_fields.items())):
        func.__click_params__.append(_option(name, field))
    return func


@click.group("loop", cls=DefaultCommandGroup, default_command="run")
def command() -> None:
    """The self-improvement loop: `llmdeck loop --rounds R [options]` (the `run` command) collects attempts at the
    train tasks, builds data from the verified ones, trains SFT then DPO, exports, and lets that model collect the
    next round; `llmdeck loop list|show` inspect loops.

    Example: llmdeck loop --name demo --rounds 2 --limit 5 --samples 2
    """


@command.command("run")
@click.option("--json", "as_json", is_flag=True, help="Events as JSON lines (stage, progress, round, done).")
@_config_options
def run_command(as_json: bool, **fields) -> None:
    """Run (or resume: same --name) a loop; progress on stderr, the summary table per round on stdout.

    Example: llmdeck loop --name demo --tasks my_tasks.jsonl --rounds 2 --samples 4 --evaluate --eval-limit 5
    """
    from llmdeck.services.loop import run_loop

    values = {k: (list(v) if k == "tasks" else v) for k, v in fields.items() if v is not None and v != ()}
    response = run_loop(values)
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)  # a killed loop saves its state like Ctrl-C does
    info(f"loop {response.state.name}: {response.config.rounds} round(s) (state in $LLMDECK_HOME/llmdeck.db, data in"
         f" $LLMDECK_HOME/loops/{response.state.name}; the same command resumes it)")
    last_progress = {}
    try:
        for event in response:
            if as_json:
                emit_json(event)
                continue
            if event["type"] == "stage" and event["status"] != "start":
                info(f"[round {event['round']}] {event['stage']}: {event['status']}" + stage_brief(event.get("result")))
            elif event["type"] == "stage":
                info(f"[round {event['round']}] {event['stage']} ...")
            elif event["type"] == "progress":
                key = (event["round"], event["stage"])
                if last_progress.get(key) != (event["done"], event["detail"]):
                    last_progress[key] = (event["done"], event["detail"])
                    info(f"  {event['stage']} {event['done']}/{event['total'] or '?'} {event['detail']}")
            elif event["type"] == "round":
                click.echo(round_table([event["row"]]))
            elif event["type"] == "done":
                click.echo(round_table(event["rows"]))
                info(f"loop {event['loop']} {event['status']}: {event['seconds'] / 60:.1f} min wall,"
                     f" {event['cpu_seconds'] / 60:.1f} min CPU")
    finally:
        response.close()
        signal.signal(signal.SIGTERM, previous_handler)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def round_table(rows: list[dict]) -> str:
    return table(rows, summary_columns(rows))


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def list_command(as_json: bool) -> None:
    """Loops, oldest first."""
    from llmdeck.services.loop import list_loops

    found = list_loops()
    if as_json:
        emit_json([state.to_dict() for state in found])
        return
    rows = [{"name": s.name, "status": s.status, "rounds": f"{len(s.rounds)}/{s.config.get('rounds')}",
             "base": s.rounds[0]["model"] if s.rounds else "-", "latest": (s.rounds[-1].get("output") if s.rounds else None),
             "minutes": round(s.seconds / 60, 1)} for s in found]
    click.echo(table(rows, ["name", "status", "rounds", "base", "latest", "minutes"]))


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The whole state as one JSON document.")
def show_command(name: str, as_json: bool) -> None:
    """A loop's summary table (every round) and its status."""
    from llmdeck.services.loop import load_state, summary_rows

    state = load_state(name)
    if as_json:
        emit_json({**state.to_dict(), "rows": summary_rows(state)})
        return
    click.echo(round_table(summary_rows(state)))
    info(f"loop {state.name} {state.status}" + (f": {state.error}" if state.error else "")
         + f"; {state.seconds / 60:.1f} min wall, {state.cpu_seconds / 60:.1f} min CPU")
