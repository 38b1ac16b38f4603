"""A model process: a child that owns the heavy, GIL-holding work of a front end (the llama.cpp model the app
chats with), so the app's process keeps only I/O and message passing.

The child is a fresh interpreter (`python -m llmdeck.core.model_process HANDLER`: no threads, locks or main module
inherited from the app) speaking JSON lines over its stdin and stdout:

    parent -> child   {"op": "run", "id": N, "request": {...}}    {"op": "stop", "id": N}
    child -> parent   {"id": N, "event": {...}} ...                {"id": N, "end": true[, "error": {...}]}

A handler (`"module:function"`, imported in the child) serves one request at a time:
`handler(request, emit, stopped)`, calling `emit(event_dict)` as it goes and checking `stopped()` between tokens.
A stop is a message the child's reader thread records at once; if the child does not end the request within
`STOP_GRACE_S`, it is killed (the next request starts a new one). The child exits when the pipe closes, so it
dies with the app; `close()` (also at exit) ends it.

`InlineHost` serves the same protocol from a thread of this process (each message still goes through JSON): for a
model that only exists in this process, such as the tests' scripted fake model.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import queue
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path

from llmdeck.core import errors
from llmdeck.core.errors import LlmdeckError

Emit = Callable[[dict], None]
Handler = Callable[[dict, Emit, Callable[[], bool]], None]
POLL_S = 0.05  # how often a waiting reader checks that its request is still wanted
STOP_GRACE_S = 10.0  # a stopped request must end within this, or the child is killed
START_TIMEOUT_S = 120.0  # the first event of a request (a model load included) must come within this


class ModelProcessDied(LlmdeckError):
    """The model process ended or stopped answering (it is started again for the next request)."""


def load_handler(path: str) -> Handler:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def serve(handler: Handler, receive: Callable[[], dict], send: Emit) -> None:
    """The child's loop: a reader thread takes requests and stops off the channel, the caller's thread serves the
    requests in order. Returns when the channel closes (`receive` raises EOFError or OSError)."""
    requests: queue.Queue[dict | None] = queue.Queue()
    stopped_ids: set[int] = set()
    closed = threading.Event()  # the other side is gone: whatever runs stops at its next token

    def read() -> None:
        while True:
            try:
                message = receive()
            except (EOFError, OSError):
                closed.set()
                requests.put(None)
                return
            if message.get("op") == "stop":
                stopped_ids.add(message["id"])
            elif message.get("op") == "run":
                requests.put(message)
            else:
                closed.set()
                requests.put(None)
                return

    threading.Thread(target=read, name="model-process-reader", daemon=True).start()
    while (message := requests.get()) is not None:
        request_id = message["id"]

        def emit(event: dict, request_id: int = request_id) -> None:
            send({"id": request_id, "event": event})

        def stopped(request_id: int = request_id) -> bool:
            return request_id in stopped_ids or closed.is_set()

        try:
            handler(message["request"], emit, stopped)
            send({"id": request_id, "end": True})
        except Exception as exc:  # the parent raises it again; the child serves the next request
            send({"id": request_id, "end": True, "error": {"kind": type(exc).__name__, "message": str(exc)}})


def _child_main(handler_path: str) -> None:
    """The child (`python -m llmdeck.core.model_process HANDLER`): JSON lines on stdin and on the protocol's copy
    of stdout; file descriptor 1 itself goes to stderr, so a stray print cannot break the protocol."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    send_lock = threading.Lock()

    def send(message: dict) -> None:
        line = json.dumps(message) + "\n"
        with send_lock:
            protocol.write(line)
            protocol.flush()

    def receive() -> dict:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return json.loads(line)

    try:
        serve(load_handler(handler_path), receive, send)
    except (BrokenPipeError, EOFError, OSError):
        pass
    os._exit(0)  # no interpreter teardown: llama.cpp's destructors need not run, the OS frees the model


def _raised(error: dict) -> LlmdeckError:
    """The child's exception as the parent raises it: llmdeck's own types keep their class (BadInput: exit 2)."""
    kind = getattr(errors, error.get("kind", ""), None)
    if isinstance(kind, type) and issubclass(kind, LlmdeckError):
        return kind(error["message"])
    if error.get("kind") == "LoraNotApplicable":
        return errors.BadInput(error["message"])
    return LlmdeckError(f"{error.get('kind')}: {error.get('message')}")


class Exchange:
    """One request's events, as the parent reads them: iterate for event dicts (an error is raised again);
    `stop()` asks the child to end it; `close()` stops it and waits (killing the child past the grace)."""

    def __init__(self, host: _Host, request_id: int):
        self.host = host
        self.id = request_id
        self.ended = False
        self.stop_requested = False
        self.stop_check: Callable[[], bool] | None = None  # asked at every poll: True stops the request

    def __iter__(self) -> Iterator[dict]:
        waited = 0.0
        while not self.ended:
            if self.stop_check is not None and not self.stop_requested and self.stop_check():
                self.stop()
            message = self.host._receive(POLL_S)
            if message is None:
                waited += POLL_S
                limit = STOP_GRACE_S if self.stop_requested else START_TIMEOUT_S
                if not self.host.alive() or waited > limit:
                    self.ended = True
                    self.host._kill()
                    if self.stop_requested:
                        return
                    raise ModelProcessDied("the model process stopped answering; it starts again on the next message")
                continue
            if message.get("id") != self.id:
                continue  # the tail of an earlier request that was given up on
            waited = 0.0
            if message.get("end"):
                self.ended = True
                if "error" in message:
                    raise _raised(message["error"])
                return
            yield message["event"]

    def stop(self) -> None:
        if not self.ended and not self.stop_requested:
            self.stop_requested = True
            self.host._send({"op": "stop", "id": self.id})

    def close(self) -> None:
        """Stop the request and read what is left of it (its last events are dropped)."""
        self.stop()
        for _ in self:
            pass


