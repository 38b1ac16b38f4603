"""Tools by name: built-ins, custom tool files and entry points, the python tool's sandbox, http_get."""

import http.server
import threading
from importlib import metadata

import pytest

from llmdeck.agents import tools as tools_module
from llmdeck.agents.tools import DEFAULT_TOOLS, ToolCatalog, ToolSettings
from llmdeck.core.errors import BadInput

CUSTOM = '''
from langchain_core.tools import tool

@tool
def word_count(text: str) -> str:
    """Count the words of a text."""
    return str(len(text.split()))

@tool("calculator")
def fake_calculator(expression: str) -> str:
    """Clashes with the built-in."""
    return "0"
'''


def test_defaults_and_unknown_names(tmp_path):
    catalog = ToolCatalog(settings=ToolSettings(workspace=tmp_path))
    assert [t.name for t in catalog.build()] == list(DEFAULT_TOOLS)
    with pytest.raises(BadInput, match="unknown tool.*nope.*known: calculator"):
        catalog.build(["calculator", "nope"])
    info = {row.name: row for row in catalog.info()}
    assert info["http_get"].default is False and info["calculator"].default is True
    assert info["calculator"].parameters["required"] == ["expression"]
    assert info["files"].parameters["properties"]["operation"]["enum"] == ["list", "read", "grep"]


def test_custom_tools_from_a_file_and_the_user_dir(tmp_path, llmdeck_home):
    file = tmp_path / "my_tools.py"
    file.write_text(CUSTOM)
    (llmdeck_home / "tools").mkdir(parents=True)
    (llmdeck_home / "tools" / "broken.py").write_text("raise RuntimeError('boom')\n")
    catalog = ToolCatalog((file,))
    assert "word_count" in catalog.names()
    assert catalog.build(["word_count"])[0].invoke({"text": "one two three"}) == "3"
    assert any("clashes with a built-in" in w for w in catalog.warnings)
    assert any("broken.py: could not load (RuntimeError: boom)" in w for w in catalog.warnings)
    assert catalog.build(["calculator"])[0].invoke({"expression": "6*7"}) == "42"  # the built-in wins
    with pytest.raises(BadInput, match="no such file"):
        ToolCatalog((tmp_path / "missing.py",))


def test_custom_tools_from_an_entry_point(monkeypatch):
    points = [
        metadata.EntryPoint("shout", "tests.agents.sample_tools:shout", "llmdeck.tools"),
        metadata.EntryPoint("bad", "tests.agents.no_such_module:x", "llmdeck.tools"),
    ]
    monkeypatch.setattr(tools_module.metadata, "entry_points", lambda group: points if group == "llmdeck.tools" else [])
    catalog = ToolCatalog()
    assert catalog.build(["shout"])[0].invoke({"text": "hi"}) == "HI"
    assert [w for w in catalog.warnings if w.startswith("entry point bad")]
    assert {row.name: row.source for row in catalog.info()}["shout"] == "entry point shout"


def test_the_python_tool_runs_in_the_sandbox(monkeypatch):
    monkeypatch.setenv("LLMDECK_SECRET_FOR_TEST", "s3cr3t")
    python = ToolCatalog().build(["python"])[0]
    out = python.invoke({"code": "import os\nprint(6 * 7, 'LLMDECK_SECRET_FOR_TEST' in os.environ)"})
    assert out.splitlines()[0].startswith("exit code 0")
    assert out.splitlines()[1] == "42 False"
    failing = python.invoke({"code": "raise SystemExit(3)"})
    assert failing.startswith("exit code 3")


def test_rag_search_needs_a_collection():
    with pytest.raises(BadInput, match="needs a collection"):
        ToolCatalog().build(["rag_search"])


def test_http_get_reads_a_page_as_text():
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><head><style>p{}</style></head><body><h1>Hi</h1><p>the answer is 42</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        http_get = ToolCatalog().build(["http_get"])[0]
        assert http_get.invoke({"url": f"http://127.0.0.1:{server.server_port}/"}) == "Hi the answer is 42"
        with pytest.raises(ValueError, match="only http"):
            http_get.invoke({"url": "file:///etc/passwd"})
    finally:
        server.shutdown()
