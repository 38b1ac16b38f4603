"""The sandbox's supervisor: run by path (`python -I -S sandbox_supervisor.py CONFIG_JSON`) inside the
isolation `agents.sandbox` chose, it prepares the file system (namespaces tier: a new root holding only what
the parent listed, then pivot_root into it, the old root unmounted), starts the untrusted
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
MS_REC, MS_PRIVATE, MS_RELATIME = 16384, 1 << 18, 1 << 21
# statvfs flags of a mount -> the mount(2) flags a remount must repeat (a user namespace cannot clear locked ones)
KEPT_FLAGS = {
    os.ST_RDONLY: MS_RDONLY,
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: MS_NOEXEC,
    os.ST_NOATIME: MS_NOATIME,
    os.ST_NODIRATIME: MS_NODIRATIME,
    os.ST_RELATIME: MS_RELATIME,
}
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 36, 24, 38, 1
SYS_PIVOT_ROOT = {
    "x86_64": 155,
    "aarch64": 41,
    "riscv64": 41,
    "ppc64le": 203,
    "ppc64": 203,
    "s390x": 217,
    "i686": 217,
    "i386": 217,
    "armv7l": 218,
    "armv6l": 218,
    "loongarch64": 41,
}
POLL_S = 0.01

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The file-system isolation could not be put in place (the parent then refuses this tier)."""


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: s.encode() if s is not None else None  # noqa: E731
    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        err = ctypes.get_errno()
        raise SetupError(f"mount {target}: {os.strerror(err)}")


def _enter_new_root(root: str, workdir: str, expose: list[str], mask: list[str], devices: list[str]) -> None:
    """Build the program's root on a tmpfs at `root` (an empty host dir): `expose` bound read-only at their paths
    (a top-level symlink such as /lib -> usr/lib copied as a link), `mask` covered by an empty read-only tmpfs,
    `devices` bound into /dev, a fresh /proc, an empty /tmp, the work dir read-write; then pivot into it and
    detach the old root, so nothing else of the host is reachable."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path in expose:
        if os.path.dirname(path) == "/" and os.path.islink(path):
            os.symlink(os.readlink(path), root + path)
        elif os.path.exists(path):
            _bind(path, root + path, writable=False)
    for path in mask:
        if os.path.isdir(root + path):
            _mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0755")
    _make_dev(root, devices)
    os.makedirs(root + "/proc")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/tmp", exist_ok=True)
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    _bind(workdir, root + workdir, writable=True)
    _pivot_root(root)
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _make_dev(root: str, devices: list[str]) -> None:
    """/dev with the given device nodes bound from the host, the usual fd links, and a small /dev/shm."""
    os.makedirs(root + "/dev")
    for device in devices:
        if os.path.exists(device):
            _bind(device, root + device, writable=True)
    for name, target in {
        "fd": "/proc/self/fd",
        "stdin": "/proc/self/fd/0",
        "stdout": "/proc/self/fd/1",
        "stderr": "/proc/self/fd/2",
    }.items():
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/dev/shm")
    _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")


def _bind(source: str, target: str, writable: bool) -> None:
    """Bind `source` onto `target` (created in the new root), read-only unless `writable`, nosuid."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(source, target, None, MS_BIND | MS_REC)
    current = os.statvfs(target).f_flag
    flags = MS_NOSUID | (0 if writable else MS_RDONLY)
    for statvfs_flag, mount_flag in KEPT_FLAGS.items():
        flags |= mount_flag if current & statvfs_flag else 0
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags)


def _pivot_root(root: str) -> None:
    """Make `root` the root of this mount namespace and unmount the old one (pivot_root(2), then umount2)."""
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise SetupError(f"pivot_root: unknown system call number on {os.uname().machine}")
    os.chdir(root)
    if _libc.syscall(number, b".", b".") != 0:  # the old root is stacked on top of the new one, at /
        raise SetupError(f"pivot_root: {os.strerror(ctypes.get_errno())}")
    if _libc.umount2(b".", MNT_DETACH) != 0:
        raise SetupError(f"unmount the old root: {os.strerror(ctypes.get_errno())}")
    os.chdir("/")


def _drop_capabilities() -> None:
    """Empty the bounding set, so the program (uid 0 of the user namespace) execs with no capability: it cannot
    remount, unmount or mount anything, nor override file permissions; no new privileges either."""
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for capability in range(last + 1):
        if _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"drop capability {capability}")
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _limit_child(limits: dict, limit_nproc: bool, drop_capabilities: bool):
    def apply() -> None:
        if drop_capabilities:
            _drop_capabilities()
        os.setpgid(0, 0)
        _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # SIGKILL when the supervisor dies (it dies with llmdeck)
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
            state, parent = stat[stat.rindex(b")") + 2 :].split()[:2]
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
    new_root = config.get("new_root")
    if new_root:
        _enter_new_root(new_root["root"], config["workdir"], new_root["expose"], new_root["mask"], new_root["devices"])
    os.chdir(config["workdir"])
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    start = time.monotonic()
    child = subprocess.Popen(
        config["command"],
        cwd=config["workdir"],
        env=config["env"],
        stdin=subprocess.DEVNULL,
        preexec_fn=_limit_child(limits, config.get("limit_nproc", False), bool(new_root)),
        close_fds=True,
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
    return {
        "returncode": returncode,
        "limit": limit,
        "seconds": round(seconds, 4),
        "leftover_processes": leftovers,
        "peak_processes": peak_processes,
    }


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
