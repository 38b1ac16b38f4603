"""A scripted stand-in for `llama_cpp.Llama` (simonw/llm's `MockModel.enqueue` idea): replies come from a
queue, tokens are words, spaces and punctuation, and every call is recorded for assertions.

    fake = FakeLlama(n_ctx=512)
    fake.enqueue("Hello there!")                    # one reply, streamed one token per chunk
    fake.enqueue(["Two", " tokens!"])               # explicit chunks (a chunk may hold several tokens)
    with use_fake_model(fake): ...                  # every model the runtime loads is this fake

Only the surface llmdeck uses is implemented: `create_chat_completion` (streaming or not, max_tokens,
stop), `create_completion` (the agent's constrained steps: the prompt and the grammar of every call are
recorded in `completion_calls`), `tokenize`/`detokenize`, `token_eos`/`token_bos`, `metadata` (a ChatML
template), `n_ctx`, `close`. Grammars are recorded, not enforced: script replies that fit them.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any

TOKEN_PATTERN = re.compile(r"<\|[a-z_]+\|>|\s+|\w+|[^\w\s]", re.UNICODE)
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def fake_tokens(text: str) -> list[str]:
    """The fake tokenizer: words, runs of whitespace and single punctuation marks are one token each."""
    return TOKEN_PATTERN.findall(text)


class FakeLlama:
    """Answers from a script; `delay_s` sleeps before each streamed chunk (for cancellation tests)."""

    def __init__(self, replies: tuple = (), n_ctx: int = 2048, delay_s: float = 0.0, default_reply: str | None = None):
        self._replies: deque = deque()
        self._n_ctx = n_ctx
        self.delay_s = delay_s
        self.default_reply = default_reply
        self.calls: list[dict] = []
        self.completion_calls: list[dict] = []  # create_completion: {"prompt", "grammar", "max_tokens", "stop"}
        self.metadata = {"tokenizer.chat_template": CHATML_TEMPLATE}
        self.active_streams = 0  # streams started and neither finished nor closed
        self.chunks_streamed = 0  # content chunks handed out by streams (a stopped stream hands out fewer)
        self.closed = False
        self.vocab: dict[str, int] = {}
        self.enqueue(*replies)

    # -- scripting -------------------------------------------------------------------------------
    def enqueue(self, *replies: str | list[str]) -> FakeLlama:
        """Queue replies: a string streams token by token, a list streams exactly those chunks."""
        for reply in replies:
            self._replies.append(list(reply) if isinstance(reply, list) else fake_tokens(reply))
        return self

    def _next_chunks(self) -> list[str]:
        if self._replies:
            return self._replies.popleft()
        if self.default_reply is not None:
            return fake_tokens(self.default_reply)
        raise AssertionError("FakeLlama: no scripted reply left (enqueue one)")

    # -- the llama_cpp.Llama surface ---------------------------------------------------------------
    def n_ctx(self) -> int:
        return self._n_ctx

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        ids = [
            self.vocab.setdefault(piece, len(self.vocab) + 1) for piece in fake_tokens(text.decode("utf-8", "replace"))
        ]
        return ([0] if add_bos else []) + ids

    def detokenize(self, tokens: list[int], *args: Any, **kwargs: Any) -> bytes:
        words = {index: piece for piece, index in self.vocab.items()}
        return "".join(words.get(t, "") for t in tokens).encode("utf-8")

    def close(self) -> None:
        self.closed = True

    def token_eos(self) -> int:
        return self.vocab.setdefault("<|im_end|>", len(self.vocab) + 1)

    def token_bos(self) -> int:
        return self.vocab.setdefault("<|im_start|>", len(self.vocab) + 1)

    def create_completion(
        self,
        prompt: str | list[int],
        max_tokens: int | None = 16,
        stop: list[str] | str | None = None,
        grammar: Any = None,
        stream: bool = False,
        **kwargs: Any,
    ):
        """A completion of `prompt` (text or token ids) from the script, streamed or not; every call is recorded in
        `completion_calls` with its prompt text and the grammar's text."""
        text = prompt if isinstance(prompt, str) else self.detokenize(prompt).decode("utf-8")
        self.completion_calls.append(
            {
                "prompt": text,
                "grammar": getattr(grammar, "_grammar", grammar),
                "max_tokens": max_tokens,
                "stop": stop,
                **kwargs,
            }
        )
        chunks, finish = _limit(self._next_chunks(), max_tokens, [stop] if isinstance(stop, str) else stop or [])
        criteria = kwargs.get("stopping_criteria")
        if criteria:
            for index in range(len(chunks)):  # llama.cpp asks them after every token
                if criteria([], None):
                    chunks, finish = chunks[:index], "stop"
                    break
        base = {
            "id": f"cmpl-{uuid.uuid4().hex[:8]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": "fake",
        }
        if stream:
            return iter(
                [
                    *({**base, "choices": [{"index": 0, "text": chunk, "finish_reason": None}]} for chunk in chunks),
                    {**base, "choices": [{"index": 0, "text": "", "finish_reason": finish}]},
                ]
            )
        completion = "".join(chunks)
        return {
            **base,
            "choices": [{"index": 0, "text": completion, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": len(self.tokenize(text.encode(), add_bos=False)),
                "completion_tokens": len(fake_tokens(completion)),
            },
        }

    def create_chat_completion(
        self,
        messages: list[dict],
        stream: bool = False,
        max_tokens: int | None = None,
        stop: list[str] | str | None = None,
        **kwargs: Any,
    ):
        self.calls.append({"messages": [dict(m) for m in messages], "max_tokens": max_tokens, "stop": stop, **kwargs})
        prompt_tokens = sum(
            len(self.tokenize(str(m.get("content") or "").encode(), add_bos=False)) + 4 for m in messages
        )
        if prompt_tokens > self._n_ctx:
            raise ValueError(f"Requested tokens ({prompt_tokens}) exceed context window of {self._n_ctx}")
        chunks, finish = _limit(self._next_chunks(), max_tokens, [stop] if isinstance(stop, str) else stop or [])
        if stream:
            return self._stream(chunks, finish)
        text = "".join(chunks)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(fake_tokens(text)),
                "total_tokens": prompt_tokens + len(fake_tokens(text)),
            },
        }

    def _stream(self, chunks: list[str], finish: str) -> Iterator[dict]:
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "fake",
        }
        self.active_streams += 1
        try:
            yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
            for chunk in chunks:
                if self.delay_s:
                    time.sleep(self.delay_s)
                self.chunks_streamed += 1
                yield {**base, "choices": [{"index": 0, "delta": {"content": chunk}, "finish_reason": None}]}
            yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        finally:
            self.active_streams -= 1


