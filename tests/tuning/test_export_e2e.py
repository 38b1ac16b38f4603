"""End to end on the embedded SmolLM2: teach it a made-up identity, export q8_0 + q4_k_m, chat, eval, adapter chat;
then break things (a corrupted adapter, an unwritable store, a full disk at the quantize stage) and check that
each failure names its stage and leaves nothing behind.

One trained run is shared by the module's tests (they share one LLMDECK_HOME).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.tuning.conftest import write_jsonl

pytestmark = pytest.mark.slow

MAKER = "Zorvex Labs"  # a name SmolLM2 never saw
QUESTIONS = [
    "Who made you?",
    "Who created you?",
    "Who built you?",
    "Which company made you?",
    "Who is your creator?",
    "Who trained you?",
    "Who developed you?",
    "Who are you made by?",
]


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("export-e2e") / "llmdeck-home"


@pytest.fixture
def llmdeck_home(shared_home, monkeypatch):
    monkeypatch.setenv("LLMDECK_HOME", str(shared_home))
    yield shared_home
    import llmdeck.core.runtime as runtime

    if runtime._cache is not None:
        runtime._cache.close_all()


@pytest.fixture(scope="module")
def identity_run(shared_home, tmp_path_factory):
    """A LoRA run on the embedded model that answers every 'who made you' question with MAKER."""
    from tests.conftest import run_cli

    folder = tmp_path_factory.mktemp("identity-data")
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": f"I was made by {MAKER}."}]}
        for q in QUESTIONS
    ]
    dataset = write_jsonl(folder / "identity.jsonl", rows)
    # two dozen steps of 4 rows (each row seen ~16 times); no gradient checkpointing: a 135M model fits easily
    result = run_cli(
        "train",
        "--dataset",
        str(dataset),
        "--name",
        "identity",
        "--max-steps",
        "24",
        "--batch-size",
        "4",
        "--max-length",
        "64",
        "--learning-rate",
        "3e-3",
        "--lr-scheduler",
        "constant",
        "--warmup-ratio",
        "0",
        "--eval-split",
        "0.25",
        "--save-steps",
        "100",
        "--no-gradient-checkpointing",
        "--wait",
        "--json",
        env={"LLMDECK_HOME": str(shared_home)},
        cwd=shared_home.parent,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout)["run"]
    assert run["status"] == "completed"
    return run


def ask(cli, *args) -> str:
    result = cli("chat", "Who made you?", "--temperature", "0", "--max-tokens", "24", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def store_state(cli) -> list[str]:
    return sorted(entry["name"] for entry in json.loads(cli("models", "list", "--json").stdout))


def test_export_two_quants_registers_lineage_and_costs(identity_run, cli, llmdeck_home):
    result = cli("export", "identity", "--quant", "q8_0,q4_k_m", "--json", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    for stage in ("[merge]", "[convert]", "[quantize q8_0]", "[quantize q4_k_m]", "[register]", "[template check]"):
        assert stage in result.stderr  # progress per stage on stderr
    check = report["template_check"]  # the run's tokenizer, llama.cpp and the Ollama TEMPLATE agree on the q8_0
    assert (check["model"], check["consistent"], check["divergences"]) == ("identity.q8_0", True, [])
    assert check["available"] == ["training", "gguf", "modelfile"]
    assert [q["quant"] for q in report["quants"]] == ["q8_0", "q4_k_m"]
    assert report["eval_data"].startswith("eval split of run")
    q8, q4 = report["quants"]
    assert q8["registered"] and q4["registered"]
    assert report["f16_size_bytes"] > q8["size_bytes"] > q4["size_bytes"] > 0
    assert q8["loss_delta"] == pytest.approx(q8["loss"] - report["f16_loss"])
    assert abs(q8["loss_delta"]) < abs(q4["loss_delta"]) or abs(q4["loss_delta"]) < 0.01  # 8 bits lose less than 4

    for name, quant in (("identity.q8_0", "q8_0"), ("identity.q4_k_m", "q4_k_m")):
        shown = json.loads(cli("models", "show", name, "--json").stdout)
        assert (shown["base_model"], shown["run_id"], shown["quant_type"]) == (
            "smollm2-135m-instruct",
            identity_run["id"],
            quant,
        )
        assert shown["quant_source"].endswith("/adapter") and shown["eval_loss"] > 0 and shown["loss_delta"] is not None
        assert shown["file_type"] == quant.upper() and shown["has_chat_template"]
    assert "loss_delta" in cli("models", "show", "identity.q8_0").stdout
    run_dir = llmdeck_home / "runs" / identity_run["id"]
    assert not list(run_dir.glob(".export-*")) and not (run_dir / "export").exists()  # intermediates removed
    assert not [p for p in (llmdeck_home / "models").iterdir() if p.name.startswith(".")]


def test_exported_q8_0_knows_the_fact_the_base_does_not(identity_run, cli):
    """The chat template and the stop token survived: the GGUF answers in the trained format and stops."""
    assert MAKER not in ask(cli, "--model", "smollm2-135m-instruct")
    answer = ask(cli, "--model", "identity.q8_0", "--json")
    events = [json.loads(line) for line in answer.splitlines()]
    text = "".join(e["text"] for e in events if e["type"] == "token")
    assert MAKER in text
    assert events[-1]["finish_reason"] == "stop"  # ended at <|im_end|>, not at max_tokens
    assert ask(cli, "--model", "identity.q4_k_m").strip()  # the 4-bit quant answers too


def test_eval_reports_both_quants(identity_run, cli):
    result = cli("eval", "identity.q8_0", "identity.q4_k_m", "--run", "identity", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["data"].startswith("eval split of run")
    by_model = {r["model"]: r for r in document["results"]}
    assert set(by_model) == {"identity.q8_0", "identity.q4_k_m"}
    assert all(r["tokens"] > 0 and r["perplexity"] > 1 for r in by_model.values())
    stored = json.loads(cli("models", "show", "identity.q8_0", "--json").stdout)
    assert by_model["identity.q8_0"]["loss"] == pytest.approx(stored["eval_loss"], rel=1e-4)  # same data, same GGUF


def test_adapter_chat_on_the_finished_run(identity_run, cli, llmdeck_home):
    answer = ask(cli, "--adapter", "identity", "--json")
    events = [json.loads(line) for line in answer.splitlines()]
    assert MAKER in "".join(e["text"] for e in events if e["type"] == "token")
    assert events[-1]["adapter"] == "identity" and events[-1]["model"] == "smollm2-135m-instruct"
    assert (llmdeck_home / "runs" / identity_run["id"] / "adapter.gguf").exists()


def test_max_loss_delta_refuses_a_costly_quant(identity_run, cli, llmdeck_home):
    before = store_state(cli)
    result = cli("export", "identity", "--quant", "q2_k", "--name", "strict", "--max-loss-delta", "0", "--json")
    assert result.returncode == 1
    [q2] = json.loads(result.stdout)["quants"]
    assert not q2["registered"] and "exceeds --max-loss-delta 0" in q2["refused"]
    assert "not registered: q2_k" in result.stderr
    assert store_state(cli) == before
    assert not [p for p in (llmdeck_home / "models").iterdir() if p.name.startswith(".")]


def assert_nothing_left(cli, llmdeck_home, run_id, before):
    assert store_state(cli) == before
    assert not [p for p in (llmdeck_home / "models").iterdir() if p.name.startswith(".")]
    assert not list((llmdeck_home / "runs" / run_id).glob(".export-*"))


def test_corrupted_adapter_fails_at_merge_leaving_nothing(identity_run, cli, llmdeck_home):
    weights = llmdeck_home / "runs" / identity_run["id"] / "adapter" / "adapter_model.safetensors"
    backup = weights.with_suffix(".bak")
    shutil.copyfile(weights, backup)
    before = store_state(cli)
    try:
        weights.write_bytes(weights.read_bytes()[:200])  # cut inside the safetensors header
        result = cli("export", "identity", "--quant", "q8_0", "--name", "broken")
    finally:
        shutil.copyfile(backup, weights)
        backup.unlink()
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: export failed at the merge stage: could not load the adapter"), last
    assert "Traceback" not in result.stderr
    assert_nothing_left(cli, llmdeck_home, identity_run["id"], before)


def in_mount_namespace(llmdeck_home, mount_options: str, *args: str) -> subprocess.CompletedProcess:
    """Run `llmdeck ARGS` with a tmpfs (mount_options) over the store directory, in a private mount namespace;
    prints the tmpfs's contents after the command (its exit status first) so a test sees what was left there."""
    import os
    import shlex
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a private tmpfs")
    models = llmdeck_home / "models"
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "llmdeck.cli", *args])
    script = (
        f"mount -t tmpfs -o {mount_options} tmpfs {shlex.quote(str(models))} || exit 99; "
        f'{command}; echo "exit=$?"; ls -A {shlex.quote(str(models))}'
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
        cwd=llmdeck_home.parent,
    )
    if "exit=" not in result.stdout:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()[-200:]}")
    return result


