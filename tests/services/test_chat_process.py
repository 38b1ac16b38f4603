"""The app's chat through the real model process: the embedded SmolLM2 loaded by llama.cpp in a child, an answer
streamed in batches, a stop between two tokens (stored, marked stopped, with its real token count), a refused
question raised with its type, and the child gone when the host is closed."""

from __future__ import annotations

import os

import pytest

from llmdeck.core import sessions
from llmdeck.core.errors import NotFound
from llmdeck.core.runtime import Sampling
from llmdeck.services.chat_process import ask, close_model_host, model_host


@pytest.mark.slow
def test_the_model_process_streams_stops_and_ends_with_the_app():
    try:
        answer = ask("ask", "Name three colors.", sampling=Sampling(temperature=0.0, max_tokens=24))
        assert answer.session_id and os.getpid() != model_host().pid
        text = "".join(answer)
        assert answer.done and not answer.stopped and 0 < answer.stats.tokens <= 24
        assert answer.stats.tokens_per_s > 0 and answer.n_ctx > answer.prompt_tokens > 0
        assert [(m.role, m.content) for m in sessions.messages(answer.session_id)][-1] == ("assistant", text)

        long = ask("ask", "Write a long story.", session=answer.session_id, sampling=Sampling(max_tokens=400))
        first = next(iter(long))
        long.close()
        assert long.stopped and not long.done
        stored = sessions.messages(answer.session_id)[-1]
        assert stored.role == "assistant" and stored.stopped and stored.content.startswith(first)
        assert 0 < long.stats.tokens < 400

        with pytest.raises(NotFound, match="ghost"):
            ask("ask", "hi", model="ghost")
        pid = model_host().pid
        assert pid is not None
    finally:
        close_model_host()
    assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
