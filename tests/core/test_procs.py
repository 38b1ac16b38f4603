"""Process hygiene with real processes and real kills: a child started through `procs.spawn` dies with its
parent, and what a killed owner left (names with its pid and start time) is reclaimed by the next store open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from llmdeck.core import leftovers, paths, procs
from llmdeck.core.atomic import atomic_path
from llmdeck.core.store import ModelStore
from llmdeck.tuning.registry import Registry

# A stand-in for `llmdeck export` mid-quantize: the export's layout of temporaries (a work dir in the run
# directory, a staged quant and the atomic writer's file in the store directory), a long-running child started
# the way the quantizer is, then it waits for the child. Prints the child's pid once everything is in place.
EXPORT_LIKE = """
import sys
from pathlib import Path
from llmdeck.core import procs
models, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
work = run_dir / procs.owned_name("export", "3fa9c0d1")
(work / "hf").mkdir(parents=True)
(work / "hf" / "model.safetensors").write_bytes(b"w" * 3000)
(models / procs.owned_name("export", "mine.q4_k_m.gguf")).write_bytes(b"q" * 1000)
(models / f".mine.f16.gguf.{procs.owner_tag()}-k2j4_x9q.tmp").write_bytes(b"t" * 24)
child = procs.spawn(["sleep", "600"])
print(child.pid, flush=True)
child.wait()
"""

SIGTERMED = """
import sys
from pathlib import Path
from llmdeck.core import procs
from llmdeck.core.atomic import atomic_path
with procs.cleanup_on_sigterm(), atomic_path(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"half")
    child = procs.spawn(["sleep", "600"])
    try:
        print(child.pid, tmp, flush=True)
        child.wait()
    finally:
        child.kill()
        child.wait()
"""


def _gone(pid: int, within_s: float = 5.0) -> bool:
    """True once `pid` has ended (gone or a zombie), polling briefly: a killed process takes a moment."""
    deadline = time.monotonic() + within_s
    while procs.start_time(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_kill_9_of_the_owner_kills_its_child_and_the_next_store_open_reclaims_its_temporaries(capsys):
    run_dir = paths.runs_dir() / "run-1"
    run_dir.mkdir()
    owner = _start(EXPORT_LIKE, str(paths.models_dir()), str(run_dir))
    assert owner.stdout is not None
    child_pid = int(owner.stdout.readline())
    assert len(list(paths.models_dir().iterdir())) == 2 and len(list(run_dir.iterdir())) == 1
    assert procs.start_time(child_pid) is not None  # the child runs while its parent does
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert _gone(child_pid), "the child outlived its kill -9'd parent"

    ModelStore()  # the store directory and the run directories: one line per dead owner
    assert capsys.readouterr().err == f"reclaimed 3.9 KB left by a killed export (pid {owner.pid})\n"
    assert not list(paths.models_dir().iterdir()) and not list(run_dir.iterdir())
    ModelStore(), Registry()
    assert capsys.readouterr().err == ""  # nothing left to say


def test_opening_the_run_registry_reclaims_too(capsys):
    run_dir = paths.runs_dir() / "run-2"
    (run_dir / ".export-1-1-3fa9c0d1" / "hf").mkdir(parents=True)
    (run_dir / ".export-1-1-3fa9c0d1" / "hf" / "config.json").write_bytes(b"{}" * 5)
    Registry()
    assert capsys.readouterr().err == "reclaimed 10 B left by a killed export (pid 1)\n"
    assert not list(run_dir.iterdir())


def test_sigterm_removes_the_commands_own_temporaries_and_stops_its_child(tmp_path):
    target = tmp_path / "model.gguf"
    owner = _start(SIGTERMED, str(target))
    assert owner.stdout is not None
    child_pid, tmp = owner.stdout.readline().split()
    assert Path(tmp).exists()
    owner.send_signal(signal.SIGTERM)
    owner.wait(timeout=30)
    assert _gone(int(child_pid))
    assert not list(tmp_path.iterdir())  # neither the half file nor the target


def test_a_live_owners_temporaries_are_left_alone(capsys):
    mine = paths.models_dir() / procs.owned_name("export", "mine.gguf")
    mine.write_bytes(b"x")
    sleeper = procs.spawn(["sleep", "600"])
    try:
        theirs = paths.models_dir() / f".quantize-{procs.owner_tag(sleeper.pid)}-theirs.gguf"
        theirs.write_bytes(b"y")
        ModelStore()
        assert mine.exists() and theirs.exists() and capsys.readouterr().err == ""
    finally:
        sleeper.kill()
        sleeper.wait()
    ModelStore()
    assert not theirs.exists() and mine.exists()
    assert capsys.readouterr().err == f"reclaimed 1 B left by a killed quantize (pid {sleeper.pid})\n"


def test_a_reused_pid_does_not_protect_a_dead_owners_temporaries():
    """pid 1 is alive, but it did not start at tick 1: the owner named in the file is dead."""
    assert procs.start_time(1) != 1
    stale = paths.models_dir() / ".export-1-1-big.gguf"
    stale.write_bytes(b"z" * 10)
    assert [item.pid for item in leftovers.find_dead([paths.models_dir()])] == [1]
    ModelStore()
    assert not stale.exists()


def test_atomic_writes_carry_their_owner():
    with atomic_path(paths.home() / "config.toml") as tmp:
        match = leftovers.ATOMIC.match(tmp.name)
        assert match and int(match["pid"]) == os.getpid()
        assert int(match["start"]) == procs.start_time(os.getpid())
        assert leftovers.find_dead([paths.home()]) == []  # ours: we are alive


class _TermedInFinalizer:
    """Its finalizer receives SIGTERM and keeps running Python code, so the handler's `Terminated` is raised
    inside `__del__`, where Python prints and drops it: as when the GC ran a library's finalizer (CI saw an
    export merge finish with exit 0 after `regex`'s `SetBase.__del__` swallowed it)."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))  # bytecode boundaries: the handler runs here, inside the finalizer


def test_sigterm_swallowed_by_a_finalizer_still_ends_the_block(capsys):
    previous_hook = sys.unraisablehook
    deadline = time.monotonic() + 10.0
    try:
        with procs.cleanup_on_sigterm():
            _TermedInFinalizer()  # dropped at once: its __del__ runs here
            while time.monotonic() < deadline:  # the command's work goes on, as the merge did
                time.sleep(0.01)
    except procs.Terminated:
        pass
    else:
        raise AssertionError("the block ran to its end after SIGTERM")
    assert "Terminated" not in capsys.readouterr().err  # raised again, not only printed as ignored
    assert sys.unraisablehook is previous_hook  # the block puts back what it changed
