"""`llmdeck` in a real terminal (tmux): the first screen appears, F2/F3 switch screens, ctrl+q quits with exit
code 0. Run on the real entry point in a subprocess (slow tier)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30).stdout


def wait_for_screen(socket: str, *texts: str, timeout_s: float = 60) -> str:
    """The terminal's text once every one of `texts` is on it (a frame may be caught half drawn: wait for all)."""
    deadline = time.monotonic() + timeout_s
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", "app")
        if all(text in screen for text in texts):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{texts!r} never all appeared; the screen was:\n{screen}")


def test_llmdeck_opens_switches_screens_and_quits_cleanly(tmp_path):
    socket = f"llmdeck-test-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit-code"
    command = f"cd {tmp_path} && {sys.executable} -m llmdeck.cli; echo $? > {exit_file}; sleep 30"
    env = ["-e", f"LLMDECK_HOME={os.environ['LLMDECK_HOME']}", "-e", "TERM=xterm-256color"]
    tmux(socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", *env, command)
    try:
        wait_for_screen(socket, "model: smollm2-135m-instruct", "Sessions", "New chat")  # the chat screen, its keys
        tmux(socket, "send-keys", "-t", "app", "F2")
        wait_for_screen(socket, "Chat template", "smollm2-135m-instruct", "Import GGUF")
        tmux(socket, "send-keys", "-t", "app", "F3")
        wait_for_screen(socket, "New run")
        tmux(socket, "send-keys", "-t", "app", "F4")
        wait_for_screen(socket, "Run agent", "Tools (space toggles)", "calculator")
        tmux(socket, "send-keys", "-t", "app", "F5")
        wait_for_screen(socket, "Run verification", "Expected output", "Past runs")
        tmux(socket, "send-keys", "-t", "app", "C-q")
        deadline = time.monotonic() + 20
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.exists(), "the app did not exit after ctrl+q"
        assert exit_file.read_text().strip() == "0"
        assert "Traceback" not in tmux(socket, "capture-pane", "-p", "-t", "app")
    finally:
        tmux(socket, "kill-server")
