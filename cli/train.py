"""`llmdeck train`: launch a fine-tuning run from a YAML config and/or flags (one flag per config field)."""

from __future__ import annotations

import types
import typing
from pathlib import Path

import click

from llmdeck.cli.output import emit_json, info, progress_printer
from llmdeck.core.units import duration, human_count, human_size
from llmdeck.core.errors import LlmdeckError
from llmdeck.tuning.config import TrainConfig


def _option_for(name: str, field) -> click.Option:
    """A click option for one config field; every default is None so only given flags override the file."""
    flag = "--" + name.replace("_", "-")
    annotation = field.annotation
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    args = [a for a in typing.get_args(annotation) if a is not type(None)] if union else [annotation]
    help_text = field.description or ""
    decls = [flag] + (["--format"] if name == "dataset_format" else []) + [name]
    if args[0] is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}", name], default=None, help=help_text)
    if typing.get_origin(args[0]) is typing.Literal:
        return click.Option(decls, type=click.Choice([str(v) for v in typing.get_args(args[0])]), default=None, help=help_text)
    if args[0] in (int, float):
        return click.Option(decls, type=args[0], default=None, help=help_text)
    if typing.get_origin(args[0]) is list:
        return click.Option(decls, default=None, help=help_text + " Comma-separated.", callback=_split_list)
    return click.Option(decls, type=str, default=None, help=help_text)


def _split_list(ctx, param, value):
    if value is None or value == "all-linear":
        return value
    return [part.strip() for part in value.split(",") if part.strip()]


def _config_options(func):
    for name, field in reversed(list(TrainConfig.model_fields.items())):
        func.__click_params__ = getattr(func, "__click_params__", [])
        func.__click_params__.append(_option_for(name, field))
    return func


@click.command("train")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML config file (flags override it).")
@click.option("--dry-run", is_flag=True, help="Check data and print the memory/time estimate; start nothing.")
@click.option("--force", is_flag=True, help="Launch even when the memory estimate exceeds what is available.")
@click.option("--wait", is_flag=True, help="Block until the run ends, with progress and ETA on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@_config_options
def command(config_file: Path | None, dry_run: bool, force: bool, wait: bool, as_json: bool, **fields) -> None:
    """Fine-tune a base model (SFT/DPO/ORPO, LoRA/QLoRA/full) in a background process; prints the run id."""
    from llmdeck.tuning import runs
    from llmdeck.tuning.config import load_config

    config = load_config(config_file, fields)
    if dry_run:
        plan = runs.plan(config)
        if as_json:
            emit_json(plan.to_dict())
        else:
            print_plan(plan)
        return
    run, plan = runs.launch(config, force=force)
    if not as_json:
        click.echo(run.id)
        info(f"started run {run.id} ({config.method}, {plan.data_report.valid} rows, "
             f"~{plan.estimate.peak_bytes / 2**30:.1f} GiB peak); follow with `llmdeck runs logs {run.id} --follow`")
    if wait:
        run = runs.wait_for(run.id, on_update=progress_printer())
        info("")
    if as_json:
        emit_json({"run": run.to_dict(), "plan": plan.to_dict()})
    if wait and run.status == "failed":
        raise LlmdeckError(f"run {run.id} failed: {run.error}")
    if wait:
        info(f"run {run.id} {run.status} at step {run.global_step}")


def print_plan(plan) -> None:
    e, d = plan.estimate, plan.data_report
    info(f"data        {d.source}: {d.format}, {d.valid} rows ({d.bad_count} bad)")
    info(f"parameters  {human_count(e.parameters)} ({human_count(e.trainable_parameters)} trainable, {plan.config.tuning})")
    info(f"memory      weights {human_size(e.weights_bytes)} + trainable/optimizer {human_size(e.trainable_bytes)} "
         f"+ activations {human_size(e.activations_bytes)} + runtime {human_size(e.overhead_bytes)}")
    available = human_size(e.available_bytes) if e.available_bytes else "unknown"
    info(f"peak        ~{human_size(e.peak_bytes)} of {available} available on {e.device} ({'fits' if e.fits else 'DOES NOT FIT'})")
    info(f"time        ~{e.steps} steps, {human_count(e.tokens)} tokens, ~{duration(e.seconds)}")
