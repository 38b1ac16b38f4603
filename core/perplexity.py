"""Mean token loss and perplexity of a GGUF, computed from llama.cpp's own logits.

Conversations are rendered exactly as chat renders them (llama-cpp-python's Jinja2 formatter over the GGUF's
chat template, with its BOS/EOS strings) and only the assistant turns are scored; plain text is scored on
every token after the first, in windows of the context size. What is measured is the file that will run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.gguf_meta import read_gguf_info
from llmdeck.core.validate import MAX_THREADS

MAX_EVAL_CTX = 4096


@dataclass(frozen=True)
class Score:
    """Loss over the scored tokens of a set of sequences."""

    loss: float  # mean negative log-likelihood per scored token (nats)
    perplexity: float
    tokens: int  # scored tokens
    sequences: int
    truncated: int  # sequences cut at the context size

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScoredTokens:
    """Token ids and, per position, whether that token is scored (predicted from the ones before it)."""

    tokens: list[int]
    scored: list[bool]


def score_gguf(
    path: Path,
    examples: Sequence[dict],
    n_threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Score:
    """Score `examples` ({"prompt": [...], "completion": [...]} conversations or {"text": ...}) on the GGUF."""
    if not examples:
        raise BadInput("evaluation: no examples to score")
    path = Path(path)
    info = read_gguf_info(path)
    window = min(MAX_EVAL_CTX, info.context_length or MAX_EVAL_CTX)
    vocab = _load_vocab(path)  # tokenize first: the context is then sized to fit
    try:
        sequences = [seq for example in examples for seq in _sequences(vocab, example, info.chat_template, window)]
    finally:
        vocab.close()
    sequences = [seq for seq in sequences if any(seq.scored[1:])]
    if not sequences:
        raise BadInput("evaluation: no tokens to score (every example rendered empty)")
    longest = max(len(seq.tokens) for seq in sequences)
    # logits for every position of the context are kept (n_ctx x vocabulary floats): no bigger than needed
    llama = _load(path, n_threads, n_ctx=min(window, -(-longest // 256) * 256))
    try:
        total_nll, total_tokens, truncated = 0.0, 0, 0
        n_ctx = llama.n_ctx()
        for index, seq in enumerate(sequences):
            if len(seq.tokens) > n_ctx:
                truncated += 1
                seq = ScoredTokens(seq.tokens[:n_ctx], seq.scored[:n_ctx])
            nll, count = _sequence_nll(llama, seq)
            total_nll += nll
            total_tokens += count
            if on_progress:
                on_progress(index + 1, len(sequences))
    finally:
        llama.close()
    if not total_tokens:
        raise BadInput("evaluation: no tokens to score")
    loss = total_nll / total_tokens
    return Score(
        loss=loss,
        perplexity=math.exp(min(loss, 700.0)),
        tokens=total_tokens,
        sequences=len(sequences),
        truncated=truncated,
    )


def option_loglikelihoods(
    path: Path,
    questions: Sequence[tuple[list[dict], Sequence[str]]],
    lora_path: str | None = None,
    n_threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[list[float]]:
    """For each (messages before the reply, options): the log-likelihood of each option as the assistant's whole
    reply (its tokens and its end-of-turn marker, summed), rendered through the GGUF's chat template as chat
    renders it. One model load for all of them (with `lora_path` applied), its context sized to the longest."""
    if not questions:
        return []
    path = Path(path)
    info = read_gguf_info(path)
    if not info.chat_template:
        raise BadInput(f"{path.name}: the model has no chat template, so options cannot be scored as its replies")
    window = min(MAX_EVAL_CTX, info.context_length or MAX_EVAL_CTX)
    vocab = _load_vocab(path)
    try:
        sequences = [
            [
                conversation_sequence(vocab, [*before, {"role": "assistant", "content": option}], info.chat_template)
                for option in options
            ]
            for before, options in questions
        ]
    finally:
        vocab.close()
    longest = max(len(seq.tokens) for options in sequences for seq in options)
    if longest > window:
        raise BadInput(f"{path.name}: a question with its option is {longest} tokens, over the context ({window})")
    llama = _load(path, n_threads, n_ctx=min(window, -(-longest // 256) * 256), lora_path=lora_path)
    try:
        scores = []
        for index, options in enumerate(sequences):
            scores.append([-_sequence_nll(llama, seq)[0] for seq in options])
            if on_progress:
                on_progress(index + 1, len(sequences))
        return scores
    finally:
        llama.close()


def _load(path: Path, n_threads: int | None, n_ctx: int, lora_path: str | None = None):
    import os

    from llama_cpp import Llama

    from llmdeck.core.llama_backend import prepare_llama_cpp

    prepare_llama_cpp()
    threads = n_threads or os.cpu_count() or 1
    if not 1 <= threads <= MAX_THREADS:  # llama.cpp's thread pool crashes far past the cores
        raise BadInput(f"--threads {threads}: out of range (accepted: 1..{MAX_THREADS})")
    try:  # logits for every position: that is what a loss needs
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=512,
            logits_all=True,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=0,
            lora_path=lora_path,
            verbose=False,
        )
    except ValueError as exc:
        raise LlmdeckError(f"{path}: llama.cpp could not load the model for evaluation ({exc})") from None


def _load_vocab(path: Path):
    """llama.cpp's tokenizer alone (a vocab-only model, no context): tokenize, BOS/EOS and their text."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        return LlamaModel(path_model=str(path), params=params, verbose=False)
    except ValueError as exc:
        raise LlmdeckError(f"{path}: llama.cpp could not read the tokenizer ({exc})") from None