class _Host(ABC):
    """What both hosts share: one request at a time, numbered."""

    def __init__(self) -> None:
        self._next_id = 0
        self._lock = threading.Lock()

    def request(self, payload: dict) -> Exchange:
        with self._lock:
            self._ensure_started()
            self._next_id += 1
            self._send({"op": "run", "id": self._next_id, "request": payload})
            return Exchange(self, self._next_id)

    @abstractmethod
    def _ensure_started(self) -> None: ...
    @abstractmethod
    def _send(self, message: dict) -> None: ...
    @abstractmethod
    def _receive(self, timeout_s: float) -> dict | None: ...
    @abstractmethod
    def alive(self) -> bool: ...
    @abstractmethod
    def _kill(self) -> None: ...
    @abstractmethod
    def close(self) -> None: ...


class ModelProcess(_Host):
    """The child serving `handler` ("module:function"), started on the first request; its stderr (llama.cpp's
    messages) goes to `log_path` (nowhere when None), never to the app's terminal."""

    def __init__(self, handler: str, log_path: Path | None = None):
        super().__init__()
        self.handler = handler
        self.log_path = log_path
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue[dict | None] = queue.Queue()
        self._send_lock = threading.Lock()
        atexit.register(self.close)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _ensure_started(self) -> None:
        if self.alive():
            return
        log = open(self.log_path, "ab") if self.log_path else None  # the child's stderr, closed here once it has it
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "llmdeck.core.model_process", self.handler],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log if log is not None else subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
        finally:
            if log is not None:
                log.close()
        lines: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=_read_lines, args=(process, lines), name="model-process-lines", daemon=True).start()
        self._process, self._lines = process, lines

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _send(self, message: dict) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        with self._send_lock:
            try:
                process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the child is gone: the reader sees it and says so

    def _receive(self, timeout_s: float) -> dict | None:
        try:
            return self._lines.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(5)
            _close_pipes(process)

    def close(self) -> None:
        """End the child: close its stdin (it exits on EOF), then kill it if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        _close_pipes(process)
        try:
            process.wait(2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _read_lines(process: subprocess.Popen, lines: queue.Queue[dict | None]) -> None:
    """The parent's reader: each JSON line of the child's stdout onto `lines` (blocked in I/O, not in the GIL)."""
    assert process.stdout is not None  # started with stdout=PIPE
    for line in process.stdout:
        try:
            lines.put(json.loads(line))
        except ValueError:
            continue  # not a protocol line
    lines.put(None)


def _close_pipes(process: subprocess.Popen) -> None:
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                pipe.close()


class InlineHost(_Host):
    """The same protocol served from a thread of this process (messages still round-trip through JSON)."""

    def __init__(self, handler: Handler):
        super().__init__()
        self.handler = handler
        self._inbox: queue.Queue[dict] | None = None
        self._outbox: queue.Queue[dict] = queue.Queue()
        self._thread: threading.Thread | None = None

    def _ensure_started(self) -> None:
        if self.alive():
            return
        inbox: queue.Queue[dict] = queue.Queue()
        self._inbox, self._outbox = inbox, queue.Queue()
        outbox = self._outbox
        self._thread = threading.Thread(
            target=serve,
            args=(self.handler, inbox.get, lambda message: outbox.put(json.loads(json.dumps(message)))),
            name="inline-model-host",
            daemon=True,
        )
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _send(self, message: dict) -> None:
        if self._inbox is not None:
            self._inbox.put(json.loads(json.dumps(message)))

    def _receive(self, timeout_s: float) -> dict | None:
        try:
            return self._outbox.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def _kill(self) -> None:
        self.close()

    def close(self) -> None:
        if self._inbox is not None:
            self._inbox.put({"op": "exit"})
        self._inbox = self._thread = None


if __name__ == "__main__":
    _child_main(sys.argv[1])


class HostSlot:
    """The one host of its kind a process talks to: a `ModelProcess` per LLMDECK_HOME (started on the first
    request; replaced when LLMDECK_HOME changes, as between tests; its stderr to LLMDECK_HOME/`log_name`), or an
    `InlineHost` serving `inline_serve` while `use_inline()` holds (the tests' stand-ins live only in this process).
    `on_new_process` runs when a new process replaces the old one (a cache of its answers is stale then)."""

    def __init__(
        self,
        handler: str,
        inline_serve: Handler,
        log_name: str,
        use_inline: Callable[[], bool],
        on_new_process: Callable[[], None] = lambda: None,
    ):
        self.handler, self.inline_serve, self.log_name = handler, inline_serve, log_name
        self.use_inline, self.on_new_process = use_inline, on_new_process
        self._lock = threading.Lock()
        self._inline: InlineHost | None = None
        self._process: ModelProcess | None = None
        self._home: str | None = None

    def host(self) -> ModelProcess | InlineHost:
        from llmdeck.core import paths

        with self._lock:
            if self.use_inline():
                if self._inline is None:
                    self._inline = InlineHost(self.inline_serve)
                return self._inline
            home = os.environ.get("LLMDECK_HOME", "")
            if self._process is not None and self._home != home:
                self._process.close()
                self._process = None
            if self._process is None:
                self._process = ModelProcess(self.handler, paths.home() / self.log_name)
                self._home = home
                self.on_new_process()
            return self._process

    def close(self) -> None:
        """End the process and the inline host; the next request starts a new one."""
        with self._lock:
            hosts, self._process, self._inline, self._home = (self._process, self._inline), None, None, None
        for host in hosts:
            if host is not None:
                host.close()
