"""`llmdeck predict RUN TEXT`: a quick check of a finished task-head run (token-cls, extractive-qa, mlm, reward)."""

from __future__ import annotations

from pathlib import Path

import click

from llmdeck.cli.options import Number
from llmdeck.cli.output import emit_json


def _text_or_file(value: str | None) -> str | None:
    """`@FILE` reads the file (a long context); anything else is the text itself."""
    if value and value.startswith("@"):
        from llmdeck.tuning.files import read_text_file

        return read_text_file(Path(value[1:]).expanduser(), what="context file")
    return value


@click.command("predict")
@click.argument("run_id")
@click.argument("text")
@click.option("--context", help="extractive-qa: the passage to answer from (or @FILE).")
@click.option("--top-k", type=Number(int, 1), default=5, show_default=True, help="mlm: fills shown per [MASK].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(run_id: str, text: str, context: str | None, top_k: int, as_json: bool) -> None:
    """Run a finished task-head run on TEXT: token-cls labels each word (and lists the entities), extractive-qa
    answers the question TEXT from --context, mlm fills each [MASK], reward scores TEXT.

    Example: llmdeck predict my-ner "Ada Lovelace lived in London ."
    """
    from llmdeck.tuning.predict import predict

    result = predict(run_id, text, _text_or_file(context), top_k)
    if as_json:
        emit_json(result)
        return
    if "words" in result:
        click.echo(" ".join(f"{w['word']}/{w['label']}" for w in result["words"]))
        for entity in result["entities"]:
            click.echo(f"{entity['type']:8} {entity['text']}")
    elif "answer" in result:
        click.echo(result["answer"] or "(no answer span found)")
    elif "masks" in result:
        for number, fills in enumerate(result["masks"], start=1):
            click.echo(f"[MASK] {number}: " + "  ".join(f"{f['token']} ({f['score']:.2f})" for f in fills))
    else:
        click.echo(f"{result['score']:.4f}")
