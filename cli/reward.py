"""`llmdeck reward score RUN --data FILE`: a reward model (a finished `--method reward` run) scores data."""

from __future__ import annotations

import click

from llmdeck.cli.options import Number, UserPath
from llmdeck.cli.output import emit_json, info, table


@click.group("reward")
def command() -> None:
    """Reward models: score data with a finished `llmdeck train --method reward` run.

    Example: llmdeck reward score my-rm --data prefs.jsonl
    """


@command.command("score")
@click.argument("run_id")
@click.option(
    "--data",
    "data_file",
    required=True,
    type=UserPath(),
    help="Rows to score: preference pairs (both sides), conversations, prompts with answers, or text.",
)
@click.option("--batch-size", type=Number(int, 1), default=8, show_default=True, help="Texts scored at once.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def score(run_id: str, data_file: str, batch_size: int, as_json: bool) -> None:
    """Score every row of FILE with the reward run: pairs get chosen, rejected and margin (and the share ranked
    right), other rows one score.

    Example: llmdeck reward score my-rm --data prefs.jsonl --json
    """
    from llmdeck.tuning.reward_scores import score_file

    report = score_file(run_id, data_file, batch_size)
    if as_json:
        emit_json(report.to_dict())
        return
    pairs = [row for row in report.rows if "margin" in row]
    if pairs:
        click.echo(
            table(
                [{k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()} for row in pairs],
                ["location", "chosen", "rejected", "margin"],
            )
        )
        info(f"{report.pairs} pairs, chosen ranked higher in {report.pair_accuracy:.1%}")
    singles = [row for row in report.rows if "score" in row]
    if singles:
        click.echo(
            table(
                [{"location": row["location"], "score": f"{row['score']:.4f}"} for row in singles],
                ["location", "score"],
            )
        )
        info(f"{len(singles)} rows, mean score {report.mean_score:.4f}")
