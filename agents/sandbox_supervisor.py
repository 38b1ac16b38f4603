"""The sandbox's supervisor: run by path (`python -I -S sandbox_supervisor.py CONFIG_JSON`) inside the
isolation `agents.sandbox` chose, it prepares the file system (namespaces tier), starts the untrusted
program with resource limits in its own process group, watches wall time and the number of processes,
kills every process the program left behind (daemons included: the supervisor is their subreaper, or the
pid namespace's init), and writes one JSON report to the file descriptor the parent passed.

Standard library only, and nothing imported from llmdeck: it runs before and outside the package.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 16384, 1 << 18, 1 << 21, 1 << 24
MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
PR_SET_CHILD_SUBREAPER = 36
POLL_S = 0.01

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The file-system isolation could not be put in place (the parent then refuses this tier)."""


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: s.encode() if s is not None else None  # noqa: E731
    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        err = ctypes.get_errno()
        raise SetupError(f"mount {target}: {os.strerror(err)}")


def _mounts() -> list[tuple[str, int]]:
    """Every mount point with the per-mount flags a remount must keep (locked ones would refuse otherwise)."""
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # \040 for spaces
            flags = 0
            for option in fields[5].split(","):
                flags |= MOUNT_FLAGS.get(option, 0)
            found.append((point, flags))
    return found


def _isolate_files(workdir: str, hide: list[str], expose: list[str]) -> None:
    """Everything read-only; `hide` covered by empty tmpfs; `expose` (the interpreter) re-bound read-only
    where hidden; the work dir bound read-write at its own path."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = {path: os.open(path, os.O_PATH) for path in [workdir, *expose] if os.path.exists(path)}
    for point, flags in _mounts():
        if point == "/proc" or point.startswith("/proc/"):
            continue
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except SetupError:
            if os.path.ismount(point) and not os.access(point, os.W_OK):
                continue  # already read-only for us
            raise
    hidden: list[str] = []
    for path in sorted(set(hide), key=len):
        if os.path.isdir(path) and not any(path == h or path.startswith(h + "/") for h in hidden):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755")
            hidden.append(path)
    for path, fd in keep.items():
        if any(path == h or path.startswith(h + "/") for h in hidden):
            _bind(fd, path, writable=path == workdir)
        elif path == workdir:
            raise SetupError(f"{workdir}: the work dir must lie under a hidden directory")
        os.close(fd)  # an exposed path outside the hidden ones stays visible, read-only, where it is
    for path in hidden:  # no new top-level files in the hidden places, except /tmp-like ones
        if path not in ("/tmp", "/var/tmp", "/dev/shm"):
            _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64m,mode=0755")


def _bind(fd: int, path: str, writable: bool) -> None:
    """Bind what `fd` opened onto `path` (created inside a tmpfs), read-only unless `writable`."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()
    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY))


def _limit_child(limits: dict, limit_nproc: bool):
    def apply() -> None:
        os.setpgid(0, 0)
        os.nice(10)  # the supervisor stays responsive to a fork bomb
        megabyte = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * megabyte,) * 2)
        resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mb"] * megabyte,) * 2)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limit_nproc:  # counted per user namespace and uid; root ignores it (the parent decides)
            resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"],) * 2)
    return apply


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state), for every process this /proc shows."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            state, parent = stat[stat.rindex(b")") + 2:].split()[:2]
            table[int(entry)] = (int(parent), state.decode())
    return table


def _reap_orphans(table: dict[int, tuple[int, str]], child_pid: int) -> None:
    """Reap exited orphans re-parented to us (not the program: Popen keeps its status), so they stop counting."""
    for pid, (parent, state) in table.items():
        if parent == os.getpid() and state == "Z" and pid != child_pid:
            with contextlib.suppress(OSError):
                os.waitpid(pid, os.WNOHANG)


def _descendants(root: int, table: dict[int, tuple[int, str]] | None = None) -> list[int]:
    table = table if table is not None else _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _kill_everything(child: subprocess.Popen) -> int:
    """SIGKILL the program's group and every descendant left (re-parented to us); reap them all (the program
    through Popen, so its exit status is kept). Returns how many other processes were killed."""
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    killed: set[int] = set()
    for _ in range(200):
        if os.getpid() == 1:  # init of a pid namespace: -1 reaches every other process in it
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        left = _descendants(os.getpid())
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        killed.update(left)
        _reap()
        if not left:
            break
        time.sleep(POLL_S)
    return len(killed)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def supervise(config: dict) -> dict:
    limits = config["limits"]
    if config.get("isolate_files"):
        _isolate_files(config["workdir"], config.get("hide", []), config.get("expose", []))
    os.chdir(config["workdir"])
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    start = time.monotonic()
    child = subprocess.Popen(
        config["command"], cwd=config["workdir"], env=config["env"], stdin=subprocess.DEVNULL,
        preexec_fn=_limit_child(limits, config.get("limit_nproc", False)), close_fds=True,
    )
    limit = None
    peak_processes = 1
    while child.poll() is None:
        elapsed = time.monotonic() - start
        if elapsed > limits["wall_s"]:
            limit = "wall time"
            break
        table = _process_table()
        _reap_orphans(table, child.pid)
        count = len(_descendants(os.getpid(), table))
        peak_processes = max(peak_processes, count)
        if count > limits["max_processes"]:
            limit = "processes"
            break
        time.sleep(config.get("poll_s", POLL_S))
    seconds = time.monotonic() - start
    leftovers = _kill_everything(child)
    returncode = child.returncode
    if limit is None and returncode in (-signal.SIGXCPU, -signal.SIGKILL) and seconds < limits["wall_s"]:
        limit = "cpu time" if returncode == -signal.SIGXCPU or _cpu_exhausted(limits) else None
    if limit is None and returncode == -signal.SIGXFSZ:
        limit = "file size"
    return {"returncode": returncode, "limit": limit, "seconds": round(seconds, 4), "leftover_processes": leftovers,
            "peak_processes": peak_processes}


def _cpu_exhausted(limits: dict) -> bool:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime >= limits["cpu_s"]


def main() -> int:
    config = json.loads(sys.argv[1])
    report = os.fdopen(config["report_fd"], "w")
    try:
        result = supervise(config)
    except (SetupError, OSError) as exc:
        result = {"error": f"sandbox setup failed: {exc}"}
    report.write(json.dumps(result))
    report.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
