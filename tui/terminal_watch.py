"""The app leaves when its terminal is gone.

A terminal that closes normally sends SIGHUP, and the app ends. One that goes away without it (an SSH
connection dropped with no hangup, a terminal emulator killed while the app runs in its own session) leaves
stdin at end of file, and Textual's input thread then reads it in a loop at 100% of a core for good
(Textualize/textual#6690). Answers stream in the model process and runs train in their own processes, so
the app has nothing to finish: it exits. The check polls stdin for a hangup without reading from it.
"""

from __future__ import annotations

import select
import sys

CHECK_EVERY_S = 1.0
GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def terminal_gone(fd: int) -> bool:
    """Whether the terminal (or pipe) on `fd` has hung up. Nothing is read from it."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return any(events & GONE for _, events in poller.poll(0))


def watch_terminal(app) -> None:
    """Exit `app` (a Textual App) once its stdin hangs up; headless apps (tests, `--script`) are not watched."""
    if app.is_headless or not sys.__stdin__ or not sys.__stdin__.isatty():
        return
    fd = sys.__stdin__.fileno()

    def check() -> None:
        if terminal_gone(fd):
            app.exit(return_code=1, message="the terminal went away")

    app.set_interval(CHECK_EVERY_S, check, name="terminal watch")
