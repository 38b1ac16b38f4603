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
        if name == "variables":  # a mapping: --var name=value, repeatable
            continue
        func.__click_params__ = getattr(func, "__click_params__", [])
        func.__click_params__.append(_option_for(name, field))
    return func


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


VAR_OPTION = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
                          help="Substitute {{NAME}} placeholders in the data (repeatable).")


@click.command("train")
@click.option("--config", "config_file", type=click.Path(path_type=Path, readable=False), help="YAML config file (flags override it).")
@click.option("--dry-run", is_flag=True, help="Check data and print the memory/time estimate; start nothing.")
@click.option("--force", is_flag=True, help="Launch even when the memory estimate exceeds what is available.")
@click.option("--wait", is_flag=True, help="Block until the run ends, with progress and ETA on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@VAR_OPTION
@_config_options
def command(config_file: Path | None, dry_run: bool, force: bool, wait: bool, as_json: bool, variables: tuple[str, ...],
            **fields) -> None:
    """Fine-tune a base model in a background process; prints the run id.

    Methods: sft, dpo, orpo, kto, reward, grpo, rloo (online RL), token-cls, extractive-qa, mlm (encoder heads);
    tuning: lora, qlora, lora-8bit, dora, ia3, prompt, prefix, ptuning, full.

    Runs on one device queue: a launch while another run trains waits (status queued) unless --parallel.
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
    ahead = [] if config.parallel else [other.id for other in runs.active_runs(plan.device)
                                        if other.id != run.id and not other.config.get("parallel")]
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
    parts = [plan.config.method, f"{d.valid} rows" + (f" -> {d.blocks} blocks of {plan.config.max_length} tokens" if d.blocks else "")]
    if plan.truncation_warning():
        parts.append(plan.truncation_warning())
    parts += [f"precision {plan.precision}", f"~{plan.estimate.peak_bytes / 2**30:.1f} GiB peak"]
    if plan.estimate.generation_seconds is not None:
        parts.append("generation " + generation_phrase(plan.estimate))
    queued = f"; queued behind {', '.join(ahead)} (one run at a time on {plan.device}; --parallel skips the queue)" if ahead else ""
    notes = "".join(f"; note: {note}" for note in plan.notes)
    return (f"started run {run.id} ({', '.join(parts)}){queued}{placeholder_warning(d)}{notes}; "
            f"follow with `llmdeck runs logs {run.id} --follow`")


def generation_phrase(estimate) -> str:
    """'~4m10s of ~5m (measured 38 tokens/s on cpu)': online RL's sampling share of the time estimate."""
    return (f"~{duration(estimate.generation_seconds)} of ~{duration(estimate.seconds)} "
            f"(measured {estimate.generation_tokens_per_s:.0f} tokens/s on {estimate.device})")


def placeholder_warning(report) -> str:
    if not report.placeholders:
        return ""
    names = ", ".join(f"{{{{{name}}}}} in {count} rows" for name, count in sorted(report.placeholders.items()))
    return f"; warning: placeholders left in the data ({names}): pass --var NAME=VALUE"


def print_plan(plan) -> None:
    e, d = plan.estimate, plan.data_report
    blocks = f" -> {d.blocks} blocks of {plan.config.max_length} tokens" if d.blocks else ""
    info(f"data        {d.source}: {d.format}, {d.valid} rows{blocks} ({d.bad_count} bad"
         f"{f', {d.with_tools} with tools' if d.with_tools else ''})")
    if plan.truncation_warning():
        info(f"truncation  {plan.truncation_warning()}")
    if d.placeholders:
        info(f"warning    {placeholder_warning(d).removeprefix('; warning: ')}")
    info(f"base        {plan.config.base_model} ({(plan.base_sha256 or 'not pinned').removeprefix('dir:')[:16]})")
    info(f"precision   {plan.precision}")
    info(f"parameters  {human_count(e.parameters)} ({human_count(e.trainable_parameters)} trainable, {plan.config.tuning})")
    info(f"memory      weights {human_size(e.weights_bytes)} + trainable/optimizer {human_size(e.trainable_bytes)} "
         f"+ activations {human_size(e.activations_bytes)} + runtime {human_size(e.overhead_bytes)}")
    available = human_size(e.available_bytes) if e.available_bytes else "unknown"
    info(f"peak        ~{human_size(e.peak_bytes)} of {available} available on {e.device} ({'fits' if e.fits else 'DOES NOT FIT'})")
    info(f"time        ~{e.steps} steps, {human_count(e.tokens)} tokens, ~{duration(e.seconds)}")
    if e.generation_seconds is not None:
        info(f"generation  {generation_phrase(e)}")
    for note in plan.notes:
        info(f"note        {note}")
