"""The model process's protocol, served inline (the same loop and JSON round trips as the child): events in
order, a stop read between two steps, errors raised again with their type. The real child with the real model is
tests/services/test_chat_process.py's slow test."""

from __future__ import annotations

import threading
import time

import pytest

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.model_process import InlineHost


def counting(request: dict, emit, stopped) -> None:
    """Emits n steps; with "wait", holds after the first until it is stopped (so a stop lands mid-request)."""
    if request.get("fail") == "bad":
        raise BadInput("--n: expected a number")
    if request.get("fail") == "crash":
        raise ZeroDivisionError("division by zero")
    for step in range(request["n"]):
        if stopped():
            emit({"stopped_at": step})
            return
        emit({"step": step})
        deadline = time.monotonic() + 10
        while step == 0 and request.get("wait") and not stopped() and time.monotonic() < deadline:
            time.sleep(0.002)


def test_events_come_in_order_and_a_stop_is_seen_at_the_next_step():
    host = InlineHost(counting)
    try:
        assert list(host.request({"n": 3})) == [{"step": 0}, {"step": 1}, {"step": 2}]
        exchange = host.request({"n": 1000, "wait": True})
        events = iter(exchange)
        assert next(events) == {"step": 0}
        exchange.stop()
        assert list(events) == [{"stopped_at": 1}]
        assert exchange.ended
        # the host serves the next request after a stopped one
        assert list(host.request({"n": 1})) == [{"step": 0}]
    finally:
        host.close()


def test_a_stop_check_stops_a_request_while_its_reader_waits():
    host = InlineHost(counting)
    wanted = threading.Event()
    try:
        exchange = host.request({"n": 1000, "wait": True})
        exchange.stop_check = wanted.is_set  # asked at every poll, while no event arrives
        events = iter(exchange)
        assert next(events) == {"step": 0}
        wanted.set()
        assert list(events) == [{"stopped_at": 1}]
    finally:
        host.close()


def test_errors_are_raised_again_bad_input_keeping_its_type():
    host = InlineHost(counting)
    try:
        with pytest.raises(BadInput, match="--n: expected a number"):
            list(host.request({"fail": "bad"}))
        with pytest.raises(LlmdeckError, match="ZeroDivisionError: division by zero") as raised:
            list(host.request({"fail": "crash"}))
        assert not isinstance(raised.value, BadInput)
    finally:
        host.close()
