"""`llmdeck doctor` on a home with planted leftovers: what a killed export, quantize and write left, a lock a
killed holder kept, a model file the store does not list and a store entry whose file is gone."""

from __future__ import annotations

import json
import os
import time

from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core import paths
from llmdeck.core.store import ModelStore

DEAD = "1-1"  # pid 1 did not start at tick 1: a dead owner whose pid is in use


def plant() -> dict[str, int]:
    """Leftovers of each kind; path -> size in bytes."""
    home, models = paths.home(), paths.models_dir()
    ModelStore().conn.execute(  # before the temporaries: opening the store reclaims those of dead owners
        "INSERT INTO models (name, path, architecture, parameter_count, file_type, size_bytes, has_chat_template,"
        " copied, created_at) VALUES ('gone', ?, 'llama', 1, 'Q4_1', 10, 0, 1, 0)",
        (str(models / "gone.gguf"),),
    )
    run_dir = paths.runs_dir() / "20260101-000000-abcdef"
    (run_dir / f".export-{DEAD}-3fa9c0d1" / "hf").mkdir(parents=True)
    planted = {
        str(models / f".export-{DEAD}-mine.q4_k_m.gguf"): 2048,
        str(models / f".quantize-{DEAD}-mine.q8_0.gguf"): 512,
        str(run_dir / f".export-{DEAD}-3fa9c0d1"): 3000,
        str(home / f".config.toml.{DEAD}-k2j4_x9q.tmp"): 10,
        str(models / ".old.gguf.export-tmp"): 700,  # an older llmdeck's, two hours old
        str(models / "stray.gguf"): 300,
    }
    for path, size in planted.items():
        target = run_dir / f".export-{DEAD}-3fa9c0d1" / "hf" / "model.safetensors" if path.endswith("c0d1") else path
        with open(target, "wb") as handle:
            handle.write(b"x" * size)
    old = time.time() - 7200
    os.utime(models / ".old.gguf.export-tmp", (old, old))
    (home / "locks").mkdir()
    (home / "locks" / "collection-docs.lock").write_text("4194304")  # a pid; nobody holds the lock
    (home / "locks" / "collection-free.lock").write_text("")  # released cleanly: not a finding
    return planted


def doctor(*args: str):
    result = CliRunner().invoke(cli, ["doctor", *args])
    return result.exit_code, result.stdout, result.stderr


def test_doctor_lists_every_kind_with_sizes_then_fix_reclaims_them():
    planted = plant()
    code, out, _ = doctor("--json")
    assert code == 1
    report = json.loads(out)
    found = {(f["kind"], f["path"], f["size_bytes"], f["fixed"]) for f in report["findings"]}
    home = paths.home()
    assert found == {
        *(("temporary", path, size, False) for path, size in planted.items() if not path.endswith("stray.gguf")),
        ("unregistered model file", str(paths.models_dir() / "stray.gguf"), 300, False),
        ("stale lock", str(home / "locks" / "collection-docs.lock"), 7, False),
        ("missing model file", str(paths.models_dir() / "gone.gguf"), 0, False),
    }
    assert report["reclaimed_bytes"] == 0 and not report["healthy"]
    assert all(os.path.exists(path) for path in planted)  # listing removes nothing

    code, out, _ = doctor("--fix", "--json")
    report = json.loads(out)
    assert code == 0 and report["healthy"] and report["errors"] == []
    assert report["reclaimed_bytes"] == sum(planted.values()) + 7
    assert not any(os.path.exists(path) for path in planted)
    assert not (home / "locks" / "collection-docs.lock").exists() and (home / "locks" / "collection-free.lock").exists()
    assert not ModelStore().exists("gone")

    code, _, err = doctor()
    assert code == 0 and err == f"{home}: nothing to fix\n"


def test_doctor_human_output_names_the_owner_and_the_total():
    planted = plant()
    code, out, err = doctor()
    assert code == 1
    assert "left by a killed export (pid 1, not running)" in out
    assert "from an older llmdeck, over an hour old" in out
    assert err.splitlines()[-1] == "8 to fix (6.4 KB); run `llmdeck doctor --fix`"
    code, out, err = doctor("--fix")
    assert code == 0 and err.splitlines()[-1] == "fixed 8 of 8; reclaimed 6.4 KB"
    assert out.count("fixed") == 8
    assert sum(planted.values()) + 7 == 6577


def test_a_live_owners_temporaries_and_a_held_lock_are_not_findings():
    from llmdeck.core import locks, procs

    (paths.models_dir() / procs.owned_name("export", "busy.gguf")).write_bytes(b"x")
    with locks.exclusive("collection", "busy"):
        code, out, _ = doctor("--json")
    assert code == 0 and json.loads(out)["findings"] == []
