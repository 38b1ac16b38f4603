"""`llmdeck complete`: continue a text with a model, no chat template (for base models without one)."""

from __future__ import annotations

import sys

import click

from llmdeck.cli.output import generation_options, stream_answer


@click.command("complete")
@click.argument("model")
@click.argument("text", required=False)
@generation_options
def command(model, text, temperature, top_p, max_tokens, seed, stop, n_ctx, n_threads, as_json):
    """Continue TEXT (or stdin) with MODEL as plain text: completion mode, for base models without a chat template.

    Example: llmdeck complete my-base "The three laws of robotics are" --max-tokens 64
    """
    from llmdeck.core.errors import BadInput
    from llmdeck.core.runtime import Sampling
    from llmdeck.services.chat import complete

    if text is None:
        text = "" if sys.stdin.isatty() else sys.stdin.read()
        if not text.strip():
            raise BadInput("complete: no text given (pass it as an argument or on stdin)")
    sampling = Sampling.from_settings(
        temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, stop=stop or None
    )
    response = complete(text, model=model, sampling=sampling, n_ctx=n_ctx, n_threads=n_threads)
    stream_answer(response, as_json)
