"""`llmdeck train`: launch a fine-tuning run from a YAML config and/or flags (one flag per config field)."""

from __future__ import annotations

from pathlib import Path

import click

from llmdeck.cli.options import UserPath, config_options
from llmdeck.cli.output import emit_json, info, progress_printer
from llmdeck.core.errors import LlmdeckError
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.plan_summary import generation_phrase, placeholder_warning, summarize


def parse_vars(values: tuple[str, ...]) -> dict[str, str] | None:
    """`--var name=value` pairs -> {name: value}; BadInput for a pair without '=' or with a bad name."""
    import re

    from llmdeck.core.errors import BadInput

    parsed = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise BadInput(f"--var {item!r}: expected NAME=VALUE (substitutes {{{{NAME}}}} in the data)")
        parsed[name.strip()] = value
    return parsed or None


VAR_OPTION = click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Substitute {{NAME}} placeholders in the data (repeatable).",
)


@click.command("train")
@click.option(
    "--config",
    "config_file",
    type=UserPath(path_type=Path, readable=False),
    help="YAML config file (flags override it).",
)
@click.option("--dry-run", is_flag=True, help="Check data and print the memory/time estimate; start nothing.")
@click.option("--force", is_flag=True, help="Launch even when the memory estimate exceeds what is available.")
@click.option("--wait", is_flag=True, help="Block until the run ends, with progress and ETA on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@VAR_OPTION
@config_options(TrainConfig, aliases={"dataset_format": "--format"})
def command(
    config_file: Path | None,
    dry_run: bool,
    force: bool,
    wait: bool,
    as_json: bool,
    variables: tuple[str, ...],
    **fields,
) -> None:
    """Fine-tune a base model in a background process; prints the run id.

    Methods: sft, dpo, orpo, kto, reward, grpo, rloo (online RL), token-cls, extractive-qa, mlm (encoder heads);
    tuning: lora, qlora, lora-8bit, dora, ia3, prompt, prefix, ptuning, full.

    Runs on one device queue: a launch while another run trains waits (status queued) unless --parallel.

    Example: llmdeck train --config configs/sft-lora-smollm2.yaml --dry-run

    Example: llmdeck train --base-model smollm2-135m-instruct --dataset my.jsonl --lora-r 8 --max-steps 200 --wait
    """
    from llmdeck.tuning import runs
    from llmdeck.tuning.config import load_config, read_config_file

    fields["variables"] = parse_vars(variables)
    if fields["variables"] and config_file:  # --var adds to the file's variables
        fields["variables"] = {**(read_config_file(config_file).get("variables") or {}), **fields["variables"]}
    config = load_config(config_file, fields)
    if dry_run:
        plan = runs.plan(config)
        if as_json:
            emit_json(plan.to_dict())
        else:
            print_plan(plan)
        return
    run, plan = runs.launch(config, force=force)
    ahead = (
        []
        if config.parallel
        else [
            other.id
            for other in runs.active_runs(plan.device)
            if other.id != run.id and not other.config.get("parallel")
        ]
    )
    if not as_json:
        click.echo(run.id)
        info(launch_line(run, plan, ahead))
    if wait:
        run = runs.wait_for(run.id, on_update=progress_printer())
        info("")
    if as_json:
        emit_json({"run": run.to_dict(), "plan": plan.to_dict()})
    if wait and run.status == "failed":
        raise LlmdeckError(f"run {run.id} failed: {run.error}")
    if wait:
        info(f"run {run.id} {run.status} at step {run.global_step}")


def launch_line(run, plan, ahead: list[str]) -> str:
    """'started run ID (sft, 999 rows, 2 over max_length ..., bf16 (...), ~1.5 GiB peak); follow with ...'."""
    d = plan.data_report
    parts = [
        plan.config.method,
        f"{d.valid} rows" + (f" -> {d.blocks} blocks of {plan.config.max_length} tokens" if d.blocks else ""),
    ]
    if plan.truncation_warning():
        parts.append(plan.truncation_warning())
    parts += [f"precision {plan.precision}", f"~{plan.estimate.peak_bytes / 2**30:.1f} GiB peak"]
    if plan.estimate.generation_seconds is not None:
        parts.append("generation " + generation_phrase(plan.estimate))
    queued = (
        f"; queued behind {', '.join(ahead)} (one run at a time on {plan.device}; --parallel skips the queue)"
        if ahead
        else ""
    )
    notes = "".join(f"; note: {note}" for note in plan.notes)
    placeholders = f"; warning: {placeholder_warning(d)}" if d.placeholders else ""
    return (
        f"started run {run.id} ({', '.join(parts)}){queued}{placeholders}{notes}; "
        f"follow with `llmdeck runs logs {run.id} --follow`"
    )


def print_plan(plan) -> None:
    """The dry run's summary on stderr, one labelled line each (the app's form shows the same lines)."""
    for line in summarize(plan).lines:
        info(f"{line.label:<12}{line.text}")
