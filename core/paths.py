"""Where llmdeck keeps its state. `LLMDECK_HOME` relocates all of it (tests point it at a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "LLMDECK_HOME"


def home() -> Path:
    """The root of all state: model store, runs, vector data, chat sessions, config."""
    override = os.environ.get(HOME_ENV)
    if override:
        root = Path(override).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_data_dir("llmdeck", appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_path() -> Path:
    return home() / "config.toml"


def db_path() -> Path:
    """The SQLite database shared by the model store, run registry and chat sessions."""
    return home() / "llmdeck.db"


def models_dir() -> Path:
    """Copies of imported GGUF files (`models import --copy`) and exported models."""
    return _subdir("models")


def runs_dir() -> Path:
    """One directory per training run: resolved config, metrics, checkpoints, adapter."""
    return _subdir("runs")


def vectors_dir() -> Path:
    """Embedded Chroma persistence and other vector data."""
    return _subdir("vectors")


def cache_dir() -> Path:
    """What llmdeck can rebuild from other files (a GGUF's tokenizer and config, the CPU's bf16 verdict)."""
    return _subdir("cache")
