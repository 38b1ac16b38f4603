"""Run untrusted Python (LLM-written code) in a sandbox, for the agent's `python` tool and the verify pair.

Every run gets a fresh temp work dir, a minimal environment (nothing of the user's: no HOME, no keys),
stdin closed, its own process group, and limits: wall and CPU time, memory (RLIMIT_AS), file size, open
files, processes and output. A supervisor (`sandbox_supervisor.py`) runs inside the isolation, starts the
program, enforces the wall time and the process count, and kills everything the program left behind.

Isolation tiers, strongest available first (`SandboxResult.isolation` says which one ran):
- "bubblewrap": `bwrap`, every namespace unshared, every capability dropped.
- "namespaces": `unshare` (user, mount, pid, net, ipc, uts namespaces); the supervisor pivots into the new
  root and the program runs with no capability (it cannot remount, unmount or mount anything).
- "process": no namespaces available: limits, minimal environment and process-group kill only; the code
  can reach the network and read and write what the user can. The verdict says so.
The two isolating tiers have no network and give the program the same new root, built from nothing
(`exposed_paths`, `masked_paths`): read-only the system dirs (/usr, /bin, /sbin, /lib*, /etc/ld.so.cache,
/etc/localtime, /etc/alternatives) and the interpreter (its binary, its standard library with site-packages
emptied, the shared libraries `ldd` finds, each at its own path); the work dir read-write; /dev with null,
zero, full, random, urandom; a /proc of its own pid namespace; an empty /tmp. Nothing else exists there:
not the rest of /etc (passwords and their hashes), /root, /home, /work, /var, /opt, other checkouts, this
one or its venv, except the directories on the way down to an interpreter that lives in one of them
(~/.pyenv/versions/...). What they leave visible: everything under the system dirs (installed programs and
libraries, /usr/share, /usr/local), and in /proc, beside the sandbox's own processes, the kernel's files
(/proc/cpuinfo, /proc/meminfo and the like).
Root ignores RLIMIT_NPROC, so fork bombs are stopped by the supervisor's process count and the kill.
"""

from __future__ import annotations

import ast
import contextlib
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

from llmdeck.core import procs
from llmdeck.core.errors import BadInput, LlmdeckError

TIERS = ("bubblewrap", "namespaces", "process")
SUPERVISOR = Path(__file__).resolve().with_name("sandbox_supervisor.py")
SUPERVISOR_INSIDE = "/run/llmdeck-sandbox/supervisor.py"  # where bubblewrap shows it (not under the checkout)
SETUP_GRACE_S = 10.0  # beyond the wall limit, for namespace set-up and reaping, before the parent kills all
SYSTEM_PATHS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/alternatives",
)  # the last: links that /usr/bin's commands go through
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
TIER_NOTES = {
    "bubblewrap": "bubblewrap: no network, no capabilities; a new root with only the system dirs and the interpreter"
    " (read-only), the work dir, /dev/null-style devices, private /proc and /tmp; the rest of /etc,"
    " the homes, /work and the checkouts do not exist there",
    "namespaces": "namespaces (unshare): no network, no capabilities; a new root with only the system dirs and the"
    " interpreter (read-only), the work dir, /dev/null-style devices, private /proc and /tmp; the rest"
    " of /etc, the homes, /work and the checkouts do not exist there",
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


def run_python(
    code: str,
    *,
    files: dict[str, str] | None = None,
    limits: SandboxLimits | None = None,
    isolation: str = "auto",
    script_name: str = "main.py",
    read_back: tuple[str, ...] = (),
) -> SandboxResult:
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
    if isolation == "process":
        return isolation  # needs nothing: no probe of the others (seconds on a busy machine)
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
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TMPDIR": "/tmp" if tier != "process" else workdir,
    }


def exposed_paths() -> tuple[str, ...]:
    """What the isolating tiers show the program, read-only, at the same paths: the system dirs, then the
    interpreter's pieces that lie outside them (so a venv or a checkout around the interpreter stays hidden)."""
    kept = [path for path in SYSTEM_PATHS if os.path.lexists(path)]
    for path in _interpreter_layout()[0]:
        if not _under(path, kept):
            kept.append(path)
    return tuple(kept)


def masked_paths() -> tuple[str, ...]:
    """Directories inside the exposed ones covered by an empty read-only tmpfs: the interpreter's own
    site-packages (`-S` never imports them)."""
    return _interpreter_layout()[1]


