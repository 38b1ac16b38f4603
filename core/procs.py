"""Process hygiene: children that die with their parent, temporaries named after their owner, SIGTERM cleanup.

Every place that starts a child which writes or runs for long (export's converter and quantizer, the sandbox)
starts it with `spawn`, which asks Linux to SIGKILL the child when its parent dies (`PR_SET_PDEATHSIG`): a
`kill -9` of llmdeck never leaves a quantizer writing. A temporary carries its owner's pid and process start
time (`/proc/PID/stat` field 22) in its name, `owned_name(...)`, so the next command can tell a dead owner's
leftovers (pid gone, or reused by another process) from a live one's (see `core/leftovers.py`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

PR_SET_PDEATHSIG = 1
_libc: Any = None


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a command held temporaries: raised in the main thread so `finally` blocks clean up.

    A KeyboardInterrupt, so every handler that already stops a child or removes a file on Ctrl-C does so here."""


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name (field 2) may hold spaces and ')'
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has ended; only its exit status is left
        return None
    return int(fields[19])  # fields[0] is field 3 (state): field 22 is fields[19]


def owner_tag(pid: int | None = None) -> str:
    """`PID-STARTTIME` of this process (or `pid`): what the names of its temporaries carry."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{start_time(pid) or 0}"


def owned_name(kind: str, label: str) -> str:
    """A temporary's name: `.KIND-PID-START-LABEL` (e.g. `.export-1234-98765-3fa9c0d1`)."""
    return f".{kind}-{owner_tag()}-{label}"


def owner_alive(pid: int, started: int) -> bool:
    """True while the process that wrote `pid`/`started` into a name is still running (not a reused pid)."""
    return pid == os.getpid() or start_time(pid) == started


def _prctl():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc.prctl


def _die_with(parent_pid: int, prctl) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec: nothing here may allocate much
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the request was made
            os._exit(137)

    return preexec


def exit_with_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """A pool worker's initializer: end this process once `parent_pid` is gone (a `kill -9` of llmdeck, or a
    SIGTERM it had no handler for), instead of staying behind with a model loaded. Polled from a daemon thread,
    not `PR_SET_PDEATHSIG`: that follows the parent *thread* that started the worker, and a kept pool outlives
    the thread (the app's worker) whose sweep first started it."""
    if os.getppid() != parent_pid:  # the parent died while this one started
        os._exit(137)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(137)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def spawn(command: list[str], **popen_args) -> subprocess.Popen:
    """`subprocess.Popen(command, **popen_args)`, the child SIGKILLed by Linux when its parent dies.

    Linux sends the signal when the *thread* that forked ends, so start with `spawn` only children that the
    calling function waits for (a stage's converter, a sandboxed run), not ones that outlive a worker thread.
    """
    popen_args["preexec_fn"] = _die_with(os.getpid(), _prctl())
    return subprocess.Popen(command, **popen_args)


def run(command: list[str], **run_args) -> subprocess.CompletedProcess:
    """`subprocess.run` through `spawn` (the child dies with its parent)."""
    with spawn(command, **{k: v for k, v in run_args.items() if k not in ("input", "timeout", "check")}) as process:
        try:
            out, err = process.communicate(run_args.get("input"), timeout=run_args.get("timeout"))
        except BaseException:
            process.kill()
            process.wait()
            raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@contextlib.contextmanager
def cleanup_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` for the block (main thread only; elsewhere a no-op), so the block's own
    `finally` clauses remove its temporaries and stop its children before the process exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise Terminated()

    hook = sys.unraisablehook

    def rearm(unraisable) -> None:
        # A handler that runs inside a finalizer (`__del__`, a weakref callback: the GC runs them anywhere)
        # raises where Python can only print and drop the exception, and the command went on to finish.
        # Send the signal again, a moment later from a timer thread (sent at once, the handler would run still
        # inside this hook): the handler then runs in the main thread after the finalizer has returned.
        if isinstance(unraisable.exc_value, Terminated):
            again = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM))
            again.daemon = True
            again.start()
        else:
            hook(unraisable)

    previous = signal.signal(signal.SIGTERM, terminated)
    sys.unraisablehook = rearm
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook
