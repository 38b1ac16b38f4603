"""`llmdeck models check NAME`: bad input is refused before anything loads (fast); on the embedded SmolLM2 GGUF
the training tokenizer, llama.cpp and the Ollama TEMPLATE agree (through the real entry point), and a training
template or a Modelfile that differs is caught token by token (slow: transformers and the GGUF's vocabulary
load)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli

EMBEDDED = "smollm2-135m-instruct"


def run(*args: str):
    return CliRunner().invoke(cli, ["models", "check", *args])


def test_bad_input_is_one_line_and_exit_2_before_any_model_loads(tmp_path):
    missing = run("no-such-model")
    assert missing.exit_code == 2
    assert missing.output.startswith("error: model 'no-such-model' is not in the store")
    no_tokenizer = run(EMBEDDED, "--tokenizer", str(tmp_path))
    assert no_tokenizer.exit_code == 2
    assert no_tokenizer.output.strip() == (
        f"error: --tokenizer {tmp_path}: not a directory holding a tokenizer "
        "(tokenizer.json, tokenizer.model, tokenizer_config.json)"
    )
    no_modelfile = run(EMBEDDED, "--modelfile", str(tmp_path / "Modelfile"))
    assert no_modelfile.exit_code == 2
    assert no_modelfile.output.strip() == f"error: --modelfile {tmp_path / 'Modelfile'}: no such file"
    (tmp_path / "Modelfile").write_text("FROM x.gguf\nPARAMETER stop x\n", encoding="utf-8")
    no_template = run(EMBEDDED, "--modelfile", str(tmp_path / "Modelfile"))
    assert no_template.exit_code == 2
    assert no_template.output.strip() == (
        f'error: --modelfile {tmp_path / "Modelfile"}: no TEMPLATE line (expected TEMPLATE """...""")'
    )


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory, embedded_gguf) -> Path:
    """The training tokenizer `models check` picks for a GGUF with no run (transformers reads it from the GGUF),
    saved once so each test loads it in a fraction of a second."""
    from llmdeck.tuning.template_check import training_tokenizer

    tokenizer, _ = training_tokenizer(SimpleNamespace(path=str(embedded_gguf), run_id=None))
    target = tmp_path_factory.mktemp("smollm2-tokenizer")
    tokenizer.save_pretrained(target)
    return target


@pytest.mark.slow  # transformers and llama.cpp's vocabulary load
def test_the_embedded_model_renders_the_same_tokens_three_ways(smollm2_tokenizer_dir, cli):
    result = cli("models", "check", EMBEDDED, "--tokenizer", str(smollm2_tokenizer_dir), "--json")  # the entry point
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""  # llama.cpp's vocab-only warnings kept off the terminal
    report = json.loads(result.stdout)
    assert report["consistent"] is True and report["divergences"] == []
    assert report["available"] == ["training", "gguf", "modelfile"]
    counts = {r["source"]: r["tokens"] for r in report["renderings"]}
    assert counts == {"training": 55, "gguf": 55, "modelfile": 55}
    assert "chat_template.default" in report["renderings"][1]["origin"]  # the Jinja template, as chat applies it
    assert report["summary"] == "template check: training, gguf, modelfile give the same 55 tokens"


@pytest.mark.slow  # transformers and llama.cpp's vocabulary load
def test_a_training_template_that_differs_is_shown_token_by_token(smollm2_tokenizer_dir, tmp_path):
    from transformers import AutoTokenizer

    from tests.tuning.tiny_model import CUSTOM_CHAT_TEMPLATE  # '<|im_start|>role: content' instead of 'role\n'

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    tokenizer.chat_template = CUSTOM_CHAT_TEMPLATE
    tokenizer.save_pretrained(tmp_path / "custom")
    result = run(EMBEDDED, "--tokenizer", str(tmp_path / "custom"))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "template check: MISMATCH: training and gguf differ at token 2; training and modelfile differ at token 2"
    )
    assert lines[4] == "  training vs gguf: first difference at token 2"
    assert lines[5].startswith("    training  0:1='<|im_start|>' 1:9690='system' 2:") and "':'" in lines[5]
    assert lines[6].startswith("    gguf      0:1='<|im_start|>' 1:9690='system' 2:198='\\n'")
    assert result.output.strip().endswith("error: " + lines[0])


@pytest.mark.slow  # transformers and llama.cpp's vocabulary load
def test_a_broken_modelfile_template_is_caught(smollm2_tokenizer_dir, tmp_path):
    from llmdeck.core.interop import CHATML, ollama_template

    broken = ollama_template(CHATML, "").replace("<|im_end|>\n{{ end }}", "<|im_end|>{{ end }}")  # no newline
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f'FROM x.gguf\nTEMPLATE """{broken}"""\n', encoding="utf-8")
    result = run(EMBEDDED, "--tokenizer", str(smollm2_tokenizer_dir), "--modelfile", str(modelfile), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["consistent"] is False
    assert [(d["first"], d["second"]) for d in report["divergences"]] == [
        ("training", "modelfile"),
        ("gguf", "modelfile"),
    ]
    first = report["divergences"][0]
    at = first["position"]
    assert [t["text"] for t in first["first_window"] if t["position"] == at] == ["\n"]
    assert [t["text"] for t in first["second_window"] if t["position"] == at] == ["<|im_start|>"]
    assert report["renderings"][2]["origin"] == f"TEMPLATE of {modelfile}"
