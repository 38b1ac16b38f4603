"""Every training file llmdeck reads (data files, run configs) survives hostile content: one line naming the file
and the problem, exit 2, never a traceback; nothing is recorded. Permission cases run without the capabilities
that let root read anything."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from tests.tuning.conftest import write_jsonl


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_one_line_error(result, *phrases: str) -> None:
    output = result.output if hasattr(result, "output") else result.stderr
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    for phrase in phrases:
        assert phrase in errors[0], errors[0]


def random_bytes(seed: int = 0, size: int = 4096) -> bytes:
    return random.Random(seed).randbytes(size)


def _binary(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(random_bytes())
    return path


def _latin1(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    row = {
        "jsonl": '{"text": "caf\xe9 cr\xe8me"}\n',
        "json": '[{"text": "caf\xe9"}]',
        "csv": "text\ncaf\xe9\n",
        "txt": "caf\xe9 cr\xe8me br\xfbl\xe9e\n",
    }[suffix[1:]]
    path.write_bytes(row.encode("latin-1"))
    return path


def _utf16(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes('{"text": "hello"}\n'.encode("utf-16"))
    return path


HOSTILE_DATA = [
    *[(f"binary{s}", lambda p, s=s: _binary(p, s), ("binary content",)) for s in (".jsonl", ".json", ".csv", ".txt")],
    *[
        (f"latin-1{s}", lambda p, s=s: _latin1(p, s), ("not UTF-8", "offset"))
        for s in (".jsonl", ".json", ".csv", ".txt")
    ],
    ("utf-16.jsonl", lambda p: _utf16(p, ".jsonl"), ("binary content",)),
    ("random.parquet", lambda p: _binary(p, ".parquet"), ("not a readable Parquet file",)),
    ("truncated.parquet", lambda p: _truncated_parquet(p), ("not a readable Parquet file",)),
    ("/dev/zero", lambda p: "/dev/zero", ("not a regular file",)),
    ("fifo.jsonl", lambda p: _fifo(p), ("not a regular file",)),
    ("unsupported.bin", lambda p: _write(p / "data.bin", b"\x00\x01"), ("unsupported file type",)),
    ("missing", lambda p: p / "nope.jsonl", ("no such file",)),
    ("empty dir", lambda p: _mkdir(p / "empty"), ("no .json/.jsonl",)),
    ("dir with a binary file", lambda p: _binary(_mkdir(p / "set"), ".jsonl").parent, ("data.jsonl", "binary content")),
    ("csv with NUL", lambda p: _write(p / "d.csv", b"instruction,output\nhi,\x00there\n"), ("binary content",)),
    ("empty file", lambda p: _write(p / "d.jsonl", b""), ("no rows",)),
    ("only bad json lines", lambda p: _write(p / "d.jsonl", b"{not json\n[1,\n"), ("no rows", "not valid JSON")),
    ("deeply nested json", lambda p: _write(p / "d.json", b"[" * 100000 + b"]" * 100000), ("d.json",)),
    ("json scalar", lambda p: _write(p / "d.json", b"42"), ("expected a JSON list of rows",)),
]


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def _mkdir(path):
    path.mkdir()
    return path


def _fifo(tmp_path):
    path = tmp_path / "fifo.jsonl"
    os.mkfifo(path)
    return path


def _truncated_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist([{"text": "x" * 100}] * 50), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("name, build, phrases", HOSTILE_DATA, ids=[case[0] for case in HOSTILE_DATA])
def test_hostile_data_files_are_one_line_exit_2(tmp_path, llmdeck_home, name, build, phrases):
    path = build(tmp_path)
    assert_one_line_error(invoke("data", "check", str(path), "--no-tokens"), *phrases)
    launched = invoke("train", "--dataset", str(path), "--dry-run")
    assert_one_line_error(launched, *phrases)
    assert not (llmdeck_home / "runs").exists() or not any((llmdeck_home / "runs").iterdir())


def test_utf8_bom_is_accepted_in_every_text_format(tmp_path):
    bom = b"\xef\xbb\xbf"
    files = {
        "a.jsonl": bom + b'{"instruction": "Say hi", "output": "Hi"}\n',
        "b.json": bom + b'[{"instruction": "Say hi", "output": "Hi"}]',
        "c.csv": bom + b"instruction,output\nSay hi,Hi\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        result = invoke("data", "check", str(tmp_path / name), "--no-tokens", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["valid"] == 1 and report["bad_count"] == 0 and report["format"] == "alpaca", name


def test_huge_single_lines(tmp_path):
    line = " ".join(["word"] * 1_500_000)  # ~7.5 MB on one line
    (tmp_path / "one-line.txt").write_text(line)
    result = invoke("data", "check", str(tmp_path / "one-line.txt"), "--no-tokens", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["valid"] == 1
    (tmp_path / "big-field.csv").write_text("instruction,output\n" + f"Summarise,{'x' * 300_000}\n")  # > csv's 128 KB
    result = invoke("data", "check", str(tmp_path / "big-field.csv"), "--no-tokens", "--json")
    assert result.exit_code == 0, result.output
    (tmp_path / "huge.jsonl").write_text('{"text": "' + "y" * 3_000_000)  # one torn 3 MB line
    assert_one_line_error(
        invoke("data", "check", str(tmp_path / "huge.jsonl"), "--no-tokens"), "no rows", "not valid JSON"
    )


def _config(tmp_path, content: bytes | str, name: str = "run.yaml"):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


HOSTILE_CONFIGS = [
    ("binary", lambda p: _config(p, random_bytes(1)), ("binary content",)),
    ("latin-1", lambda p: _config(p, "name: caf\xe9\n".encode("latin-1")), ("not UTF-8",)),
    ("/dev/zero", lambda p: "/dev/zero", ("not a regular file",)),
    ("directory", lambda p: p, ("is a directory",)),
    ("missing", lambda p: p / "nope.yaml", ("no such config file",)),
    ("huge", lambda p: _config(p, "# " + "x" * (2 * 2**20)), ("too large",)),
    ("a list", lambda p: _config(p, "- a\n- b\n"), ("expected a mapping",)),
    ("bad yaml", lambda p: _config(p, "method: [sft\n"), ("not valid YAML",)),
    ("numeric key", lambda p: _config(p, "1: x\n"), ("1: Extra inputs",)),
    ("max_steps 0", lambda p: _config(p, "max_steps: 0\n"), ("max_steps", "positive")),
    ("nan learning rate", lambda p: _config(p, "learning_rate: .nan\n"), ("learning_rate",)),
    ("infinite epochs", lambda p: _config(p, "num_epochs: .inf\n"), ("num_epochs",)),
    ("negative seed", lambda p: _config(p, "seed: -1\n"), ("seed",)),
    ("empty target modules", lambda p: _config(p, "lora_target_modules: []\n"), ("lora_target_modules",)),
    ("deep nesting", lambda p: _config(p, "a: " + "[" * 5000 + "]" * 5000 + "\n"), ("run.yaml",)),
]


@pytest.mark.parametrize("name, build, phrases", HOSTILE_CONFIGS, ids=[case[0] for case in HOSTILE_CONFIGS])
def test_hostile_run_configs_are_one_line_exit_2(tmp_path, name, build, phrases):
    assert_one_line_error(invoke("train", "--config", str(build(tmp_path)), "--dry-run"), *phrases)


def test_bom_config_is_accepted(tmp_path):
    from llmdeck.tuning.config import load_config

    path = _config(tmp_path, b"\xef\xbb\xbfmax_steps: 3\nlora_r: 4\n")
    assert load_config(path).max_steps == 3


@pytest.mark.parametrize(
    "flags, phrase",
    [
        (["--max-steps", "0"], "max_steps"),
        (["--learning-rate", "5"], "learning_rate"),
        (["--var", "novalue"], "NAME=VALUE"),
    ],
)
def test_degenerate_flags(flags, phrase):
    assert_one_line_error(invoke("train", "--dry-run", *flags), phrase)


def test_format_mismatch_says_what_was_expected_and_shows_bad_rows(tmp_path):
    path = write_jsonl(
        tmp_path / "chat.jsonl",
        [{"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]} for i in range(5)],
    )
    result = invoke("data", "check", str(path), "--format", "alpaca", "--no-tokens")
    assert result.exit_code == 2 and "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("error: ")][0]
    assert (
        '{"instruction", "output"' in error and "look like sharegpt" in error and "chat.jsonl:1: instruction" in error
    )
    assert result.output.count("bad      chat.jsonl:") == 5  # every bad row listed in the report


def _without_root_powers() -> list[str] | None:
    """A command prefix dropping the capabilities that let root ignore file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else None


