"""`export`, `eval`, `models quantize/modelfile/converter` refusals in-process: one line, the right exit code,
before any model loads (fast)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.tuning.registry import Registry


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def fake_run(status: str, name: str = "r") -> str:
    registry = Registry()
    run = registry.create(name, "sft", "smollm2-135m-instruct", "sample", {"base_model": None}, "local")
    registry.update(run.id, status=status)
    return run.id


def test_export_refuses_unknown_runs_bad_quants_and_unfinished_runs():
    unknown = invoke("export", "nope")
    assert unknown.exit_code == 2 and "export failed at the check stage: run 'nope' not found" in unknown.stderr
    bad_quant = invoke("export", "nope", "--quant", "q4_k_m,q7")
    assert bad_quant.exit_code == 2 and "--quant: unknown type 'q7'" in bad_quant.stderr
    stopped = fake_run("stopped")
    result = invoke("export", stopped)
    assert result.exit_code == 2
    assert (
        f"run {stopped} is stopped; only a completed run has a final adapter to export (resume it to finish)"
        in result.stderr
    )
    negative = invoke("export", stopped, "--max-loss-delta", "-1")
    assert negative.exit_code == 2 and "--max-loss-delta: expected a number >= 0" in negative.stderr
    unscored = invoke("export", stopped, "--max-loss-delta", "0.1", "--no-eval")
    assert unscored.exit_code == 2 and "--max-loss-delta needs the quants scored" in unscored.stderr


def test_export_refuses_a_completed_run_without_an_adapter():
    run_id = fake_run("completed")
    result = invoke("export", run_id)
    assert result.exit_code == 2 and "no adapter directory" in result.stderr


def test_adapter_chat_refuses_a_run_without_an_adapter():
    run_id = fake_run("completed", name="no-adapter")
    result = invoke("chat", "hi", "--adapter", "no-adapter")
    assert result.exit_code == 2 and f"run {run_id}: no adapter directory" in result.stderr


def test_requantizing_is_refused_without_the_flag():
    result = invoke("models", "quantize", "smollm2-135m-instruct", "--quant", "q4_0")
    assert result.exit_code == 2
    assert (
        "smollm2-135m-instruct is already quantized (Q4_1)" in result.stderr and "--allow-requantize" in result.stderr
    )
    assert invoke("models", "quantize", "smollm2-135m-instruct", "--quant", "q3").exit_code == 2


def test_modelfile_command_writes_the_file(tmp_path):
    out = tmp_path / "Modelfile"
    result = invoke("models", "modelfile", "smollm2-135m-instruct", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert 'PARAMETER stop "<|im_end|>"' in out.read_text() and "wrote" in result.stderr


def test_eval_refuses_two_data_sources_and_a_run_without_eval_split(tmp_path):
    both = invoke("eval", "smollm2-135m-instruct", "--data", "x.txt", "--run", "r")
    assert both.exit_code == 2 and "give --data FILE or --run RUN, not both" in both.stderr
    run_id = fake_run("completed", name="no-split")
    no_split = invoke("eval", "smollm2-135m-instruct", "--run", run_id)
    assert no_split.exit_code == 2 and "has no eval split" in no_split.stderr
    missing = invoke("eval", "smollm2-135m-instruct", "--data", str(tmp_path / "none.txt"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_converter_command_reports_where_it_is_or_how_to_install(monkeypatch, tmp_path):
    from llmdeck.tuning import converter

    monkeypatch.setattr(converter, "install_dir", lambda version=None: tmp_path / "absent")
    missing = invoke("models", "converter")
    assert missing.exit_code == 1 and "llmdeck models converter --install" in missing.stderr
    monkeypatch.setenv(converter.DIR_ENV, str(tmp_path))
    not_a_tree = invoke("models", "converter", "--json")
    assert not_a_tree.exit_code == 2 and "not a llama.cpp source tree" in not_a_tree.stderr
    for part in converter.REQUIRED:
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / part).write_text("")
    found = invoke("models", "converter", "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["root"] == str(tmp_path.resolve())
