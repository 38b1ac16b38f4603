"""A run's LoRA adapter as a llama.cpp GGUF LoRA (llama.cpp's convert_lora_to_gguf.py), applied at load time.

Chat with a run seconds after it finishes: no merge, no re-quantization. The GGUF is cached beside the
adapter (`RUN_DIR/adapter.gguf`) and rebuilt when the adapter is newer.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmdeck.core.errors import BadInput
from llmdeck.tuning.converter import convert_lora_to_gguf
from llmdeck.tuning.merge import FinishedRun, base_config_dir, finished_run

ADAPTER_GGUF = "adapter.gguf"


@dataclass(frozen=True)
class RunAdapter:
    """A finished run's LoRA as a GGUF, and the store GGUF of its base when the base is one."""

    finished: FinishedRun
    lora_path: Path
    base_gguf: Path | None

    @property
    def run_id(self) -> str:
        return self.finished.run.id


def run_adapter(run_ref: str) -> RunAdapter:
    """The run's adapter as a GGUF LoRA, converted on first use."""
    finished = finished_run(run_ref)
    if finished.is_full:
        raise BadInput(
            f"run {finished.run.id} is a full fine-tune: it has no adapter to apply;"
            f" export it instead (`llmdeck export {finished.run.id}`)"
        )
    if finished.tuning not in ("lora", "qlora", "lora-8bit"):
        raise BadInput(
            f"run {finished.run.id} trained a {finished.tuning} adapter; llama.cpp applies plain LoRA adapters "
            f"only: export it instead (`llmdeck export {finished.run.id}` merges it into the weights)"
        )
    target = finished.run.path / ADAPTER_GGUF
    weights = [p for p in finished.adapter_dir.glob("adapter_model.*") if p.is_file()]
    newest = max((p.stat().st_mtime for p in weights), default=0.0)
    if not target.exists() or target.stat().st_mtime < newest:
        scratch = Path(tempfile.mkdtemp(prefix=".adapter-base-", dir=finished.run.path))
        try:
            convert_lora_to_gguf(finished.adapter_dir, base_config_dir(finished.base, scratch), target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    base = finished.base
    base_gguf = Path(base.location) / base.gguf_file if base.kind == "gguf" and base.gguf_file else None
    return RunAdapter(finished, target, base_gguf)
