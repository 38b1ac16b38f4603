"""Hostile snippets against the sandbox, on every isolation tier this machine has: each one is contained
and reported, and the host is unaffected (no leftover process, no file written, no secret read)."""

from __future__ import annotations

import os
import socket
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from llmdeck.agents.sandbox import SandboxLimits, available_tiers, run_python

pytestmark = pytest.mark.slow

ISOLATING = [tier for tier in available_tiers() if tier != "process"]
ALL_TIERS = list(available_tiers())
FAST_LIMITS = SandboxLimits(wall_s=3, cpu_s=2, memory_mb=256, output_bytes=32 * 1024, max_processes=16)


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def processes_running(marker: str) -> list[int]:
    """Host pids whose command line mentions `marker` (a unique script name)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


def processes_left(marker: str, within_s: float = 30.0) -> list[int]:
    """Host pids still running `marker` once they had up to `within_s` to go (a killed process is reaped a moment
    after the run returns; a loaded machine takes longer)."""
    deadline = time.monotonic() + within_s
    while (found := processes_running(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def unique_script() -> str:
    return f"snippet_{uuid.uuid4().hex[:10]}.py"


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_an_infinite_loop_is_stopped_by_the_time_limits(tier):
    result = run_python("while True:\n    pass\n", limits=FAST_LIMITS, isolation=tier)
    assert result.limit in ("cpu time", "wall time")  # stopped by a limit (a hang would hit the test timeout)
    assert result.exit_code is None and not result.ok


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_a_fork_bomb_is_stopped_and_leaves_no_process(tier):
    script = unique_script()
    bomb = code("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)
    result = run_python(bomb, limits=FAST_LIMITS, isolation=tier, script_name=script)
    assert result.limit in ("processes", "wall time", "cpu time")
    assert processes_left(script) == []


@pytest.mark.parametrize("tier", ALL_TIERS)
@pytest.mark.parametrize(
    "bomb", ["x = bytearray(8 * 1024 ** 3)", "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))"]
)
def test_a_memory_bomb_hits_the_memory_limit(tier, bomb):
    result = run_python(bomb, limits=FAST_LIMITS, isolation=tier)
    assert result.limit == "memory"
    assert "MemoryError" in result.stderr


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_a_gigabyte_of_output_is_cut_at_the_cap(tier):
    flood = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    result = run_python(flood, limits=FAST_LIMITS, isolation=tier)
    assert result.limit == "output" and result.output_truncated
    assert len(result.stdout) + len(result.stderr) <= FAST_LIMITS.output_bytes


@pytest.mark.parametrize("tier", ISOLATING)
def test_writing_outside_the_work_dir_changes_nothing_on_the_host(tier, tmp_path):
    repo_target = Path(__file__).resolve().parent / f"escape_{uuid.uuid4().hex[:8]}.txt"
    targets = [
        tmp_path / "escape.txt",
        repo_target,
        Path(f"/etc/llmdeck-escape-{uuid.uuid4().hex[:8]}"),
        Path(f"/var/tmp/llmdeck-escape-{uuid.uuid4().hex[:8]}"),
    ]
    attempt = code(f"""
        written = []
        for path in {[str(t) for t in targets]!r}:
            try:
                with open(path, "w") as handle:
                    handle.write("escaped")
                written.append(path)
            except OSError as exc:
                print("refused", path, type(exc).__name__)
        print("WRITTEN", written)
        open("inside.txt", "w").write("fine")
    """)
    result = run_python(attempt, limits=FAST_LIMITS, isolation=tier, read_back=("inside.txt",))
    assert result.exit_code == 0, result.stderr
    assert result.files == {"inside.txt": "fine"}  # the work dir itself is writable
    for target in targets:
        assert not target.exists(), target
    assert result.stdout.count("refused") == len(targets)  # none of their directories exists in the new root


@pytest.mark.parametrize("tier", ISOLATING)
def test_secrets_of_the_user_never_reach_the_code(tier, tmp_path, monkeypatch):
    secret = f"SECRET-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(secret)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LLMDECK_PLANTED_TOKEN", secret)
    snoop = code(f"""
        import os, glob
        print(dict(os.environ))
        for path in [os.path.expanduser("~/.ssh/id_rsa"), {str(home / ".ssh" / "id_rsa")!r}, "/root/.ssh/id_rsa",
                     *glob.glob("/proc/*/environ"), *glob.glob("/proc/*/cmdline")]:
            try:
                print(path, open(path, "rb").read()[:4000])
            except OSError as exc:
                print(path, type(exc).__name__)
    """)
    result = run_python(snoop, limits=FAST_LIMITS, isolation=tier)
    assert result.exit_code == 0, result.stderr
    assert "LLMDECK_PLANTED_TOKEN" not in result.stdout
    assert secret not in result.stdout + result.stderr
    assert "HOME" not in result.stdout.splitlines()[0]


@pytest.mark.parametrize("tier", ISOLATING)
def test_no_network_neither_internet_nor_a_loopback_port_of_the_host(tier):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    port = server.getsockname()[1]
    dial = code(f"""
        import socket
        for address in [("1.1.1.1", 80), ("8.8.8.8", 53), ("127.0.0.1", {port})]:
            try:
                socket.create_connection(address, timeout=2).close()
                print("CONNECTED", address)
            except OSError as exc:
                print("refused", address, type(exc).__name__)
    """)
    try:
        result = run_python(dial, limits=SandboxLimits(wall_s=10), isolation=tier)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody knocked
    finally:
        server.close()
    assert result.exit_code == 0, result.stderr
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("refused") == 3


@pytest.mark.parametrize("tier", ISOLATING)
def test_killing_the_parent_only_ends_the_sandbox(tier):
    patricide = code("""
        import os, signal
        for pid in [os.getppid(), 1, *(int(p) for p in os.listdir("/proc") if p.isdigit())]:
            if pid not in (0, os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                    print("signalled", pid)
                except OSError as exc:
                    print("could not signal", pid, type(exc).__name__)
        print("still here")
    """)
    script = unique_script()
    result = run_python(patricide, limits=FAST_LIMITS, isolation=tier, script_name=script)
    assert os.getppid() > 1  # this test process and its parent live
    if tier == "namespaces":  # the supervisor is the pid namespace's init: signals from inside cannot kill it
        assert (result.exit_code, result.limit) == (0, None) and result.stdout.endswith("still here\n")
    else:  # bubblewrap: the supervisor can be killed; the namespace dies with it and the run says so
        assert (result.exit_code, result.limit) == (None, "killed")
    assert processes_left(script) == []
    assert run_python("print(6 * 7)", isolation=tier).stdout == "42\n"  # the sandbox still works


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_a_daemon_does_not_outlive_the_run(tier):
    script = unique_script()
    daemon = code("""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                sys.stdout.close(); sys.stderr.close()
                time.sleep(60)
            os._exit(0)
        print("parent leaves")
    """)
    result = run_python(daemon, limits=FAST_LIMITS, isolation=tier, script_name=script)
    # the run ended with its parent, not after the daemon's 60 s sleep (that would be the 3 s wall-time limit)
    assert result.exit_code == 0 and result.limit is None and result.stdout == "parent leaves\n"
    assert processes_left(script) == []
    assert result.leftover_processes >= 1


KILLED_PARENT = """
import sys
from llmdeck.agents.sandbox import SandboxLimits, run_python
code = "import time\\ntime.sleep(100)\\n"  # writes nothing: no broken pipe ends it early
run_python(code, limits=SandboxLimits(wall_s=100, cpu_s=10), isolation=sys.argv[1], script_name=sys.argv[2])
"""


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_a_kill_9_of_llmdeck_ends_the_sandboxed_program(tier):
    """`kill -9` of the process running the sandbox (verify, loop, an agent): its program does not run on."""
    import subprocess
    import sys

    script = unique_script()
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, tier, script])
    deadline = time.monotonic() + 60

    def program_running() -> bool:  # the program itself: not its supervisor, not the parent (both name it too)
        return any(
            pid != parent.pid and b"supervisor" not in Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in processes_running(script)
        )

    while not program_running():
        assert time.monotonic() < deadline and parent.poll() is None, "the sandboxed program did not start"
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    assert processes_left(script) == []
