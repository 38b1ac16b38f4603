"""Headless modules never import Textual; `llmdeck --help` imports no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HEADLESS_PACKAGES = ["core", "tuning", "rag", "agents"]
HEAVY = ["torch", "transformers", "langchain", "langchain_core", "chromadb", "autogen_agentchat", "autogen_core", "llama_cpp", "trl", "peft", "datasets", "textual"]


def headless_modules() -> list[str]:
    modules = []
    for package in HEADLESS_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).with_suffix("")
            parts = list(relative.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.append(".".join(parts))
    return modules


def loaded_after(code: str) -> set[str]:
    script = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("module", headless_modules())
def test_headless_module_does_not_import_textual(module):
    assert "textual" not in loaded_after(f"import {module}")


def test_cli_help_imports_no_heavy_library():
    script = "import sys\nfrom tui.cli import cli\ntry:\n    cli(['--help'], prog_name='llmdeck')\nexcept SystemExit:\n    pass"
    loaded = loaded_after(script)
    assert not [name for name in HEAVY if name in loaded]


def test_nothing_outside_tui_imports_tui():
    offenders = []
    for package in HEADLESS_PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            text = path.read_text()
            if "import tui" in text or "from tui" in text or "textual" in text.replace("# ", ""):
                offenders.append(str(path))
    assert offenders == []


def test_core_imports_nothing_of_ours():
    ours = ("tuning", "rag", "agents", "tui")
    offenders = [
        str(path)
        for path in (REPO_ROOT / "core").rglob("*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith(tuple(f"{kw} {pkg}" for kw in ("import", "from") for pkg in ours))
    ]
    assert offenders == []
