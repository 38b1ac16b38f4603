"""The shared input limits (`core/validate.py`): integers too long to convert, nesting too deep, non-finite
numbers and special files are one clear problem naming the line and field, never a Python traceback."""

from __future__ import annotations

import json
import math
import os
import socket
import typing

import annotated_types as at
import pytest

from llmdeck.core.validate import (
    MAX_INT_DIGITS,
    MAX_NESTING,
    MAX_THREADS,
    DocumentProblem,
    bounded_int,
    check_document,
    field_range,
    file_kind,
    finite_float,
    parse_json,
    parse_toml,
    parse_yaml,
    problem_line,
    raw_decode_json,
)

BIG = "9" * 5000
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def test_a_long_integer_in_json_names_its_field():
    with pytest.raises(DocumentProblem) as caught:
        parse_json('{"messages": [{"role": "user", "n": ' + BIG + "}]}")
    assert caught.value.field == "messages[0].n"
    assert caught.value.problem == f"a 5000-digit integer is out of range (at most {MAX_INT_DIGITS} digits)"
    assert parse_json('{"n": ' + "9" * MAX_INT_DIGITS + "}") == {"n": int("9" * MAX_INT_DIGITS)}  # the limit itself


@pytest.mark.parametrize("parse", [parse_json, lambda text: raw_decode_json(text)[0]])
def test_deep_json_is_refused_at_the_limit(parse):
    with pytest.raises(DocumentProblem, match=f"at most {MAX_NESTING} levels"):
        parse(DEEP_JSON)
    with pytest.raises(DocumentProblem, match=f"nested more than {MAX_NESTING} levels deep"):
        parse("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1))  # below Python's recursion limit, above ours
    assert parse("[" * MAX_NESTING + "]" * MAX_NESTING) is not None
    with pytest.raises(json.JSONDecodeError):  # bad JSON is still the caller's JSONDecodeError
        parse("{")


def test_yaml_names_the_line_and_field_and_walks_shared_aliases_once():
    with pytest.raises(DocumentProblem) as caught:
        parse_yaml(f"method: sft\n\nmax_steps: {BIG}\n")
    assert (caught.value.line, caught.value.field) == (3, "max_steps")
    with pytest.raises(DocumentProblem, match="nested too deeply"):
        parse_yaml("a: " + "[" * 100_000 + "]" * 100_000)
    # a "billion laughs" document: nine levels of nine aliases each, walked in linear time
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    assert len(parse_yaml("\n".join(lines))["a8"]) == 9


def test_toml_names_the_line_and_key():
    with pytest.raises(DocumentProblem) as caught:
        parse_toml(f"temperature = 0.5\nn_ctx = {BIG}\n")
    assert (caught.value.line, caught.value.field) == (2, "n_ctx")
    with pytest.raises(DocumentProblem, match="nested too deeply"):
        parse_toml("a = " + "[" * 100_000 + "]" * 100_000)


def test_problem_line_adds_the_fields_range():
    from llmdeck.core.settings import Settings

    problem = DocumentProblem(
        f"a 5000-digit integer is out of range (at most {MAX_INT_DIGITS} digits)", line=2, field="n_threads"
    )
    assert problem_line("config.toml", problem, fields=Settings) == (
        f"config.toml:2: n_threads: a 5000-digit integer is out of range (at most {MAX_INT_DIGITS} digits)"
        f" (accepted: 1..{MAX_THREADS})"
    )
    assert problem_line("rows.jsonl", DocumentProblem("nested too deeply"), line=7) == "rows.jsonl:7: nested too deeply"


def test_flag_numbers_are_bounded_and_finite():
    assert bounded_int("42", "--threads") == 42
    with pytest.raises(ValueError, match="--threads: a 5000-digit integer"):
        bounded_int(BIG, "--threads")
    for text in ("nan", "inf", "-inf", "1e400"):
        with pytest.raises(ValueError, match="not a finite number"):
            finite_float(text, "--temperature")
    assert finite_float("0.5", "--temperature") == 0.5


def test_check_document_leaves_ordinary_documents_alone():
    check_document({"messages": [{"role": "user", "content": "hi"}] * 50, "n": 10**30})


def _numeric(annotation) -> bool:
    return any(arg in (int, float) for arg in (typing.get_args(annotation) or (annotation,)))


def _bounds(field) -> tuple[float | None, float | None]:
    low = high = None
    for item in field.metadata:
        low = item.ge if isinstance(item, at.Ge) else item.gt if isinstance(item, at.Gt) else low
        high = item.le if isinstance(item, at.Le) else item.lt if isinstance(item, at.Lt) else high
    return low, high


CONFIG_TYPES = [
    "llmdeck.core.settings:Settings",
    "llmdeck.tuning.config:TrainConfig",
    "llmdeck.services.loop:LoopConfig",
    "llmdeck.agents.tasks:Task",
    "llmdeck.agents.react:AgentOptions",
    "llmdeck.agents.verify:VerifyOptions",
    "llmdeck.services.collect:CollectOptions",
]


@pytest.mark.parametrize("where", CONFIG_TYPES)
def test_every_numeric_setting_has_a_finite_range(where):
    """Flags, YAML configs and config.toml share these fields: each number has both bounds, stated in its error,
    and nan/inf are refused."""
    import importlib

    module, name = where.split(":")
    config_type = getattr(importlib.import_module(module), name)
    unbounded = []
    for name, field in config_type.model_fields.items():
        if _numeric(field.annotation):
            low, high = _bounds(field)
            if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
                unbounded.append(name)
            elif field_range(config_type, name) is None:
                unbounded.append(name)
    assert unbounded == []
    assert config_type.model_config.get("allow_inf_nan") is False or config_type.__name__ == "Task"


def test_file_kind_says_what_a_path_is(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    regular = tmp_path / "file.txt"
    regular.write_text("x")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock"))
        assert file_kind(tmp_path / "sock") == "is a socket"
    assert file_kind(fifo) == "is a FIFO (named pipe)"  # stat only: a FIFO with no writer does not block
    assert file_kind(loop) == "is a symlink loop"
    assert file_kind(dangling) == "is a broken symlink (its target does not exist)"
    assert file_kind(tmp_path / "missing") == "no such file"
    assert file_kind(tmp_path) == "is a directory"
    assert file_kind(regular) is None
    from pathlib import Path

    assert file_kind(Path("/dev/null")) == "is a device"


def test_a_context_beyond_the_models_trained_one_is_refused_when_asked_for_and_lowered_by_default(
    llmdeck_home, fake_model
):
    from pathlib import Path

    from llmdeck.core.errors import BadInput
    from llmdeck.core.runtime import LoadOptions, load_model

    model = Path("SmolLM2.gguf")
    assert LoadOptions(n_ctx=9000).fitted(model, 8192).n_ctx == 8192  # the default (not asked for): lowered
    assert LoadOptions(n_ctx=4096, n_ctx_given=True).fitted(model, 8192).n_ctx == 4096
    assert LoadOptions(n_ctx=9000, n_ctx_given=True).fitted(model, None).n_ctx == 9000  # no metadata: as asked
    with pytest.raises(
        BadInput, match=r"--ctx 9000: above the trained context of SmolLM2.gguf \(accepted: 256..8192\)"
    ):
        LoadOptions(n_ctx=9000, n_ctx_given=True).fitted(model, 8192)
    llmdeck_home.mkdir(parents=True, exist_ok=True)
    (llmdeck_home / "config.toml").write_text("n_ctx = 9000\n")  # config.toml asks for it too
    with pytest.raises(BadInput, match="--ctx 9000: above the trained context"):
        load_model()
    assert fake_model.calls == []


def test_open_regular_never_waits_on_a_fifo(tmp_path):
    """A path swapped for a FIFO after its check is refused once open, not waited on (no writer exists)."""
    from llmdeck.core.errors import BadInput
    from llmdeck.core.textfiles import open_regular

    fifo = tmp_path / "swapped.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="swapped.jsonl: not a regular file; expected a data file"):
        open_regular(fifo, "data file")
    regular = tmp_path / "rows.jsonl"
    regular.write_text('{"text": "x"}\n')
    with open_regular(regular) as handle:
        assert handle.read() == b'{"text": "x"}\n'