@functools.cache
def _interpreter_layout() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(paths to expose, paths to mask): the interpreter's binary, `sys.path` of `python -I -S` (the standard
    library) and the shared libraries the binary and its extension modules load (`ldd`); its site-packages."""
    binary = _interpreter()
    question = "import sys, sysconfig as c; print(repr([sys.path, *map(c.get_config_var, ('LIBDIR', 'INSTSONAME'))]))"
    try:
        probe = subprocess.run([binary, "-I", "-S", "-c", question], capture_output=True, text=True, env={}, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LlmdeckError(f"sandbox: could not ask the interpreter for its paths ({exc})") from None
    if probe.returncode != 0:
        raise LlmdeckError(f"sandbox: could not ask the interpreter for its paths ({probe.stderr.strip()})")
    search_path, libdir, soname = ast.literal_eval(probe.stdout)
    stdlib = [os.path.realpath(p) for p in search_path if os.path.exists(p)]
    libraries = _shared_libraries([binary, *(str(f) for p in stdlib for f in Path(p).glob("*.so"))])
    if not libraries and libdir and soname and os.path.exists(os.path.join(libdir, soname)):
        libraries = [os.path.join(libdir, soname)]  # no ldd: at least libpython
    venv_config = [
        p for p in (Path(binary).parent / "pyvenv.cfg", Path(binary).parent.parent / "pyvenv.cfg") if p.is_file()
    ][:1]  # a venv's copied binary finds its stdlib through it
    site = [os.path.join(p, "site-packages") for p in stdlib if os.path.isdir(os.path.join(p, "site-packages"))]
    return tuple(sorted({binary, *stdlib, *libraries, *map(str, venv_config)})), tuple(site)


def _shared_libraries(files: list[str]) -> list[str]:
    """The libraries `ldd` resolves for `files` (one call), as the loader will open them."""
    if shutil.which("ldd") is None:
        return []
    try:
        listing = subprocess.run(["ldd", *files], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = set()
    for line in listing.splitlines():
        words = line.split()
        path = words[2] if len(words) > 2 and words[1] == "=>" else words[0] if words else ""
        if path.startswith("/") and not path.endswith(":"):
            found.add(path)
    return sorted(found)


def _under(path: str, parents: list[str]) -> bool:
    """Whether `path` is one of `parents` or lies inside one, by name (the new root keeps /lib -> usr/lib)."""
    return any(path == parent or path.startswith(parent.rstrip("/") + "/") for parent in parents)


def _command(tier: str, workdir: str, supervisor_config: dict) -> list[str]:
    if tier == "namespaces":
        supervisor = [_interpreter(), "-I", "-S", str(SUPERVISOR), json.dumps(supervisor_config)]
        return [
            shutil.which("unshare") or "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--net",
            "--ipc",
            "--uts",
            "--",
            *supervisor,
        ]
    if tier == "bubblewrap":
        supervisor = [_interpreter(), "-I", "-S", SUPERVISOR_INSIDE, json.dumps(supervisor_config)]
        binds: list[str] = []
        for path in exposed_paths():
            link = os.path.dirname(path) == "/" and os.path.islink(path)  # /lib -> usr/lib stays a link
            binds += ["--symlink", os.readlink(path), path] if link else ["--ro-bind", path, path]
        for path in masked_paths():
            binds += ["--tmpfs", path, "--remount-ro", path]
        return [
            shutil.which("bwrap") or "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-all",
            "--cap-drop",
            "ALL",
            *binds,
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--bind",
            workdir,
            workdir,
            "--ro-bind",
            str(SUPERVISOR),
            SUPERVISOR_INSIDE,
            "--remount-ro",
            "/",
            "--chdir",
            workdir,
            "--",
            *supervisor,
        ]
    return [_interpreter(), "-I", "-S", str(SUPERVISOR), json.dumps(supervisor_config)]


def _run(tier: str, workdir: str, command: list[str], limits: SandboxLimits) -> SandboxResult:
    new_root = tempfile.mkdtemp(prefix="llmdeck-sandbox-root-") if tier == "namespaces" else None
    try:
        return _run_in(tier, workdir, command, limits, new_root)
    finally:
        if new_root:
            with contextlib.suppress(OSError):
                os.rmdir(new_root)  # only a mount point, empty on the host (the mounts live in the namespace)


def _run_in(tier: str, workdir: str, command: list[str], limits: SandboxLimits, new_root: str | None) -> SandboxResult:
    report_read, report_write = os.pipe()
    config = {
        "command": command,
        "workdir": workdir,
        "limits": asdict(limits),
        "report_fd": report_write,
        "env": _minimal_env(workdir, tier),
        "poll_s": 0.05 if tier == "process" else 0.01,
        # RLIMIT_NPROC counts the processes of a uid in a user namespace: only the sandbox's own there; without
        # one it would count all of the user's processes, and root ignores it anyway
        "limit_nproc": tier != "process" and os.getuid() != 0,
    }
    if new_root:
        config["new_root"] = {
            "root": new_root,
            "expose": list(exposed_paths()),
            "mask": list(masked_paths()),
            "devices": list(DEVICES),
        }
    try:
        process = procs.spawn(  # dies with us: a killed verify or loop never leaves a sandbox running
            _command(tier, workdir, config),
            cwd=workdir,
            env=_minimal_env(workdir, tier),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(report_write,),
            start_new_session=True,
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
    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None and stderr is not None  # started with stdout=PIPE, stderr=PIPE
    selector = selectors.DefaultSelector()
    buffers = {"stdout": bytearray(), "stderr": bytearray(), "report": bytearray()}
    selector.register(stdout, selectors.EVENT_READ, "stdout")
    selector.register(stderr, selectors.EVENT_READ, "stderr")
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
        for stream in (stdout, stderr):
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


def _result(
    tier: str,
    returncode: int,
    streams: tuple[bytes, bytes],
    report: dict | None,
    cut: str | None,
    seconds: float,
    limits: SandboxLimits,
) -> SandboxResult:
    stdout, stderr = (_decode(s) for s in streams)
    if report and "error" in report:
        raise LlmdeckError(f"sandbox ({tier}): {report['error']}")
    total = len(streams[0]) + len(streams[1])
    truncated = cut == "output" or total > limits.output_bytes
    if truncated:  # keep the head of each stream, within the cap
        half = limits.output_bytes // 2
        stdout, stderr = stdout[:half], stderr[:half]
    if report is None:  # the supervisor never reported: killed from outside or by the code
        return SandboxResult(
            None, stdout, stderr, round(seconds, 4), tier, limit=cut or "killed", output_truncated=truncated
        )
    code = report["returncode"]
    limit = cut or report.get("limit")
    if limit is None and code == 1 and "MemoryError" in stderr[-2000:]:
        limit = "memory"
    return SandboxResult(
        exit_code=code if code >= 0 else None,
        stdout=stdout,
        stderr=stderr,
        seconds=report["seconds"],
        isolation=tier,
        limit=limit,
        signal=-code if code < 0 else None,
        output_truncated=truncated,
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