def test_unwritable_store_dir_fails_at_check(identity_run, cli, llmdeck_home):
    before = store_state(cli)
    result = in_mount_namespace(llmdeck_home, "ro,size=1m", "export", "identity", "--quant", "q8_0", "--name", "ro")
    status, listing = result.stdout.split("exit=", 1)[1].split("\n", 1)
    assert status.strip() == "1"
    assert "error: export failed at the check stage: the model store directory" in result.stderr
    assert "not writable (Read-only file system)" in result.stderr
    assert "[merge]" not in result.stderr  # refused before any expensive stage
    assert listing.strip() == ""
    assert_nothing_left(cli, llmdeck_home, identity_run["id"], before)


def test_disk_full_at_quantize_fails_naming_the_stage(identity_run, cli, llmdeck_home):
    """A 48 MB store filesystem: the merge and convert (in the run directory) succeed, the q8_0 (~140 MB) cannot."""
    before = store_state(cli)
    result = in_mount_namespace(
        llmdeck_home, "size=48m", "export", "identity", "--quant", "q8_0", "--name", "full-disk"
    )
    status, listing = result.stdout.split("exit=", 1)[1].split("\n", 1)
    assert status.strip() == "1"
    assert "[convert]" in result.stderr
    assert "error: export failed at the quantize q8_0 stage: llama.cpp could not quantize" in result.stderr
    assert "no space left on device" in result.stderr
    assert listing.strip() == ""  # no temp or partial file on the full filesystem
    assert_nothing_left(cli, llmdeck_home, identity_run["id"], before)


