"""`llmdeck serve` answers OpenAI-style requests on loopback with the embedded model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def test_serve_openai_compatible_chat(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                models = request(f"{base}/models")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert [m["id"] for m in models["data"]] == ["smollm2-135m-instruct"]
        answer = request(f"{base}/chat/completions", {
            "model": "smollm2-135m-instruct", "temperature": 0, "max_tokens": 12,
            "messages": [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        })
        assert "Paris" in answer["choices"][0]["message"]["content"]
        assert answer["usage"]["completion_tokens"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
