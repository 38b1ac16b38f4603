"""What a sandboxed program can see of the file system, on every isolating tier this machine has: only the
system dirs and the interpreter (read-only), its work dir (read-write), a few devices, /proc and /tmp of its
own; not /etc's secrets, the home, /work, this checkout, its venv or any file planted outside the work dir."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from llmdeck.agents.sandbox import SandboxLimits, available_tiers, exposed_paths, masked_paths, run_python

pytestmark = pytest.mark.slow

ISOLATING = [tier for tier in available_tiers() if tier != "process"]
LIMITS = SandboxLimits(wall_s=10, cpu_s=5, memory_mb=512)
CHECKOUT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc", "tmp", "run"}


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def look(paths: list[str], tier: str) -> dict:
    """Run a program that lists or reads each path; {path: listing, text or the error's class name}."""
    program = code(f"""
        import json, os
        seen = {{}}
        for path in {paths!r}:
            try:
                seen[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
            except OSError as exc:
                seen[path] = type(exc).__name__
        print(json.dumps(seen))
    """)
    result = run_python(program, limits=LIMITS, isolation=tier)
    assert result.exit_code == 0 and result.isolation == tier, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A secret in a file of this checkout, in a temp dir outside the work dir and in the user's home."""
    secret = f"SECRET-{uuid.uuid4().hex}"
    in_checkout = CHECKOUT / "tests" / "agents" / f"planted_{uuid.uuid4().hex[:8]}.txt"
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text(secret)
    (tmp_path / "outside.txt").write_text(secret)
    in_checkout.write_text(secret)
    monkeypatch.setenv("HOME", str(home))
    yield secret, [str(in_checkout), str(tmp_path / "outside.txt"), str(home / "notes.txt")]
    in_checkout.unlink()


@pytest.mark.parametrize("tier", ISOLATING)
def test_files_outside_the_work_dir_cannot_be_read(tier, planted):
    secret, files = planted
    seen = look([*files, "/etc/shadow", "/etc/passwd", "/etc/hostname"], tier)
    assert secret not in json.dumps(seen)
    assert seen == dict.fromkeys(seen, "FileNotFoundError")  # they do not exist there, not merely refused


@pytest.mark.parametrize("tier", ISOLATING)
def test_other_trees_cannot_be_listed(tier):
    trees = [
        "/work",
        str(CHECKOUT),
        str(CHECKOUT / ".venv"),
        sys.prefix,
        os.path.expanduser("~"),
        "/home",
        "/var",
        "/opt",
        "/srv",
        "/mnt",
    ]
    seen = look(["/", "/etc", *trees], tier)
    interpreter_tops = {path.split("/")[1] for path in exposed_paths()}
    assert set(seen["/"]) <= TOP_LEVEL | interpreter_tops, seen["/"]
    assert set(seen["/etc"]) <= {"ld.so.cache", "localtime", "alternatives"}, seen["/etc"]
    for tree in trees:  # only the way down to the interpreter where one holds it (~/.pyenv/...)
        inside = {path[len(tree) + 1 :].split("/")[0] for path in exposed_paths() if path.startswith(tree + "/")}
        if inside:
            assert set(seen[tree]) <= inside, (tree, seen[tree])
        else:
            assert seen[tree] == "FileNotFoundError", (tree, seen[tree])


@pytest.mark.parametrize("tier", ISOLATING)
def test_the_interpreters_own_site_packages_are_empty(tier):
    assert look(list(masked_paths()), tier) == dict.fromkeys(masked_paths(), [])


@pytest.mark.parametrize("tier", ISOLATING)
def test_the_work_dir_is_writable_and_the_standard_library_imports(tier):
    program = code("""
        import collections, decimal, hashlib, json, math, sqlite3, subprocess, sys, tempfile
        counts = collections.Counter("abca")
        with tempfile.TemporaryFile() as scratch, open("/dev/null", "w") as null:
            scratch.write(b"x")
            null.write("gone")
        child = subprocess.run([sys.executable, "-I", "-S", "-c", "print(6 * 7)"], capture_output=True, text=True)
        open("out.json", "w").write(json.dumps([math.sqrt(16), counts["a"], child.stdout.strip()]))
    """)
    result = run_python(program, limits=LIMITS, isolation=tier, read_back=("out.json",))
    assert result.exit_code == 0 and result.isolation == tier, result.stderr
    assert json.loads(result.files["out.json"]) == [4.0, 2, "42"]


@pytest.mark.parametrize("tier", ISOLATING)
def test_the_interpreter_stays_read_only_even_after_a_remount_attempt(tier):
    stdlib = os.path.dirname(os.__file__)
    target = Path(os.path.realpath(stdlib), f"escape_{uuid.uuid4().hex[:8]}.py")
    program = code(f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        MS_REMOUNT, MS_BIND = 32, 4096
        for path in [{str(target.parent)!r}, "/"]:
            print("remount", path, libc.mount(None, path.encode(), None, MS_REMOUNT | MS_BIND, None))
        print("unmount", libc.umount2(b"/tmp", 2))
        try:
            open({str(target)!r}, "w").write("escaped")
            print("WRITTEN")
        except OSError as exc:
            print("refused", type(exc).__name__)
    """)
    result = run_python(program, limits=LIMITS, isolation=tier)
    assert result.exit_code == 0, result.stderr
    assert not target.exists()
    assert "WRITTEN" not in result.stdout and "refused" in result.stdout
    assert result.stdout.count(" -1\n") == 3  # neither remount nor unmount is allowed: no capability left


def test_auto_reports_the_strongest_tier():
    result = run_python("print('ok')")
    assert (result.stdout, result.isolation) == ("ok\n", available_tiers()[0])
