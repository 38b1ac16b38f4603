"""The installed namespace and the layers: import-linter's contracts hold, every package is installed,
`llmdeck` imports from any directory, and `llmdeck --help` imports no heavy library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformers", "langchain", "langchain_core", "chromadb", "autogen_agentchat", "autogen_core",
         "llama_cpp", "trl", "peft", "datasets", "textual"]


def loaded_after(code: str, cwd: Path) -> set[str]:
    script = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_linter_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    result = subprocess.run([lint], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_every_package_folder_is_installed_under_llmdeck():
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    folders = set()
    for path in REPO_ROOT.glob("*/**/__init__.py"):
        top = path.relative_to(REPO_ROOT).parts[0]
        if top not in ("tests", "bench", "build") and not top.startswith("."):
            folders.add(path.parent.relative_to(REPO_ROOT))
    assert {"llmdeck." + ".".join(folder.parts) for folder in folders} == declared
    tops = {folder.parts[0] for folder in folders}
    assert config["package-dir"] == {f"llmdeck.{top}": top for top in tops}


def test_the_namespace_imports_from_any_directory(tmp_path):
    loaded = loaded_after("import llmdeck.agents, llmdeck.core.store, llmdeck.cli.main", cwd=tmp_path)
    assert {"llmdeck.agents", "llmdeck.cli.main"} <= loaded
    assert not {"core", "agents", "tui", "cli", "rag", "tuning"} & loaded  # nothing top-level of ours


def test_cli_help_imports_no_heavy_library(tmp_path):
    script = "from llmdeck.cli.main import cli\ntry:\n    cli(['--help'], prog_name='llmdeck')\nexcept SystemExit:\n    pass"
    loaded = loaded_after(script, cwd=tmp_path)
    assert not [name for name in HEAVY if name in loaded]


def test_the_console_script_runs_outside_the_repo(tmp_path):
    script = Path(sys.executable).parent / "llmdeck"
    result = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "LLMDECK_HOME": str(tmp_path / "home")})
    assert result.returncode == 0 and "Usage: llmdeck" in result.stdout
