"""Run untrusted Python (LLM-written code) in a sandbox, for the agent's `python` tool and the verify pair.

Every run gets a fresh temp work dir, a minimal environment (nothing of the user's: no HOME, no keys),
stdin closed, its own process group, and limits: wall and CPU time, memory (RLIMIT_AS), file size, open
files, processes and output. A supervisor (`sandbox_supervisor.py`) runs inside the isolation, starts the
program, enforces the wall time and the process count, and kills everything the program left behind.

Isolation tiers, strongest available first (`SandboxResult.isolation` says which one ran):
- "bubblewrap": `bwrap` with every namespace unshared: no network, only the system directories and the
  interpreter visible (read-only), the work dir the one writable place, private /proc, /dev and /tmp.
- "namespaces": `unshare` (user, mount, pid, net, ipc, uts namespaces): no network, the whole file system
  read-only except the work dir, home directories, /tmp and /run hidden behind empty tmpfs, private /proc;
  other files stay readable.
- "process": no namespaces available: limits, minimal environment and process-group kill only; the code
  can reach the network and read and write what the user can. The verdict says so.
Root ignores RLIMIT_NPROC, so fork bombs are stopped by the supervisor's process count and the kill.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError

TIERS = ("bubblewrap", "namespaces", "process")
SUPERVISOR = Path(__file__).resolve().with_name("sandbox_supervisor.py")
SETUP_GRACE_S = 10.0  # beyond the wall limit, for namespace set-up and reaping, before the parent kills all
HIDDEN_DIRS = ("/root", "/home", "/tmp", "/var/tmp", "/dev/shm", "/run", "/mnt", "/media", "/srv")
BWRAP_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache",
                     "/etc/localtime", "/etc/alternatives")
TIER_NOTES = {
    "bubblewrap": "bubblewrap: no network, only system dirs and the interpreter visible read-only, private /proc",
    "namespaces": "namespaces (unshare): no network, file system read-only except the work dir, homes hidden,"
                  " private /proc",
    "process": "process only: resource limits and a minimal environment; NO network or file-system isolation",
}


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    wall_s: float = 10.0  # wall-clock seconds before the whole run is killed
    cpu_s: int = 10  # CPU seconds per process (RLIMIT_CPU)
    memory_mb: int = 512  # address space per process (RLIMIT_AS)
    file_size_mb: int = 16  # largest file the code may write (RLIMIT_FSIZE)
    open_files: int = 64  # open file descriptors per process (RLIMIT_NOFILE)
    max_processes: int = 32  # processes at once; more stops the run (fork bombs)
    output_bytes: int = 64 * 1024  # stdout + stderr kept; more stops the run


@dataclass
class SandboxResult:
    """What a run did: exit code (None when killed by a signal), output, time, and which limit stopped it."""

    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    isolation: str
    limit: str | None = None  # "wall time", "cpu time", "memory", "file size", "processes", "output", "killed"
    signal: int | None = None
    output_truncated: bool = False
    leftover_processes: int = 0  # processes the code left running (daemons), killed after it ended
    files: dict[str, str] = field(default_factory=dict)  # requested output files read back from the work dir

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None

    def summary(self) -> str:
        """One line: how it ended."""
        if self.limit:
            return f"stopped: {self.limit} limit ({self.seconds:.2f} s)"
        if self.exit_code is None:
            return f"killed by signal {self.signal} ({self.seconds:.2f} s)"
        return f"exit code {self.exit_code} ({self.seconds:.2f} s)"

    def to_dict(self) -> dict:
        return asdict(self)


def run_python(code: str, *, files: dict[str, str] | None = None, limits: SandboxLimits | None = None,
               isolation: str = "auto", script_name: str = "main.py", read_back: tuple[str, ...] = ()) -> SandboxResult:
    """Run `code` as `script_name` (other `files` beside it) with the standard library only (`python -I -S`)."""
    limits = limits or SandboxLimits()
    tier = choose_tier(isolation)
    workdir = tempfile.mkdtemp(prefix="llmdeck-sandbox-")
    try:
        for name, text in {**(files or {}), script_name: code}.items():
            target = Path(workdir, name)
            if target.resolve().parent != Path(workdir).resolve():
                raise BadInput(f"sandbox file {name!r}: expected a plain file name")
            target.write_text(text, encoding="utf-8")
        command = [_interpreter(), "-I", "-S", script_name]
        result = _run(tier, workdir, command, limits)
        result.files = {name: _read_text(Path(workdir, name)) for name in read_back if Path(workdir, name).is_file()}
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def choose_tier(isolation: str = "auto") -> str:
    """The strongest tier that works here, or the one asked for (BadInput when it is not available)."""
    available = available_tiers()
    if isolation == "auto":
        return available[0]
    if isolation not in TIERS:
        raise BadInput(f"sandbox isolation {isolation!r}: expected auto or one of {', '.join(TIERS)}")
    if isolation not in available:
        raise BadInput(f"sandbox isolation {isolation!r} is not available here (available: {', '.join(available)})")
    return isolation


@functools.cache
def available_tiers() -> tuple[str, ...]:
    """Tiers that work on this machine, strongest first (probed once per process)."""
    tiers = [tier for tier in ("bubblewrap", "namespaces") if _probe(tier)]
    return (*tiers, "process")


def _probe(tier: str) -> bool:
    tool = "bwrap" if tier == "bubblewrap" else "unshare"
    if shutil.which(tool) is None or not sys.platform.startswith("linux"):
        return False
    workdir = tempfile.mkdtemp(prefix="llmdeck-sandbox-probe-")
    try:
        result = _run(tier, workdir, [_interpreter(), "-I", "-S", "-c", "print('ok')"], SandboxLimits(wall_s=10))
        return result.exit_code == 0 and result.stdout.strip() == "ok"
    except LlmdeckError:
        return False
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _interpreter() -> str:
    """The base interpreter (a venv's python is a link to it); with -I -S it needs no venv."""
    return os.path.realpath(sys.executable)


def _minimal_env(workdir: str, tier: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": "/tmp" if tier != "process" else workdir}


def _hidden_dirs() -> list[str]:
    """Directories the namespaces tier covers with an empty tmpfs: homes, temp dirs, runtime sockets, ours."""
    extra = [os.environ.get("HOME"), os.environ.get("XDG_RUNTIME_DIR"), os.environ.get("LLMDECK_HOME")]
    return [*HIDDEN_DIRS, *(os.path.realpath(p) for p in extra if p and os.path.isabs(p))]


def _exposed_paths() -> list[str]:
    """What the program needs from hidden places: the interpreter's installation and the supervisor."""
    return [os.path.realpath(sys.base_prefix), str(SUPERVISOR)]


def _command(tier: str, workdir: str, supervisor_config: dict) -> list[str]:
    supervisor = [_interpreter(), "-I", "-S", str(SUPERVISOR), json.dumps(supervisor_config)]
    if tier == "namespaces":
        return ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                "--net", "--ipc", "--uts", "--", *supervisor]
    if tier == "bubblewrap":
        binds = [arg for path in BWRAP_SYSTEM_DIRS for arg in ("--ro-bind-try", path, path)]
        binds += [arg for path in _exposed_paths() for arg in ("--ro-bind", path, path)]
        return ["bwrap", "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL", *binds,
                "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--bind", workdir, workdir,
                "--chdir", workdir, "--", *supervisor]
    return supervisor


def _run(tier: str, workdir: str, command: list[str], limits: SandboxLimits) -> SandboxResult:
    report_read, report_write = os.pipe()
    config = {
        "command": command, "workdir": workdir, "limits": asdict(limits), "report_fd": report_write,
        "env": _minimal_env(workdir, tier), "isolate_files": tier == "namespaces", "hide": _hidden_dirs(),
        "expose": _exposed_paths(), "poll_s": 0.05 if tier == "process" else 0.01,
        # RLIMIT_NPROC counts the processes of a uid in a user namespace: only the sandbox's own there; without
        # one it would count all of the user's processes, and root ignores it anyway
        "limit_nproc": tier != "process" and os.getuid() != 0,
    }
    try:
        process = subprocess.Popen(
            _command(tier, workdir, config), cwd=workdir, env=_minimal_env(workdir, tier), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(report_write,), start_new_session=True,
        )
    except OSError as exc:
        os.close(report_read)
        raise LlmdeckError(f"sandbox: could not start ({exc})") from None
    finally:
        os.close(report_write)
    start = time.monotonic()
    streams, report, cut = _collect(process, report_read, limits, start)
    seconds = time.monotonic() - start
    return _result(tier, process.returncode, streams, report, cut, seconds, limits)


def _collect(process: subprocess.Popen, report_fd: int, limits: SandboxLimits, start: float):
    """Read stdout, stderr and the supervisor's report until all close; kill the whole group past the output
    cap or the wall limit (plus set-up grace). Returns (stdout, stderr bytes), the report, and why it was cut."""
    selector = selectors.DefaultSelector()
    buffers = {"stdout": bytearray(), "stderr": bytearray(), "report": bytearray()}
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    selector.register(report_fd, selectors.EVENT_READ, "report")
    cut = None
    deadline = start + limits.wall_s + SETUP_GRACE_S
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                cut = cut or "wall time"
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffers[key.data] += chunk
                if len(buffers["stdout"]) + len(buffers["stderr"]) > limits.output_bytes and cut is None:
                    cut = "output"
                    _kill_group(process)
    finally:
        selector.close()
        _kill_group(process)
        process.wait()
        os.close(report_fd)
        for stream in (process.stdout, process.stderr):
            stream.close()
    return (bytes(buffers["stdout"]), bytes(buffers["stderr"])), _parse_report(bytes(buffers["report"])), cut


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the sandbox's process group (for the namespace tiers, its pid namespace dies with it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _parse_report(raw: bytes) -> dict | None:
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None


def _result(tier: str, returncode: int, streams: tuple[bytes, bytes], report: dict | None, cut: str | None,
            seconds: float, limits: SandboxLimits) -> SandboxResult:
    stdout, stderr = (_decode(s) for s in streams)
    if report and "error" in report:
        raise LlmdeckError(f"sandbox ({tier}): {report['error']}")
    total = len(streams[0]) + len(streams[1])
    truncated = cut == "output" or total > limits.output_bytes
    if truncated:  # keep the head of each stream, within the cap
        half = limits.output_bytes // 2
        stdout, stderr = stdout[:half], stderr[:half]
    if report is None:  # the supervisor never reported: killed from outside or by the code
        return SandboxResult(None, stdout, stderr, round(seconds, 4), tier, limit=cut or "killed",
                             output_truncated=truncated)
    code = report["returncode"]
    limit = cut or report.get("limit")
    if limit is None and code == 1 and "MemoryError" in stderr[-2000:]:
        limit = "memory"
    return SandboxResult(
        exit_code=code if code >= 0 else None, stdout=stdout, stderr=stderr, seconds=report["seconds"],
        isolation=tier, limit=limit, signal=-code if code < 0 else None, output_truncated=truncated,
        leftover_processes=report.get("leftover_processes", 0),
    )


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _read_text(path: Path, limit: int = 1 << 20) -> str:
    with path.open("rb") as handle:
        return _decode(handle.read(limit))


def isolation_note(tier: str) -> str:
    """What a tier protects, for verdicts and `--json` output."""
    return TIER_NOTES[tier]
