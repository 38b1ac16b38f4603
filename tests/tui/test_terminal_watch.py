"""The app exits when its terminal goes away without a hangup signal (fast: a small app in a pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from llmdeck.tui.terminal_watch import terminal_gone

APP = """
from textual.app import App
from textual.widgets import Static
from llmdeck.tui.terminal_watch import watch_terminal

class Watched(App):
    def compose(self):
        yield Static("watched app up")

    def on_mount(self):
        if {watch}:
            watch_terminal(self)

Watched().run()
"""


def started_in_a_terminal(watch: bool) -> tuple[subprocess.Popen, int]:
    """The app on a new pseudo-terminal, in its own session (no SIGHUP reaches it), once it has drawn."""
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("TEXTUAL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", APP.format(watch=watch)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 30
    while b"watched app up" not in seen and time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            seen += os.read(master, 65536)
    assert b"watched app up" in seen, seen[-500:]
    return process, master


def test_the_watched_app_exits_when_its_terminal_is_closed_and_textuals_own_does_not():
    watched, master = started_in_a_terminal(watch=True)
    plain, plain_master = started_in_a_terminal(watch=False)
    try:
        os.close(master)
        os.close(plain_master)  # both terminals gone, no SIGHUP: stdin at end of file
        assert watched.wait(timeout=20) == 1
        assert plain.poll() is None  # Textual alone keeps running (its input thread spinning on the EOF)
    finally:
        for process in (watched, plain):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_terminal_gone_reads_nothing_and_sees_a_hangup():
    master, slave = pty.openpty()
    try:
        os.write(master, b"typed\n")  # a whole line: the terminal is in line mode
        assert not terminal_gone(slave)
        assert os.read(slave, 100) == b"typed\n"  # still there for the app's input thread to read
        os.close(master)
        assert terminal_gone(slave)
    finally:
        os.close(slave)
