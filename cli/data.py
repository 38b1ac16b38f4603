"""`llmdeck data`: check a training dataset (format, rows, token lengths, every bad row); build one from recorded
agent and verify attempts (`from-runs`)."""

from __future__ import annotations

import click

from llmdeck.cli.options import INT, NAME, UserPath
from llmdeck.cli.output import emit_json, info

FORMAT_CHOICES = ["auto", "alpaca", "sharegpt", "messages", "text", "preference"]


@click.group("data")
def command() -> None:
    """Inspect training datasets.

    Example: llmdeck data check my.jsonl --format sharegpt --max-length 512
    """


@command.command("check")
@click.argument("path", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="auto",
    show_default=True,
    help="Data format (auto detects it when unambiguous).",
)
@click.option(
    "--model", type=NAME, help="Count tokens under this base model's tokenizer (default: the default store model)."
)
@click.option(
    "--max-length", type=INT, default=512, show_default=True, help="Report rows longer than this many tokens."
)
@click.option("--no-tokens", is_flag=True, help="Skip token statistics (no tokenizer load).")
@click.option(
    "--chat-template", help="Render conversations with chatml|llama3|gemma|FILE (for a base without a template)."
)
@click.option(
    "--var", "variables", multiple=True, metavar="NAME=VALUE", help="Substitute {{NAME}} placeholders (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def check(
    path: str | None,
    fmt: str,
    model: str | None,
    max_length: int,
    no_tokens: bool,
    chat_template: str | None,
    variables: tuple[str, ...],
    as_json: bool,
) -> None:
    """Rows, detected format, rows with tools, {{placeholders}}, token length stats, what --max-length truncates
    (rows and share of assistant tokens) or, for text, the blocks it makes, and every bad row of PATH
    (default: the bundled sample). Exit code 2 when any row is bad.

    Example: llmdeck data check

    Example: llmdeck data check my.jsonl --format sharegpt --model smollm2-135m-instruct --max-length 512 --json
    """
    from llmdeck.cli.train import parse_vars
    from llmdeck.core.errors import BadInput
    from llmdeck.tuning import data

    if max_length < 1:
        raise BadInput(f"--max-length {max_length}: expected a positive number of tokens")
    tokenizer = None
    if not no_tokens:
        from llmdeck.tuning.models import load_tokenizer, resolve_base

        tokenizer = load_tokenizer(resolve_base(model), chat_template)
    report = data.check(path, fmt, tokenizer=tokenizer, max_length=max_length, variables=parse_vars(variables))
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report)
    if not report.valid:
        raise BadInput(data.no_usable_rows_message(report))
    if report.bad_count:
        raise BadInput(f"{report.source}: {report.bad_count} bad row(s); see the report above")


def _print_report(report) -> None:
    click.echo(f"source   {report.source}")
    click.echo(f"format   {report.format}")
    click.echo(f"rows     {report.rows} ({report.valid} valid, {report.bad_count} bad)")
    if report.with_tools:
        click.echo(f"tools    {report.with_tools} rows carry tool definitions")
    if report.blocks is not None:
        click.echo(
            f"blocks   {report.blocks} training blocks of up to {report.tokens.get('max_length')} tokens "
            "(documents joined with EOS)"
        )
    cut = report.truncation
    if cut:
        click.echo(
            f"truncate {cut['rows_over']} of {cut['rows']} rows ({cut['rows_over_share']:.1%}) over max_length "
            f"{cut['max_length']}, {cut['assistant_cut_share']:.1%} of assistant tokens cut (longest {cut['longest']})"
        )
    for name, count in sorted(report.placeholders.items()):
        info(f"warning: {{{{{name}}}}} placeholder in {count} rows is trained literally; pass --var {name}=VALUE")
    if report.tokens:
        t = report.tokens
        line = (
            f"tokens   min {t['min']}  mean {t['mean']}  p50 {t['p50']}  p95 {t['p95']}  max {t['max']}"
            f"  total {t['total']}"
        )
        if "over_max_length" in t:
            line += f"  ({t['over_max_length']} over {t['max_length']})"
        click.echo(line)
    for bad in report.bad_rows:
        click.echo(f"bad      {bad.location}: {bad.problem}")
    if report.bad_count > len(report.bad_rows):
        info(f"... and {report.bad_count - len(report.bad_rows)} more bad rows")