def _sequences(vocab, example: dict, chat_template: str | None, n_ctx: int) -> list[ScoredTokens]:
    if "text" in example:
        tokens = vocab.tokenize(example["text"].encode("utf-8"), add_bos=True, special=False)
        # windows of the context size, each scored after its first token
        return [
            ScoredTokens(tokens[i : i + n_ctx], [False] + [True] * (len(tokens[i : i + n_ctx]) - 1))
            for i in range(0, len(tokens), n_ctx)
        ]
    messages = list(example.get("prompt", [])) + list(example.get("completion", []))
    if not chat_template:
        raise BadInput(
            "evaluation: the model has no chat template, so conversations cannot be rendered;"
            " evaluate it on plain text (a .txt file or text rows)"
        )
    return [conversation_sequence(vocab, messages, chat_template)]


def conversation_sequence(vocab, messages: list[dict], chat_template: str) -> ScoredTokens:
    """Tokens of the rendered conversation; the tokens of every assistant turn are the scored ones.

    The text is cut at each assistant turn's boundaries (the prompt rendered up to it with the generation
    prompt, the conversation rendered through it) and each piece tokenized on its own, so the scored span is
    exactly the reply and its end-of-turn marker, as the model generates them in chat (not the newline after).
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos, bos = _token_text(vocab, vocab.token_eos()), _token_text(vocab, vocab.token_bos())
    with_prompt = Jinja2ChatFormatter(chat_template, eos_token=eos, bos_token=bos, add_generation_prompt=True)
    plain = Jinja2ChatFormatter(chat_template, eos_token=eos, bos_token=bos, add_generation_prompt=False)

    def render(formatter, upto: int) -> str:
        try:
            return formatter(messages=messages[:upto]).prompt
        except Exception as exc:  # a template's raise_exception (e.g. roles must alternate) or a jinja error
            raise BadInput(f"evaluation: the chat template cannot render this conversation ({exc})") from None

    text = render(plain, len(messages))
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before, through = render(with_prompt, index), render(plain, index + 1)
        if not (text.startswith(through) and through.startswith(before)) or len(before) < cursor:
            continue  # a template that rewrites earlier turns: this turn cannot be placed exactly
        # the template's whitespace after the end-of-turn marker is never generated: not scored
        end = len(before) + len(text[len(before) : len(through)].rstrip())
        pieces += [(text[cursor : len(before)], False), (text[len(before) : end], True)]
        cursor = end
    pieces.append((text[cursor:], False))
    tokens: list[int] = []
    scored: list[bool] = []
    for piece, is_scored in pieces:
        if not piece:
            continue
        ids = vocab.tokenize(piece.encode("utf-8"), add_bos=False, special=True)
        tokens += ids
        scored += [is_scored] * len(ids)
    if tokens and scored[0]:
        scored[0] = False  # the first token has nothing to be predicted from
    return ScoredTokens(tokens, scored)


def _token_text(vocab, token_id: int) -> str:
    return vocab.token_get_text(token_id) if token_id != -1 else ""


def _sequence_nll(llama, seq: ScoredTokens) -> tuple[float, int]:
    """Sum of -log p(token) over the scored positions, from one forward pass with every position's logits."""
    import numpy as np

    llama.reset()
    llama.eval(seq.tokens)
    n = len(seq.tokens)
    logits = np.asarray(llama.scores[: n - 1], dtype=np.float64)  # row i predicts token i + 1
    targets = np.asarray(seq.tokens[1:])
    positions = np.flatnonzero(np.asarray(seq.scored[1:]))
    if positions.size == 0:
        return 0.0, 0
    rows = logits[positions]
    peak = rows.max(axis=1)
    log_norm = peak + np.log(np.exp(rows - peak[:, None]).sum(axis=1))
    nll = log_norm - rows[np.arange(positions.size), targets[positions]]
    return float(nll.sum()), int(positions.size)
