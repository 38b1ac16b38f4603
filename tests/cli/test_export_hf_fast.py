"""`export --format hf` refusals in-process: GGUF-only flags, --output without hf, a missing parent (fast)."""

from __future__ import annotations

from click.testing import CliRunner

from llmdeck.cli.main import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_flags_of_the_other_format_are_refused_in_one_line(tmp_path):
    for args, message in [
        (("--format", "hf", "--quant", "q8_0"), "error: --quant: applies to --format gguf"),
        (("--format", "hf", "--no-eval"), "error: --no-eval: applies to --format gguf"),
        (("--output", str(tmp_path / "x")), "error: --output: applies to --format hf"),
        (("--format", "onnx"), "error: llmdeck export: Invalid value for '--format'"),
    ]:
        result = invoke("export", "some-run", *args)
        assert result.exit_code == 2 and result.stderr.startswith(message), (args, result.stderr)


def test_an_unknown_run_fails_at_the_check_stage_and_writes_nothing(tmp_path):
    result = invoke("export", "nope", "--format", "hf", "--output", str(tmp_path / "out"))
    assert result.exit_code == 2 and "export failed at the check stage: run 'nope' not found" in result.stderr
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["llmdeck-home"]
