"""`llmdeck serve` answers OpenAI-style requests on loopback with the embedded model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, body: dict | None = None, key: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def http_error(url: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    try:
        request(url, body, key)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    raise AssertionError(f"{url} answered without an error")


def test_serve_openai_compatible_chat(tmp_path):
    port = free_port()
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "--port", str(port), "--api-key-file", str(key_file)],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                models = request(f"{base}/models", key="s3cret")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert [m["id"] for m in models["data"]] == ["smollm2-135m-instruct"]
        question = {
            "temperature": 0,
            "max_tokens": 12,
            "messages": [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        }
        answer = request(f"{base}/chat/completions", {"model": "smollm2-135m-instruct", **question}, key="s3cret")
        assert "Paris" in answer["choices"][0]["message"]["content"]
        assert answer["usage"]["completion_tokens"] > 0
        status, error = http_error(f"{base}/chat/completions", {"model": "gpt-4o", **question}, key="s3cret")
        assert status == 404 and error["error"]["code"] == "model_not_found" and "gpt-4o" in error["error"]["message"]
        assert http_error(f"{base}/chat/completions", {"model": "smollm2-135m-instruct", **question})[0] == 401
        assert http_error(f"{base}/models", key="wrong")[0] == 401
        # a second server on the same port: one line, exit 1, nothing announced
        busy = subprocess.run(
            [sys.executable, "-m", "llmdeck.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert busy.returncode == 1 and busy.stderr.strip().splitlines() == [
            f"error: cannot serve on 127.0.0.1:{port}: the port is in use"
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_serve(tmp_path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llmdeck.cli", "serve", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_serve_refuses_bad_input_before_announcing(tmp_path, truncated_gguf):
    for args, needle in [
        (["--port", "70000"], "--port 70000: expected 1-65535"),
        (["--port", "0"], "expected 1-65535"),
        (["--model", "ghost"], "'ghost' is not in the store"),
        (["--model", str(truncated_gguf)], "truncated"),
        (["--api-key-file", str(tmp_path / "missing")], "no such API key file"),
    ]:
        result = run_serve(tmp_path, *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, result.stderr)
        assert "serving" not in result.stderr and "Traceback" not in result.stderr


def test_serve_on_all_interfaces_without_a_key_warns(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "LLMDECK_API_KEY"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = server.stderr.readline()
        assert first.startswith("WARNING: serving on 0.0.0.0 without an API key")
    finally:
        server.terminate()
        server.wait(timeout=30)
