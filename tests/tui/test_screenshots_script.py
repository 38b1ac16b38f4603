"""docs/screenshots.py (`make screenshots`) takes a shot of the real app headless, into a temporary LLMDECK_HOME:
one screen that needs no model, so the script's set-up (the seeded runs, the settings) and its output are checked."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "screenshots.py"


@pytest.mark.slow  # a fresh interpreter starting the app: seconds on a loaded 2-core machine
def test_the_script_writes_one_screen_as_svg_and_leaves_the_home_alone(tmp_path):
    home = Path(os.environ["LLMDECK_HOME"])
    before = sorted(home.rglob("*"))  # the test's own home: the script must make and use another
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "verify", "--out", str(tmp_path / "shots"), "--text", str(tmp_path / "text")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    svg = (tmp_path / "shots" / "verify.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "llmdeck:&#160;verify" in svg  # the title, its spaces escaped
    screen = (tmp_path / "text" / "verify.txt").read_text(encoding="utf-8")
    assert "Verdict: verified after 2 rounds" in screen and "Print the first 5 square numbers" in screen
    assert sorted(home.rglob("*")) == before


def test_an_unknown_shot_is_one_line_and_exit_2(tmp_path, capsys):
    script = load_script()
    assert script.main(["no-such-screen", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"screenshots: no shot named no-such-screen (expected: {', '.join(script.SHOTS)})"
    ]
    assert not list(tmp_path.iterdir())
    assert {"chat", "models", "train-form", "train-monitor", "agents", "verify"} <= set(script.SHOTS)


def load_script():
    spec = importlib.util.spec_from_file_location("docs_screenshots", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
