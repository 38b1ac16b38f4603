"""`tensorboard --logdir $LLMDECK_HOME/runs` (the README's command) starts in this environment and serves the runs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tensorboard_serves_the_runs_directory(llmdeck_home, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    events = llmdeck_home / "runs" / "20260101-000000-abcdef" / "tensorboard"
    writer = SummaryWriter(str(events))
    for step in range(3):
        writer.add_scalar("train/loss", 3.0 - step, step)
    writer.close()
    port = free_port()
    script = shutil.which("tensorboard", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-c", "from tensorboard.main import run_main; run_main()"]
    server = subprocess.Popen(
        [*command, "--logdir", str(llmdeck_home / "runs"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline, page = time.time() + 90, None
        while time.time() < deadline and server.poll() is None:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert page is not None, server.stdout.read() if server.poll() is not None else "no answer"
        assert "<tf-tensorboard" in page or "TensorBoard" in page
        deadline = time.time() + 60
        while time.time() < deadline:
            run_names = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=5).read())
            if run_names:
                break
            time.sleep(0.5)
        assert run_names == ["20260101-000000-abcdef/tensorboard"]
    finally:
        server.terminate()
        server.wait(timeout=30)
