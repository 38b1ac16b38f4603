"""A full disk wherever it strikes is one line naming where and the free space there, exit 1, nothing half-written.

The faults are injected below our code: the kernel's copy call failing with ENOSPC at its Nth write, and a
real SQLite database that cannot grow (`PRAGMA max_page_count`, which fails writes with SQLITE_FULL)."""

from __future__ import annotations

import errno
import os
import sqlite3

from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core import db, paths
from llmdeck.core import store as model_store
from llmdeck.core.diskspace import is_disk_full
from llmdeck.core.store import ModelStore


def enospc_at_write(monkeypatch, n: int) -> list[int]:
    """`os.sendfile` (what shutil copies with) writes normally n-1 times, then fails as a full disk does."""
    real, calls = os.sendfile, []

    def sendfile(out_fd, in_fd, offset, count):
        calls.append(count)
        if len(calls) >= n:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(out_fd, in_fd, offset, min(count, 1024 * 1024))

    monkeypatch.setattr(os, "sendfile", sendfile)
    return calls


def test_enospc_while_copying_a_model_into_the_store(monkeypatch, embedded_gguf):
    ModelStore()
    calls = enospc_at_write(monkeypatch, 3)
    result = CliRunner().invoke(cli, ["models", "import", str(embedded_gguf), "--copy", "--name", "big"])
    assert len(calls) == 3  # two writes went through: a half-written file existed
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: no space left on device writing {paths.models_dir()} (")
    assert " free there); free some space and try again" in line
    assert list(paths.models_dir().iterdir()) == []  # the half-written copy is gone
    assert not ModelStore().exists("big")


def test_a_database_that_cannot_grow_names_the_database(embedded_gguf):
    conn = db.connection(model_store.COMPONENT, model_store.MIGRATIONS)
    ModelStore()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    try:
        try:  # fill the last page: the next row needs a new one
            for index in range(1000):
                conn.execute(
                    "INSERT INTO models (name, path, architecture, parameter_count, file_type, size_bytes,"
                    " has_chat_template, created_at) VALUES (?, ?, 'llama', 1, 'Q4_1', 1, 0, 0)",
                    (f"filler-{index}", "x" * 200),
                )
        except sqlite3.OperationalError as exc:
            assert is_disk_full(exc)
        result = CliRunner().invoke(cli, ["models", "import", str(embedded_gguf), "--name", "one-more"])
    finally:
        conn.execute("PRAGMA max_page_count = 1073741823")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: no space left on device writing {paths.db_path()} (")
    assert not ModelStore().exists("one-more")


def test_other_write_errors_are_not_called_a_full_disk(tmp_path):
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied", str(tmp_path)), tmp_path)
    assert not is_disk_full(RuntimeError("Error in compaction"), tmp_path)  # plenty of space there
    assert is_disk_full(RuntimeError("Error in compaction: No space left on device (os error 28)"), tmp_path)