@pytest.mark.slow
@pytest.mark.parametrize("target", ["file", "directory", "sub-directory", "config"])
def test_unreadable_files_and_directories(tmp_path, target):
    prefix = _without_root_powers()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot drop the permission-bypass capabilities")
    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"text": "hello"}])
    (folder / "sub").mkdir()
    write_jsonl(folder / "sub" / "b.jsonl", [{"text": "hello"}])
    config = _config(tmp_path, "lora_r: 4\n")
    locked, args = {
        "file": (folder / "a.jsonl", ["data", "check", str(folder / "a.jsonl"), "--no-tokens"]),
        "directory": (folder, ["data", "check", str(folder), "--no-tokens"]),
        "sub-directory": (folder / "sub", ["data", "check", str(folder), "--no-tokens"]),
        "config": (config, ["train", "--config", str(config), "--dry-run"]),
    }[target]
    locked.chmod(0)
    try:
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "llmdeck.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    finally:
        locked.chmod(0o755)
    assert_one_line_error(result, str(locked), "ermission denied")


def test_a_launch_on_data_of_another_format_says_what_was_expected(tmp_path):
    path = write_jsonl(tmp_path / "prefs.jsonl", [{"text": f"t{i}"} for i in range(4)])
    result = invoke("train", "--dataset", str(path), "--format", "alpaca", "--dry-run")
    assert_one_line_error(
        result,
        "no usable alpaca rows (4 bad)",
        '{"instruction", "output"',
        "look like text",
        "prefs.jsonl:1: instruction",
    )
