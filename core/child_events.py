"""A command run in a child process that prints its events as JSON lines (`llmdeck ... --json`): the app runs
decoding work apart from its own process and reads the events back, typed, through one of these."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from typing import ClassVar, Generic, TypeVar

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.events import Event, decoder
from llmdeck.core.procs import spawn

EventT = TypeVar("EventT", bound=Event)


class ChildEvents(Generic[EventT]):
    """A child running `command`: iterate for its events, decoded from its JSON lines on stdout into one of
    `event_classes`; a child that fails raises its one-line error (BadInput for exit 2). `close()` ends the child,
    and is safe from another thread than the one iterating: the iteration then ends at once, without an error."""

    event_classes: ClassVar[tuple[type[Event], ...]] = ()

    def __init__(self, command: list[str]):
        self.command = command
        self.stopped = False
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # progress text: never fills a pipe
        # started by the thread that iterates and closes it (the app's worker): it dies with the app
        self.process = spawn(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1
        )

    def __iter__(self) -> Iterator[EventT]:
        decode = decoder(self.event_classes)
        assert self.process.stdout is not None  # started with stdout=PIPE
        try:
            for line in self.process.stdout:
                if line.strip():
                    yield decode(json.loads(line))
            code = self.process.wait()
        finally:
            self.close()
            self.process.stdout.close()
        if code != 0 and not self.stopped:
            raise (BadInput if code == 2 else LlmdeckError)(self._error_line(code))

    def _error_line(self, code: int) -> str:
        """The child's `error: ...` line (its last), else its last line of stderr, else its exit code."""
        self._stderr.seek(0)
        lines = [line for line in self._stderr.read().splitlines() if line.strip()]
        message = next((line for line in reversed(lines) if line.startswith("error: ")), None)
        return message.removeprefix("error: ") if message else (lines[-1] if lines else f"exit code {code}")

    def close(self) -> None:
        """End the child (terminate, then kill after 5 s); a child that has ended is left as it is."""
        if self.process.poll() is None:
            self.stopped = True
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
