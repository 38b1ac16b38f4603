"""`llmdeck tui --headless --script FILE`: the real app without a terminal, a replayed script, screenshots;
a wait that times out fails naming the step; a bad script is refused naming the line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME


def run(*args: str):
    return CliRunner().invoke(cli, ["tui", *args])


def test_a_script_switches_screens_and_writes_screenshots(fake_model, tmp_path):
    fake_model.enqueue("Four.")
    script = tmp_path / "tour.tui"
    script.write_text(
        "# a tour of two screens\n"
        "size 100 30   # small\n"
        "wait-text 'model: smollm2' 20\n"
        "click #prompt # the prompt box\n"
        "type '2+2?'\n"
        "press enter\n"
        "wait-text 'tok/s' 20\n"
        "screenshot chat\n"
        "press f2\n"
        "wait #models-table\n"
        "wait-text 'Chat template'\n"
        "screenshot models\n"
    )
    result = run("--headless", "--script", str(script), "--out", str(tmp_path / "shots"))
    assert result.exit_code == 0, result.output
    chat = (tmp_path / "shots" / "chat.txt").read_text()
    assert "2+2?" in chat and "Four." in chat
    models = (tmp_path / "shots" / "models.txt").read_text()
    assert EMBEDDED_CHAT_MODEL_NAME in models and len(models.splitlines()) == 30
    assert (tmp_path / "shots" / "models.svg").read_text().startswith("<svg")


@pytest.mark.slow  # a second headless app run
def test_a_wait_that_times_out_fails_naming_the_step(fake_model, tmp_path):
    script = tmp_path / "wait.tui"
    script.write_text("press f2\nwait-text 'no such text anywhere' 0.5\nscreenshot never\n")
    result = run("--headless", "--script", str(script), "--out", str(tmp_path / "shots"))
    assert result.exit_code == 1
    assert f"{script}:2: wait-text 'no such text anywhere' 0.5: timed out after 0.5s" in result.output
    assert not (tmp_path / "shots" / "never.txt").exists()


def test_a_bad_script_is_refused_naming_every_bad_line(tmp_path):
    script = tmp_path / "bad.tui"
    script.write_text("press f2\nfly away\nwait\nscreenshot ../escape\nsleep soon\nsize 80 24\n")
    result = run("--headless", "--script", str(script))
    assert result.exit_code == 2
    message = result.output
    assert "line 2: unknown step 'fly'" in message and "line 3: wait takes 1-2 argument(s)" in message
    assert "line 4: screenshot" in message and "line 5: sleep: 'soon': expected a number" in message
    assert run("--script", str(script)).exit_code == 2  # --script needs --headless
    late_size = _write(tmp_path, "press f2\nsize 80 24\n")
    assert "size must be the first step" in run("--headless", "--script", str(late_size)).output


def _write(tmp_path, text: str):
    path = tmp_path / "s.tui"
    path.write_text(text)
    return path
