"""Pilot helpers shared by the app's tests."""

from __future__ import annotations

import time


async def wait_for(pilot, predicate, timeout_s: float = 60.0, what="the screen") -> None:
    """Pause the app until `predicate()` holds; the deadline only ends a wait that would never end (it is generous:
    a shared machine may be slow, and a passing test never waits for it)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        await pilot.pause(0.05)


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(key, key) for key in text])


async def type_and_send(pilot, text: str, typed: bool = False) -> None:
    """Send a prompt: keystroke by keystroke when `typed` (slow: ~0.1 s a key), else set in one go."""
    await pilot.click("#prompt")
    if typed:
        await type_text(pilot, text)
    else:
        pilot.app.screen.query_one("#prompt").value = text
    await pilot.press("enter")


def text_of(widget) -> str:
    return str(widget.render())


def status(app) -> str:
    return text_of(app.screen.query_one("#chat-status"))


async def past_run_refused_while_busy(pilot, screen, history, field: str, attribute: str, notice: str) -> None:
    """While a run is going, choosing a past run in `history` is refused with `notice` and the form's `field`
    keeps what was typed into it."""
    screen.busy = True
    widget = screen.query_one(field)
    setattr(widget, attribute, "typed while busy")
    history.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: any(notice in n.message for n in pilot.app._notifications))
    assert getattr(widget, attribute) == "typed while busy"
    screen.busy = False


class FakeRetriever:
    """A collection for the rag eval screen: a.md comes first in bm25 and hybrid, and in dense only for the
    question about apples."""

    def search(self, question, k, mode):
        from llmdeck.rag.stores import Hit

        found = Hit("", {"source": "/d/a.md"}, 1.0, "a")
        other = Hit("", {"source": "/d/b.md"}, 1.0, "b")
        return [found, other] if mode != "dense" or "apples" in question else [other]
