"""Models from the hub or a URL: offline refusal in one line, and real downloads (huggingface_hub and plain HTTP,
with resume) against a small hub emulator on loopback. Tests never touch the network."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubEmulator:
    """Serves one GGUF as `owner/repo` (resolve + tree API) and as a plain URL; honours Range requests.

    `drop_first_get`: the first full GET sends half the body and closes the connection (an interrupted download).
    """

    def __init__(self, payload: bytes, filename: str = "tiny.Q4_1.gguf", drop_first_get: bool = False):
        self.payload, self.filename, self.drop_first_get = payload, filename, drop_first_get
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                emulator.handle(self, body=False)

            def do_GET(self):
                emulator.handle(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, request: BaseHTTPRequestHandler, body: bool) -> None:
        path = request.path.split("?", 1)[0]
        self.requests.append((request.command, path, request.headers.get("Range")))
        if re.fullmatch(r"/api/models/owner/repo/tree/[^/]+", path):
            listing = json.dumps(
                [
                    {"type": "file", "path": self.filename, "size": len(self.payload), "oid": "1"},
                    {"type": "file", "path": "README.md", "size": 10, "oid": "2"},
                ]
            ).encode()
            return self.reply(request, 200, listing, {"Content-Type": "application/json"}, body)
        if path in (f"/owner/repo/resolve/main/{self.filename}", f"/files/{self.filename}"):
            return self.serve_file(request, body)
        self.reply(
            request,
            404,
            b'{"error": "not found"}',
            {"Content-Type": "application/json", "X-Error-Code": "EntryNotFound"},
            body,
        )

    def serve_file(self, request, body: bool) -> None:
        headers = {
            "ETag": f'"{hashlib.sha256(self.payload).hexdigest()}"',
            "X-Repo-Commit": COMMIT,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        match = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range") or "")
        start = int(match.group(1)) if match else 0
        data = self.payload[start:]
        status = 206 if match else 200
        if match:
            headers["Content-Range"] = f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}"
        if body and not match and self.drop_first_get:
            self.drop_first_get = False
            request.send_response(200)
            for key, value in {**headers, "Content-Length": str(len(data))}.items():
                request.send_header(key, value)
            request.end_headers()
            request.wfile.write(data[: len(data) // 2])
            request.wfile.flush()
            request.close_connection = True
            return
        self.reply(request, status, data, headers, body)

    @staticmethod
    def reply(request, status: int, data: bytes, headers: dict, body: bool) -> None:
        request.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            request.send_header(key, value)
        request.end_headers()
        if body:
            request.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    "spec",
    [
        "owner/repo",
        "owner/repo:tiny.Q4_1.gguf",
        "https://huggingface.co/owner/repo/resolve/main/x.gguf",
        "http://127.0.0.1:9/files/model.gguf",
    ],
)
def test_offline_download_is_one_line(spec, llmdeck_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for args in (["models", "import", spec], ["chat", "--model", spec, "hi"], ["complete", spec, "hi"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.output.count("\n") == 1 and "HF_HUB_OFFLINE" in result.output
    assert not (llmdeck_home / "models").exists() or not any((llmdeck_home / "models").rglob("*.gguf"))


@pytest.fixture
def payload(embedded_gguf) -> bytes:
    return embedded_gguf.read_bytes()


def online_env(emulator: HubEmulator) -> dict:
    return {
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_ENDPOINT": emulator.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_ETAG_TIMEOUT": "5",
        "HF_HUB_DOWNLOAD_TIMEOUT": "10",
        "TQDM_POSITION": "-1",
    }  # progress bars even though stderr is not a terminal here


@pytest.mark.slow
def test_hub_download_with_interruption_resumes_and_registers_once(cli, payload, llmdeck_home):
    emulator = HubEmulator(payload, drop_first_get=True)
    try:
        result = cli("models", "import", "owner/repo", "--json", env=online_env(emulator))  # the repo's one .gguf
        assert result.returncode == 0, result.stderr
        entry = json.loads(result.stdout)
        assert entry["name"] == "tiny.q4_1" and entry["architecture"] == "llama"
        assert hashlib.sha256(open(entry["path"], "rb").read()).digest() == hashlib.sha256(payload).digest()
        assert entry["path"].startswith(str(llmdeck_home / "models" / "hub"))
        ranges = [r for method, path, r in emulator.requests if method == "GET" and path.endswith(".gguf") and r]
        resumed_at = int(ranges[0].removeprefix("bytes=").rstrip("-")) if ranges else 0
        assert 0 < resumed_at <= len(payload) // 2  # the cut download resumed from what it had, not from 0
        assert "tiny.Q4_1.gguf" in result.stderr  # progress on stderr
        served = len(emulator.requests)
        again = cli(
            "chat",
            "--model",
            "owner/repo:tiny.Q4_1.gguf",
            "What is 2 + 2?",
            "--max-tokens",
            "4",
            "--temperature",
            "0",
            env=online_env(emulator),
        )
        assert again.returncode == 0, again.stderr
        assert len(emulator.requests) == served  # already in the store: no request at all
        listed = json.loads(cli("models", "list", "--json").stdout)
        assert [e["name"] for e in listed].count("tiny.q4_1") == 1
        missing = cli("models", "import", "owner/repo:other.gguf", env=online_env(emulator))
        assert missing.returncode in (1, 2) and missing.stderr.count("\n") == 1 and "other.gguf" in missing.stderr
    finally:
        emulator.close()


@pytest.mark.slow
def test_url_download_resumes_a_partial_file(cli, payload, llmdeck_home):
    emulator = HubEmulator(payload)
    try:
        partial = llmdeck_home / "models" / "downloads" / "tiny.Q4_1.gguf.part"
        partial.parent.mkdir(parents=True)
        partial.write_bytes(payload[:1_000_000])  # left by an interrupted run
        url = f"{emulator.url}/files/tiny.Q4_1.gguf"
        result = cli("models", "import", url, "--name", "from-url", "--json", env=online_env(emulator))
        assert result.returncode == 0, result.stderr
        entry = json.loads(result.stdout)
        assert entry["name"] == "from-url" and open(entry["path"], "rb").read() == payload
        assert ("GET", "/files/tiny.Q4_1.gguf", "bytes=1000000-") in emulator.requests and not partial.exists()
        unreachable = cli("models", "import", "http://127.0.0.1:9/files/x.gguf", env=online_env(emulator))
        assert (
            unreachable.returncode == 1
            and unreachable.stderr.count("\n") == 1
            and "cannot download" in unreachable.stderr
        )
    finally:
        emulator.close()
