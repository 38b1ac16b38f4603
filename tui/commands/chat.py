"""`llmdeck chat`: stream an answer from a local model, or a simple REPL on a terminal."""

from __future__ import annotations

import sys

import click

from tui.output import emit_json, info


def _sampling(temperature, top_p, max_tokens, seed, stop):
    from core.runtime import Sampling

    return Sampling.from_settings(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, stop=stop or None)


def _stream_one(model, messages, sampling, as_json: bool):
    """Stream one answer to stdout (text, or JSON lines); return its stats."""
    from core.runtime import ChatStats, stream_chat

    stats = ChatStats()
    for piece in stream_chat(model, messages, sampling, stats):
        if as_json:
            emit_json({"type": "token", "text": piece})
        else:
            sys.stdout.write(piece)
            sys.stdout.flush()
    if as_json:
        emit_json({
            "type": "done", "tokens": stats.tokens, "ttft_s": round(stats.ttft_s, 4),
            "tokens_per_s": round(stats.tokens_per_s, 2), "total_s": round(stats.total_s, 4),
            "finish_reason": stats.finish_reason,
        })
    else:
        sys.stdout.write("\n")
    return stats


@click.command("chat")
@click.argument("prompt", required=False)
@click.option("--model", "-m", "model_name", help="Store name or .gguf path (default: the store default).")
@click.option("--system", "-s", help="System prompt.")
@click.option("--temperature", type=float, help="Sampling temperature (default from config, 0.7).")
@click.option("--top-p", type=float, help="Nucleus sampling (default 0.95).")
@click.option("--max-tokens", type=int, help="Cap on generated tokens (default 512).")
@click.option("--seed", type=int, help="Sampling seed for reproducible answers.")
@click.option("--stop", multiple=True, help="Stop sequence (repeatable).")
@click.option("--ctx", "n_ctx", type=int, help="Context window to load the model with.")
@click.option("--threads", "n_threads", type=int, help="CPU threads for llama.cpp.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: token events, then a done event with stats.")
def command(prompt, model_name, system, temperature, top_p, max_tokens, seed, stop, n_ctx, n_threads, as_json):
    """Chat with a local model. With no PROMPT on a terminal, opens a simple REPL; with no PROMPT
    and piped input, reads the prompt from stdin.

    Example: llmdeck chat "Name three uses of a paperclip." --max-tokens 64
    """
    from core.errors import BadInput
    from core.runtime import build_messages, load_model

    sampling = _sampling(temperature, top_p, max_tokens, seed, stop)
    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read().strip()
        if not prompt:
            raise BadInput("chat: no prompt given (pass it as an argument or on stdin)")
    model = load_model(model_name, n_ctx=n_ctx, n_threads=n_threads)
    if prompt is not None:
        _stream_one(model, build_messages(prompt, system), sampling, as_json)
        return
    _repl(model, system, sampling, as_json)


def _repl(model, system, sampling, as_json: bool) -> None:
    """A minimal line REPL: history is kept for the session; /reset clears it, /exit or Ctrl-D leaves."""
    from core.runtime import build_messages

    info(f"chatting with {model.path.name} - /reset clears history, /exit or Ctrl-D quits")
    history: list[dict] = []
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            info("")
            return
        if not line:
            continue
        if line in ("/exit", "/quit"):
            return
        if line == "/reset":
            history.clear()
            continue
        stats = _stream_one(model, build_messages(line, system, history), sampling, as_json)
        history += [{"role": "user", "content": line}, {"role": "assistant", "content": stats.text}]
