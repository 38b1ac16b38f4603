"""`llmdeck arena`: the blind arena headless (a judge votes) and its leaderboard."""

from __future__ import annotations

import click

from llmdeck.cli.options import INT, NAME, Number, UserPath
from llmdeck.cli.output import emit_json, info, table


@click.group("arena", invoke_without_command=True)
@click.option(
    "--prompts", "prompts_file", type=UserPath(dir_okay=False), help='A .jsonl of {"prompt", "reference"?} or text.'
)
@click.option(
    "--model", "models", multiple=True, type=NAME, help="A contender: MODEL, MODEL+RUN or +RUN (give exactly two)."
)
@click.option("--judge", "judge_model", type=NAME, help="The judge model (MODEL, MODEL+RUN or +RUN) that votes.")
@click.option("--rubric", type=UserPath(dir_okay=False), help="A text file with the judge's criteria.")
@click.option("--max-tokens", type=Number(int, 1), help="Cap each answer at this many tokens.")
@click.option("--seed", type=INT, help="Seed of the random left/right order (default: random).")
@click.option("--json", "as_json", is_flag=True, help="Print the votes and the leaderboard as one JSON document.")
@click.pass_context
def command(ctx, prompts_file, models, judge_model, rubric, max_tokens, seed, as_json) -> None:
    """Two models answer the same prompts in a random order; a judge compares each pair in both orders and its
    verdicts are stored as arena votes (the app's arena, F2 then `a`, stores the user's).

    Example: llmdeck arena --prompts prompts.txt --model smollm2-135m-instruct --model +RUN --judge other-model
    """
    if ctx.invoked_subcommand is not None:
        return
    import random

    from llmdeck.core.errors import BadInput
    from llmdeck.services import arena
    from llmdeck.services.judge import load_rubric

    if not prompts_file:
        raise BadInput("arena: --prompts FILE is required (or `llmdeck arena leaderboard`)")
    if not judge_model:
        raise BadInput("arena: --judge MODEL is required (the user votes in the app)")
    first, second = arena.contenders(models)
    prompts = arena.read_prompts(prompts_file)
    chosen_rubric = load_rubric(rubric)

    def progress(done: int, total: int, vote: arena.Vote) -> None:
        info(f"[{done}/{total}] {vote.winner or vote.outcome}  ({vote.left_model} vs {vote.right_model})")

    recorded = list(
        arena.judge_arena(
            prompts, first, second, judge_model, chosen_rubric, max_tokens, random.Random(seed), progress=progress
        )
    )
    standings = arena.leaderboard(recorded)
    if as_json:
        emit_json({"votes": [v.to_dict() for v in recorded], "leaderboard": [s.to_dict() for s in standings]})
        return
    click.echo(_board_table(standings))


@command.command("leaderboard")
@click.option("--voter", help='Only votes by "user", "judge" (any judge) or "judge:MODEL".')
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def leaderboard(voter, as_json) -> None:
    """Every stored arena vote ranked: win rate (a tie counts half) with its 95% interval, Bradley-Terry rating.

    Example: llmdeck arena leaderboard --json
    """
    from llmdeck.services import arena

    recorded = arena.votes(voter)
    standings = arena.leaderboard(recorded)
    if as_json:
        emit_json({"votes": len(recorded), "leaderboard": [s.to_dict() for s in standings]})
        return
    info(f"{len(recorded)} votes")
    click.echo(_board_table(standings))


def _board_table(standings) -> str:
    rows = [
        {
            **s.to_dict(),
            "win_rate": f"{s.win_rate:.0%}",
            "95% interval": f"{s.low:.0%}-{s.high:.0%}",
            "rating": f"{s.rating:.0f}",
        }
        for s in standings
    ]
    return table(rows, ["model", "rating", "win_rate", "95% interval", "games", "wins", "losses", "ties", "both_bad"])
