"""What agent and verify runs share as streamed responses (`services.agent.AgentResponse`,
`services.verify.VerifyResponse`): each event (`agents.events`) is kept and recorded (`agents.records`) as it
streams, the run is iterated once, and `close()` (from any thread) halts it and records how it ended.

A subclass says what its terminal event sets (`_take`), how the run is recorded when it ends (`_finish`) and
how a started iteration is stopped (`_stop_started`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import KW_ONLY, dataclass, field

from llmdeck.agents import records
from llmdeck.agents.events import RunEvent


def halt_check(stop_when: Callable[[], bool] | None) -> tuple[threading.Event, Callable[[], bool]]:
    """A halt flag for `close()` and the check the model calls at every token: the flag, or the caller's
    `stop_when` (the app's worker cancellation)."""
    halt = threading.Event()

    def stopped() -> bool:
        return halt.is_set() or bool(stop_when and stop_when())

    return halt, stopped


@dataclass
class RecordedRun:
    """A recorded run being streamed: iterate once for events; `done` or `cancelled` once it has ended."""

    run_id: str
    _: KW_ONLY
    events: list[RunEvent] = field(default_factory=list)
    done: bool = False
    cancelled: bool = False
    _events: Generator[RunEvent, None, None] = field(repr=False)
    _iterator: Generator[RunEvent, None, None] | None = field(default=None, repr=False)
    _halt: threading.Event = field(default_factory=threading.Event, repr=False)

    def __iter__(self) -> Iterator[RunEvent]:
        if self._iterator is not None:
            raise RuntimeError(f"a {type(self).__name__} can be iterated once")
        self._iterator = self._run()
        return self._iterator

    def _run(self) -> Generator[RunEvent, None, None]:
        failed = False
        try:
            for event in self._events:
                if self._drops(event):
                    break
                self._record(event)
                self._take(event)
                yield event
        except Exception as exc:
            failed = True
            self._failed(exc)
            raise
        finally:
            self._events.close()
            self._finish(failed)

    def _record(self, event: RunEvent) -> None:
        self.events.append(event)
        records.add_event(self.run_id, event)

    def close(self) -> None:
        """Stop the run (recorded as cancelled): at once when it has not started; a started one as the
        subclass's `_stop_started` says. A finished run is left as it is."""
        if self.done or self.cancelled:
            return
        self._halt.set()
        if self._iterator is None:
            self._iterator = _ended()
            self._events.close()
            self._finish()
            return
        self._stop_started(self._iterator)

    # -- what a subclass says -----------------------------------------------------------------------
    def _drops(self, event: RunEvent) -> bool:
        """True ends the run before `event` is recorded."""
        return False

    def _take(self, event: RunEvent) -> None:
        """Read the outcome from an event (the terminal one)."""

    def _failed(self, error: Exception) -> None:
        """The event stream raised `error` (it is raised on after this)."""

    def _finish(self, failed: bool = False) -> None:
        raise NotImplementedError

    def _stop_started(self, iteration: Generator[RunEvent, None, None]) -> None:
        """Stop `iteration`, the run's started one."""
        raise NotImplementedError


def _ended() -> Generator[RunEvent, None, None]:
    """The iteration of a run closed before it started: nothing."""
    yield from ()