@command.command("from-runs")
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=UserPath(file_okay=False),
    help="Directory to write sft.jsonl, preference.jsonl and manifest.json into.",
)
@click.option("--agent", "agent_only", is_flag=True, help="Only agent traces.")
@click.option("--verify", "verify_only", is_flag=True, help="Only verify programs.")
@click.option(
    "--since", help="Only attempts since then: a date/time (2026-03-14, 2026-03-14T09:30) or an age (90m, 12h, 3d)."
)
@click.option(
    "--sweep",
    "collections",
    multiple=True,
    type=NAME,
    help="Only attempts of this sweep (its collection name; repeatable).",
)
@click.option(
    "--tasks",
    "task_files",
    multiple=True,
    type=UserPath(dir_okay=False),
    help="A task file whose held-out tasks must stay out (repeatable; recorded held-out attempts always do).",
)
@click.option("--max-per-task", type=INT, default=4, show_default=True, help="Verified traces kept per task at most.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as one JSON document.")
def from_runs(out, agent_only, verify_only, since, collections, task_files, max_per_task, as_json):
    """Verified attempts -> SFT data (`messages` with tool calls; verified programs); tasks with a verified and a
    failed attempt -> preference pairs (chosen = verified). Deduplicated; held-out tasks never included.

    Example: llmdeck data from-runs --since 12h --out data/round1 && llmdeck train --dataset data/round1/sft.jsonl
    """
    from llmdeck.agents.run_datasets import build, parse_since
    from llmdeck.agents.tasks import load_tasks
    from llmdeck.core.errors import BadInput

    if agent_only and verify_only:
        raise BadInput("data from-runs: give --agent or --verify (neither: both)")
    if max_per_task < 1:
        raise BadInput(f"--max-per-task {max_per_task}: expected 1 or more")
    kinds = ["agent"] if agent_only else ["verify"] if verify_only else ["agent", "verify"]
    if collections:
        from llmdeck.agents.attempts import collections_summary

        recorded = [row["collection"] for row in collections_summary()]
        unknown = [name for name in collections if name not in recorded]
        if unknown:
            raise BadInput(f"--sweep {', '.join(unknown)}: no such sweep (recorded: {', '.join(recorded) or 'none'})")
    report = build(
        out,
        kinds,
        since=parse_since(since) if since else None,
        collections=list(collections) or None,
        task_files=[load_tasks(path) for path in task_files],
        max_per_task=max_per_task,
    )
    if as_json:
        emit_json(report.to_dict())
        return
    info(
        f"{report.attempts} attempts ({report.passed} verified); {report.heldout_attempts_dropped} of held-out tasks"
        f" left out; {report.duplicates_dropped} duplicates, {report.capped} over --max-per-task,"
        f" {report.malformed_dropped} malformed traces dropped"
    )
    for name, path in report.files.items():
        counts = report.sft_rows if name == "sft" else report.preference_rows
        click.echo(f"{path}  ({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))})")
    info(f"{len(report.train_tasks)} train tasks, {len(report.heldout_tasks)} held out (see {out}/manifest.json)")


@command.command("from-votes")
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=UserPath(file_okay=False),
    help="Directory to write preference.jsonl and manifest.json into.",
)
@click.option("--voter", help='Only votes by "user", "judge" (any judge) or "judge:MODEL" (default: all).')
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as one JSON document.")
def from_votes(out, voter, as_json):
    """Arena votes -> a preference dataset: the winner's answer is chosen, the loser's rejected (ties and both-bad
    votes are left out); `llmdeck train --method dpo` takes it as is.

    Example: llmdeck data from-votes --out votes && llmdeck train --method dpo --dataset votes/preference.jsonl
    """
    from llmdeck.services.arena import write_preference

    export = write_preference(out, voter)
    if as_json:
        emit_json(export.to_dict())
        return
    click.echo(f"{export.path}  ({export.rows} preference rows)")
    info(f"{export.votes} votes; {export.skipped} left out (ties, both bad, identical answers)")
