"""`llmdeck data`: check a training dataset (format, rows, token lengths, every bad row)."""

from __future__ import annotations


import click

from llmdeck.cli.output import emit_json, info

FORMAT_CHOICES = ["auto", "alpaca", "sharegpt", "messages", "text", "preference"]


@click.group("data")
def command() -> None:
    """Inspect training datasets."""


@command.command("check")
@click.argument("path", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto", show_default=True,
              help="Data format (auto detects it when unambiguous).")
@click.option("--model", help="Count tokens under this base model's tokenizer (default: the default store model).")
@click.option("--max-length", type=int, default=512, show_default=True, help="Report rows longer than this many tokens.")
@click.option("--no-tokens", is_flag=True, help="Skip token statistics (no tokenizer load).")
@click.option("--chat-template", help="Render conversations with chatml|llama3|gemma|FILE (for a base without a template).")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Substitute {{NAME}} placeholders (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def check(path: str | None, fmt: str, model: str | None, max_length: int, no_tokens: bool, chat_template: str | None,
          variables: tuple[str, ...], as_json: bool) -> None:
    """Rows, detected format, rows with tools, {{placeholders}}, token length stats, what --max-length truncates
    (rows and share of assistant tokens) or, for text, the blocks it makes, and every bad row of PATH
    (default: the bundled sample). Exit code 2 when any row is bad.
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
        click.echo(f"blocks   {report.blocks} training blocks of up to {report.tokens.get('max_length')} tokens "
                   "(documents joined with EOS)")
    cut = report.truncation
    if cut:
        click.echo(f"truncate {cut['rows_over']} of {cut['rows']} rows ({cut['rows_over_share']:.1%}) over max_length "
                   f"{cut['max_length']}, {cut['assistant_cut_share']:.1%} of assistant tokens cut (longest {cut['longest']})")
    for name, count in sorted(report.placeholders.items()):
        info(f"warning: {{{{{name}}}}} placeholder in {count} rows is trained literally; pass --var {name}=VALUE")
    if report.tokens:
        t = report.tokens
        line = f"tokens   min {t['min']}  mean {t['mean']}  p50 {t['p50']}  p95 {t['p95']}  max {t['max']}  total {t['total']}"
        if "over_max_length" in t:
            line += f"  ({t['over_max_length']} over {t['max_length']})"
        click.echo(line)
    for bad in report.bad_rows:
        click.echo(f"bad      {bad.location}: {bad.problem}")
    if report.bad_count > len(report.bad_rows):
        info(f"... and {report.bad_count - len(report.bad_rows)} more bad rows")
