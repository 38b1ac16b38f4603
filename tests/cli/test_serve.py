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
        assert [m["id"] for m in models["data"]] == ["smollm2-135m-instruct", "all-MiniLM-L6-v2"]
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


def stream_answer(port: int, max_tokens: int) -> tuple[str, bool]:
    """One streaming chat completion read to its end: (the text, whether `data: [DONE]` arrived)."""
    body = {
        "model": "smollm2-135m-instruct",
        "stream": True,
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Name three colours."}],
    }
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    text, done = "", False
    with urllib.request.urlopen(req, timeout=120) as response:
        for raw in response:
            line = raw.decode().strip()
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                text += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
    return text, done


def hang_up_mid_stream(port: int) -> bytes:
    """Start a long streaming answer, read its first chunk, and close the connection."""
    body = json.dumps(
        {
            "model": "smollm2-135m-instruct",
            "stream": True,
            "max_tokens": 400,
            "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
        }
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        conn.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"data: " not in received:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
    return received


def test_concurrent_streams_and_a_client_hanging_up_leave_the_server_serving(tmp_path):
    """Three streaming clients at once plus one that disconnects mid-answer: every stream ends with [DONE], and
    the request after them is answered (the model's slot was not leaked by the client that left)."""
    import concurrent.futures

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request(f"http://127.0.0.1:{port}/v1/models")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert b"data: " in hang_up_mid_stream(port)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            left = pool.submit(hang_up_mid_stream, port)
            streams = [pool.submit(stream_answer, port, 16) for _ in range(3)]
            answers = [future.result(timeout=120) for future in streams]
            left.result(timeout=120)
        assert [done for _, done in answers] == [True, True, True]
        assert all(text.strip() for text, _ in answers), answers
        after = request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            {"temperature": 0, "max_tokens": 8, "messages": [{"role": "user", "content": "Say hi."}]},
        )
        assert after["choices"][0]["message"]["content"].strip() and server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
