"""Keep third-party progress bars and advisory warnings off a person's terminal (and out of `--json` output).

Called once by each front end at start-up; environment defaults also reach the training worker processes.
"""

from __future__ import annotations

import logging
import os

NOISY_LOGGERS = ("bitsandbytes", "chromadb", "httpx", "sentence_transformers")


def quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar, hub downloads
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