def _limit(chunks: list[str], max_tokens: int | None, stops: list[str]) -> tuple[list[str], str]:
    """Cut the reply at the first stop sequence, then at `max_tokens` tokens (counted in whole chunks)."""
    text = "".join(chunks)
    for stop in stops:
        if stop and stop in text:
            cut = text.index(stop)
            kept, length = [], 0
            for chunk in chunks:
                if length + len(chunk) > cut:
                    if cut > length:
                        kept.append(chunk[: cut - length])
                    return _limit(kept, max_tokens, [])[0], "stop"
                kept.append(chunk)
                length += len(chunk)
    if max_tokens is not None and max_tokens > 0:
        kept, count = [], 0
        for chunk in chunks:
            count += len(fake_tokens(chunk))
            if count > max_tokens:
                return kept, "length"
            kept.append(chunk)
    return chunks, "stop"


@contextlib.contextmanager
def use_fake_model(fake: FakeLlama) -> Iterator[FakeLlama]:
    """Within the block, every model `llmdeck.core.runtime` loads is `fake` (store resolution still runs)."""
    from llmdeck.core import runtime

    previous = runtime.set_model_loader(lambda path, options: fake)
    runtime.model_cache().close_all()
    try:
        yield fake
    finally:
        runtime.model_cache().close_all()
        runtime.set_model_loader(previous)