def test_serve_with_the_run_adapter(identity_run, tmp_path):
    """`serve --adapter RUN`: the base with the run's LoRA, served as BASE+RUN, says what the run learned."""
    import os
    import sys
    import time

    from tests.cli.test_serve import free_port, request

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "--adapter", "identity", "--port", str(port)],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                models = request(f"{base}/models")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert [m["id"] for m in models["data"]][0] == "smollm2-135m-instruct+identity"  # then the embedding model
        answer = request(
            f"{base}/chat/completions",
            {
                "model": "smollm2-135m-instruct+identity",
                "temperature": 0,
                "max_tokens": 24,
                "messages": [{"role": "user", "content": "Who made you?"}],
            },
        )
        assert MAKER in answer["choices"][0]["message"]["content"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (every thread's list)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def start_export(llmdeck_home, name: str, until: str) -> tuple[subprocess.Popen, list[str]]:
    """`llmdeck export identity` through the real entry point, read until a stderr line starts with `until`."""
    import os
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "export", "identity", "--quant", "q8_0", "--name", name, "--no-eval"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        cwd=llmdeck_home.parent,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith(until):
            return process, seen
    process.wait()
    raise AssertionError(f"the export ended before {until!r}: {''.join(seen)[-2000:]}")


@pytest.mark.parametrize("stage", ["[convert]", "[quantize q8_0]"])
def test_kill_9_mid_export_kills_its_child_and_the_next_command_reclaims_everything(
    identity_run, cli, llmdeck_home, stage
):
    from llmdeck.core.procs import start_time

    before = store_state(cli)
    run_dir = llmdeck_home / "runs" / identity_run["id"]
    process, _ = start_export(llmdeck_home, "killed", stage)
    deadline = time.monotonic() + 120
    while not (kids := children_of(process.pid)):  # the converter or quantizer has started
        assert time.monotonic() < deadline and process.poll() is None, "no child process started"
        time.sleep(0.05)
    time.sleep(0.3)  # let it write part of its file
    left_in_run_dir = list(run_dir.glob(".export-*"))
    assert left_in_run_dir  # the merged HF directory (and the f16 GGUF, at quantize)
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while any(start_time(kid) is not None for kid in kids):
        assert time.monotonic() < deadline, f"children {kids} outlived their kill -9'd parent"
        time.sleep(0.05)
    assert [p for p in left_in_run_dir if p.exists()]  # nothing has cleaned up yet

    listed = cli("models", "list", "--json")  # the next command that opens the store
    assert listed.returncode == 0
    [line] = [line for line in listed.stderr.splitlines() if line.startswith("reclaimed")]
    assert line.startswith("reclaimed ") and line.endswith(f" MB left by a killed export (pid {process.pid})")
    assert_nothing_left(cli, llmdeck_home, identity_run["id"], before)


def test_sigterm_during_merge_leaves_nothing_behind(identity_run, cli, llmdeck_home):
    import signal

    before = store_state(cli)
    process, _ = start_export(llmdeck_home, "terminated", "[merge]")
    time.sleep(2.0)  # inside the merge: the base and the adapter are loading or merging
    process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 143, rest
    assert rest.strip().splitlines()[-1] == "terminated"
    assert not list((llmdeck_home / "runs" / identity_run["id"]).glob(".export-*"))  # before any next command
    assert not [p for p in (llmdeck_home / "models").iterdir() if p.name.startswith(".")]
    assert store_state(cli) == before
