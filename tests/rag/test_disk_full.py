"""`rag ingest` onto a really full disk (a small tmpfs over LLMDECK_HOME, in a private mount namespace) with real
Chroma: one line naming ENOSPC, the path and the space; the registry and the vectors agree afterwards; queries
return only registered chunks; `llmdeck doctor` finds nothing left to fix once space is free again.

The commands run in one process inside the namespace (click's runner, the CLI's own error handler), so the
embedding model loads once."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.rag.test_kill_consistency import write_docs

pytestmark = pytest.mark.slow

DRIVER = """
import json, os, shutil, sys
from pathlib import Path
from click.testing import CliRunner
from llmdeck.cli.main import cli
from llmdeck.core import paths
from llmdeck.rag import registry
from llmdeck.rag.stores import chroma_client, default_location

kept, more = sys.argv[1], sys.argv[2]
home = paths.home()
out = {}

def run(*args):
    result = CliRunner().invoke(cli, list(args))
    return {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}

def counts():
    client = chroma_client(default_location("chroma"), changed_at=float("inf"))  # a fresh client: what is on disk
    conn = registry.connect()
    return {
        "stored": {c.name: client.get_collection(c.name).count() for c in client.list_collections()},
        "registered": {r.name: registry.counts(conn, r.name)[1] for r in registry.all_records(conn)},
    }

assert run("rag", "ingest", kept, "--collection", "kept")["code"] == 0
fillers = []

def fill():  # top the disk up to 200 KB free (a failed ingest's rollback frees what it had written)
    filler = home / f"filler{len(fillers)}"
    with open(filler, "wb") as handle:
        handle.write(b"\\0" * max(0, shutil.disk_usage(home).free - 200 * 1024))
    fillers.append(filler)

fill()
out["new"] = run("rag", "ingest", more, "--collection", "full")
fill()
out["existing"] = run("rag", "ingest", more, "--collection", "kept")
out["full"] = counts()
out["query"] = run("rag", "query", "fact 3-1 about topic 3", "--collection", "kept", "-k", "5", "--json")
for filler in fillers:
    filler.unlink()
out["doctor"] = run("doctor", "--json")
out["freed"] = counts()
print(json.dumps(out))
"""


def test_ingest_onto_a_full_disk_names_enospc_and_leaves_registry_equal_to_vectors(tmp_path, llmdeck_home):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a private tmpfs")
    kept = write_docs(tmp_path / "kept", 2)
    more = write_docs(tmp_path / "more", 30)  # ~90 chunks: far more than 200 KB of vectors, index and log
    llmdeck_home.mkdir(parents=True, exist_ok=True)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    script = (
        f"mount -t tmpfs -o size=24m tmpfs {shlex.quote(str(llmdeck_home))} || exit 99; "
        f"exec {shlex.quote(sys.executable)} {driver} {kept} {more}"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=240, env=dict(os.environ)
    )
    if result.returncode == 99:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()[-200:]}")
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)

    chroma_dir = llmdeck_home / "vectors" / "chroma"
    for attempt in (out["new"], out["existing"]):
        assert attempt["code"] == 1
        [line] = attempt["stderr"].splitlines()  # one line, no warning, no traceback, no "InternalError"
        assert line.startswith(f"error: no space left on device writing {chroma_dir} (")
        assert " free there; about " in line and " needed); free some space and try again" in line
    # the failed new collection is not registered and not stored; the existing one lost nothing and gained nothing
    assert out["full"]["registered"] == {"kept": 6}
    assert "full" not in out["full"]["stored"]
    assert out["query"]["code"] == 0
    sources = {hit["source"] for hit in json.loads(out["query"]["stdout"])}
    assert sources and sources <= {str(kept / "doc000.md"), str(kept / "doc001.md")}

    assert out["doctor"]["code"] == 0, out["doctor"]
    assert json.loads(out["doctor"]["stdout"])["findings"] == []
    assert out["freed"] == {"stored": {"kept": 6}, "registered": {"kept": 6}}
