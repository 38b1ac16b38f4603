"""The installed namespace and the layers: import-linter's contracts hold, every package is installed,
`llmdeck` imports from any directory through a plain sys.path entry (so mypy and editors resolve it too),
and `llmdeck --help` imports no heavy library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY = [
    "torch",
    "transformers",
    "langchain",
    "langchain_core",
    "chromadb",
    "autogen_agentchat",
    "autogen_core",
    "llama_cpp",
    "trl",
    "peft",
    "datasets",
    "textual",
]


def loaded_after(code: str, cwd: Path) -> set[str]:
    script = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_linter_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    result = subprocess.run([lint], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def package_folders() -> set[Path]:
    """The product's package folders (relative to the repo), found by their __init__.py."""
    folders = set()
    for path in REPO_ROOT.glob("*/**/__init__.py"):
        top = path.relative_to(REPO_ROOT).parts[0]
        if top not in ("tests", "bench", "build", "src") and not top.startswith("."):
            folders.add(path.parent.relative_to(REPO_ROOT))
    return folders


def test_every_package_folder_is_found_under_llmdeck():
    """setuptools' package discovery (pyproject's packages.find over src/) finds every package folder."""
    from setuptools import find_packages

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"": "src"} and config["packages"]["find"]["where"] == ["src"]
    found = find_packages(str(REPO_ROOT / "src"), include=config["packages"]["find"]["include"])
    assert set(found) == {"llmdeck"} | {"llmdeck." + ".".join(folder.parts) for folder in package_folders()}


def test_src_llmdeck_links_each_top_level_folder():
    """src/llmdeck/<top> is a relative symlink to the top-level folder <top>; beside them only the package's
    __init__.py and py.typed."""
    tops = {folder.parts[0] for folder in package_folders()}
    entries = {entry.name: entry for entry in (REPO_ROOT / "src" / "llmdeck").iterdir() if entry.name != "__pycache__"}
    links = {name: entry for name, entry in entries.items() if entry.is_symlink()}
    assert set(links) == tops and set(entries) - set(links) == {"__init__.py", "py.typed"}
    for top, link in links.items():
        assert os.readlink(link) == f"../../{top}" and link.resolve() == REPO_ROOT / top


def test_the_install_is_a_plain_path_that_static_tools_follow(tmp_path):
    """A sys.path entry holds llmdeck/core/__init__.py as a file: no import hook, so mypy and editors find it."""
    script = (
        "import os, sys, json; print(json.dumps([p for p in sys.path if p and "
        "os.path.isfile(os.path.join(p, 'llmdeck', 'core', '__init__.py'))]))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert [Path(entry).resolve() for entry in json.loads(out.stdout)] == [REPO_ROOT / "src"]
    assert (REPO_ROOT / "src" / "llmdeck" / "py.typed").is_file()  # mypy checks an installed package with it


@pytest.mark.slow  # a mypy run (seconds); `make lint` runs mypy through the same install every time
def test_mypy_resolves_the_namespace_from_any_directory(tmp_path):
    """mypy, run outside the repo with no config, finds llmdeck.core.store (no "Cannot find implementation or
    library stub") and sees its real types, not Any."""
    probe = tmp_path / "probe.py"
    probe.write_text("from llmdeck.core.store import ModelStore\nreveal_type(ModelStore.resolve)\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file=",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(probe),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Revealed type is "def (self: llmdeck.core.store.ModelStore' in result.stdout, result.stdout


def test_the_namespace_imports_from_any_directory(tmp_path):
    loaded = loaded_after("import llmdeck.agents, llmdeck.core.store, llmdeck.cli.main", cwd=tmp_path)
    assert {"llmdeck.agents", "llmdeck.cli.main"} <= loaded
    assert not {"core", "agents", "tui", "cli", "rag", "tuning"} & loaded  # nothing top-level of ours


def test_cli_help_imports_no_heavy_library(tmp_path):
    script = (
        "from llmdeck.cli.main import cli\ntry:\n    cli(['--help'], prog_name='llmdeck')\nexcept SystemExit:\n    pass"
    )
    loaded = loaded_after(script, cwd=tmp_path)
    assert not [name for name in HEAVY if name in loaded]


def test_the_console_script_runs_outside_the_repo(tmp_path):
    script = Path(sys.executable).parent / "llmdeck"
    result = subprocess.run(
        [str(script), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "LLMDECK_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0 and "Usage: llmdeck" in result.stdout


NEVER_ON_A_COLD_QUERY = [
    "torch",
    "transformers",
    "sentence_transformers",
    "peft",
    "bitsandbytes",
    "langchain",
    "langchain_core",
    "langchain_chroma",
    "langchain_huggingface",
    "langchain_text_splitters",
    "bm25s",
    "scipy",
]


@pytest.mark.slow  # an ingest and a query, each in a fresh process (a few seconds)
def test_a_cold_rag_query_imports_no_heavy_library(tmp_path):
    """`llmdeck rag query` in a fresh process finds the chunk with our numpy encoder, the saved BM25 matrix and
    Chroma alone: none of the training stack (seconds of imports), nor LangChain or bm25s (scipy): ~0.2 s each."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keys.md").write_text("# Keys\n\nRotate the API keys every ninety days and revoke the old ones.\n")
    env = {**os.environ, "LLMDECK_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    ingest = [sys.executable, "-m", "llmdeck.cli", "rag", "ingest", str(docs), "--collection", "keys"]
    subprocess.run(ingest, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    query = ["rag", "query", "--collection", "keys", "how often are keys rotated?", "--json"]
    script = (
        f"import json, sys\nfrom llmdeck.cli.main import cli\ntry:\n    cli({query!r}, prog_name='llmdeck')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    *answer, modules = out.stdout.splitlines()
    assert [row["source"].endswith("keys.md") for row in json.loads("\n".join(answer))] == [True]
    loaded = {name.split(".")[0] for name in json.loads(modules)}
    assert {"chromadb", "llmdeck"} <= loaded  # the query ran through the store
    assert not loaded & set(NEVER_ON_A_COLD_QUERY), sorted(loaded & set(NEVER_ON_A_COLD_QUERY))
