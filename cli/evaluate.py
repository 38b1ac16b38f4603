"""`llmdeck eval`: mean token loss and perplexity of store models, through llama.cpp's logits."""

from __future__ import annotations

import click

from llmdeck.cli.output import emit_json, info, table
from llmdeck.core.units import human_size


@click.command("eval")
@click.argument("models", nargs=-1, required=True)
@click.option(
    "--data", "data_file", type=click.Path(), help="Held-out text (.txt) or a dataset file (assistant turns scored)."
)
@click.option("--run", "run_id", help="Use this run's eval split.")
@click.option(
    "--max-examples", type=click.IntRange(min=1), default=64, show_default=True, help="Examples scored per model."
)
@click.option("--threads", "n_threads", type=int, help="CPU threads for llama.cpp.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(models, data_file, run_id, max_examples, n_threads, as_json):
    """Score MODEL(s) on the same data: loss per token and perplexity (default data: the bundled sample).

    Example: llmdeck eval my-run.q8_0 my-run.q4_k_m --run my-run
    """
    from llmdeck.core.store import ModelStore
    from llmdeck.tuning.evaluate import choose_data, evaluate_models

    for name in models:  # every model resolves before anything is read or printed
        ModelStore().resolve(name)
    eval_data = choose_data(data_file, run_id, max_examples)
    info(f"data: {eval_data.description}")
    results = evaluate_models(list(models), eval_data, n_threads=n_threads)
    if as_json:
        emit_json({"data": eval_data.description, "results": [r.to_dict() for r in results]})
        return
    reference = results[0].loss
    rows = [
        {
            "model": r.model,
            "quant": r.file_type,
            "size": human_size(r.size_bytes),
            "loss": f"{r.loss:.4f}",
            "ppl": f"{r.perplexity:.3f}",
            "vs first": f"{r.loss - reference:+.4f}",
            "tokens": r.tokens,
        }
        for r in results
    ]
    click.echo(table(rows, ["model", "quant", "size", "loss", "ppl", "vs first", "tokens"]))
