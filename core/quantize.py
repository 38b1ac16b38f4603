"""Quantize GGUF files with llama.cpp (`llama_model_quantize` through llama-cpp-python).

Each quantization runs in a child process (`python -m llmdeck.core.quantize SRC DST TYPE`): a ggml abort
on a bad file, or a write error deep in llama.cpp, ends that process and becomes one error line here, and
llama.cpp's per-tensor log becomes progress. The output is written to a temp name and renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from llmdeck.core import procs
from llmdeck.core.atomic import atomic_path
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.units import human_size

# llama.cpp's `llama_ftype` values (llama.h) for the types a user picks by name
QUANT_TYPES: dict[str, int] = {
    "f32": 0,
    "f16": 1,
    "bf16": 32,
    "q8_0": 7,
    "q6_k": 18,
    "q5_k_m": 17,
    "q5_k_s": 16,
    "q5_0": 8,
    "q5_1": 9,
    "q4_k_m": 15,
    "q4_k_s": 14,
    "q4_0": 2,
    "q4_1": 3,
    "q3_k_l": 13,
    "q3_k_m": 12,
    "q3_k_s": 11,
    "q2_k": 10,
}
# GGUF `general.file_type` names (core.gguf_meta) that hold unquantized weights
UNQUANTIZED_FILE_TYPES = ("ALL_F32", "F16", "BF16")
_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")


def parse_quant_types(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """'q4_k_m,Q8_0' -> ['q4_k_m', 'q8_0'] (order kept, duplicates dropped); BadInput naming an unknown type."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    wanted: list[str] = []
    for item in items:
        quant = item.strip().lower()
        if not quant:
            continue
        if quant not in QUANT_TYPES:
            raise BadInput(f"--quant: unknown type {item.strip()!r} (expected one of {', '.join(QUANT_TYPES)})")
        if quant not in wanted:
            wanted.append(quant)
    if not wanted:
        raise BadInput(f"--quant: no type given (expected one or more of {', '.join(QUANT_TYPES)}, comma-separated)")
    return wanted


def is_quantized(file_type: str) -> bool:
    return file_type not in UNQUANTIZED_FILE_TYPES


def quantize_file(
    source: Path,
    target: Path,
    quant: str,
    allow_requantize: bool = False,
    n_threads: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write `source` quantized to `quant` at `target` (temp name, then rename); LlmdeckError has llama.cpp's reason."""
    if quant not in QUANT_TYPES:
        raise BadInput(f"unknown quant type {quant!r} (expected one of {', '.join(QUANT_TYPES)})")
    with atomic_path(Path(target)) as tmp:
        command = [
            sys.executable,
            "-m",
            "llmdeck.core.quantize",
            str(source),
            str(tmp),
            quant,
            str(n_threads or os.cpu_count() or 1),
            "1" if allow_requantize else "0",
        ]
        process = procs.spawn(  # dies with us: a killed export never leaves it writing
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
            errors="replace",
        )
        lines: list[str] = []
        assert process.stdout is not None
        try:
            for line in process.stdout:
                lines.append(line.rstrip())
                match = _TENSOR_LINE.search(line)
                if match and on_progress:
                    on_progress(int(match.group(1)), int(match.group(2)))
        except BaseException:  # a progress callback that cancels: the child goes too, never left writing
            process.kill()
            process.wait()
            raise
        code = process.wait()
        if code != 0:
            raise LlmdeckError(
                f"llama.cpp could not quantize {Path(source).name} to {quant}: {_reason(lines, code, tmp)}"
            )
    return Path(target)


def quantize_model(
    name: str,
    quant: str,
    new_name: str | None = None,
    allow_requantize: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
):
    """Quantize a store model into a new store model (lineage: its source, base and run); returns the new entry."""
    from llmdeck.core.store import Lineage, ModelStore, check_name

    store = ModelStore()
    entry = store.get(name)
    [quant] = parse_quant_types(quant)
    if is_quantized(entry.file_type) and not allow_requantize:
        raise BadInput(
            f"{name} is already quantized ({entry.file_type}); quantizing it again loses more than"
            " quantizing its f16/f32 source; pass --allow-requantize to do it anyway"
        )
    stem = entry.name.removesuffix(f".{(entry.quant_type or entry.file_type).lower()}")
    target_name = check_name(new_name or f"{stem}.{quant}")
    if store.exists(target_name):
        raise BadInput(f"model name {target_name!r} is already in the store (choose another with --name)")
    staged = store.model_path(target_name).with_name(procs.owned_name("quantize", f"{target_name}.gguf"))
    try:
        quantize_file(Path(entry.path), staged, quant, allow_requantize=allow_requantize, on_progress=on_progress)
        lineage = Lineage(
            base_model=entry.base_model or entry.name, run_id=entry.run_id, quant_source=entry.name, quant_type=quant
        )
        return store.register(staged, name=target_name, lineage=lineage, move=True)
    finally:
        staged.unlink(missing_ok=True)


def _reason(lines: list[str], code: int, tmp: Path) -> str:
    """The cause in llama.cpp's log, or how the process ended. llama.cpp reports a failed write as a bare
    'iostream error': the free space left beside the (still present) partial file tells a full disk apart."""
    free = shutil.disk_usage(tmp.parent).free
    written = tmp.stat().st_size if tmp.exists() else 0
    failed = [line.split("failed to quantize:", 1)[1].strip() for line in lines if "failed to quantize:" in line]
    if failed and "iostream" in failed[-1]:
        if free < 1024 * 1024:
            return f"no space left on device writing {tmp.parent} (stopped after {human_size(written)})"
        return f"write error in {tmp.parent} ({failed[-1]}; {human_size(free)} free there)"
    if failed:
        return failed[-1][:300]
    if code < 0:
        return f"the quantize process was killed by signal {-code}"
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [f"exit code {code}"])[-1].strip()[:300]


def _main(argv: list[str]) -> int:
    """Child process: quantize argv[0] to argv[1] as argv[2] with argv[3] threads (argv[4]: allow requantize)."""
    import ctypes

    import llama_cpp

    source, target, quant, n_threads, allow = argv[0], argv[1], argv[2], int(argv[3]), argv[4] == "1"
    stream = sys.stdout

    @llama_cpp.llama_log_callback
    def log(level, text, user_data):  # llama.cpp's per-tensor lines are our progress; errors our reason
        stream.write(text.decode("utf-8", errors="replace"))
        stream.flush()

    llama_cpp.llama_log_set(log, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[quant]
    params.nthread = n_threads
    params.allow_requantize = allow
    code = llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
    if code != 0:  # (a file that still came out short is refused when the store registers it: it parses it whole)
        stream.write(f"error: llama_model_quantize failed (code {code})\n")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
