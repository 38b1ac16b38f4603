"""The wheel: built from the checked-in tree (src/llmdeck's symlinks followed), it holds every tracked file of the
packages (modules, package data) under llmdeck/, with llmdeck's __init__.py and py.typed, and nothing else of ours."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # builds a wheel with setuptools (seconds)


TOPS = ("core", "tuning", "rag", "agents", "services", "cli", "tui", "testing")


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name and os.path.lexists(REPO_ROOT / name)]


def tracked_copy(names: list[str], destination: Path) -> Path:
    """The repo's tracked files (symlinks kept as symlinks) copied to `destination`: the tree a fresh clone has."""
    for name in names:
        source, target = REPO_ROOT / name, destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            target.write_bytes(source.read_bytes())
    return destination


def test_the_wheel_holds_every_tracked_file_of_the_packages(tmp_path):
    names = tracked_files()
    tree = tracked_copy(names, tmp_path / "tree")
    script = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    built = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "dist")], cwd=tree, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = zipfile.ZipFile(tmp_path / "dist" / built.stdout.split()[-1])
    in_wheel = set(wheel.namelist())
    ours = {name for name in in_wheel if not name.startswith("llmdeck-")}  # less the .dist-info
    expected = {f"llmdeck/{name}" for name in names if name.split("/")[0] in TOPS}
    assert ours == expected | {"llmdeck/__init__.py", "llmdeck/py.typed"}
    assert {
        "llmdeck/core/store.py",
        "llmdeck/tui/app.tcss",
        "llmdeck/tuning/sample_data/sft_sample.jsonl",
        "llmdeck/agents/task_data/workspace/prices.csv",
    } <= ours
    entry_points = next(name for name in in_wheel if name.endswith(".dist-info/entry_points.txt"))
    assert "llmdeck = llmdeck.cli.__main__:main" in wheel.read(entry_points).decode()
