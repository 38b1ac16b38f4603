"""User settings: a TOML file at `$LLMDECK_HOME/config.toml`, validated by a pydantic model.

Every field has a default, so a missing file means the embedded offline defaults.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from llmdeck.core import paths
from llmdeck.core.atomic import atomic_write_text
from llmdeck.core.errors import BadInput, accepted_range, validated
from llmdeck.core.textfiles import read_text
from llmdeck.core.validate import (
    MAX_CTX,
    MAX_TEMPERATURE,
    MAX_THREADS,
    MAX_TOKENS,
    DocumentProblem,
    parse_toml,
    problem_line,
)


class McpServer(BaseModel):
    """One `[mcp_servers.NAME]` table: an MCP server whose tools agents get (stdio `command` + `args` + `env`, or
    streamable HTTP `url` + `headers`). `env` and `headers` values are secrets: never shown, logged or recorded."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    command: str | None = Field(None, min_length=1, description="The server's program (stdio).")
    args: list[str] = Field(default_factory=list, description="Its arguments (stdio).")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables (stdio; secret).")
    url: str | None = Field(
        None, pattern=r"^https?://", description="The streamable-HTTP endpoint, e.g. http://127.0.0.1:8000/mcp."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers, e.g. Authorization (secret).")
    enabled: bool = Field(True, description="Its tools are offered to agents (the app's tools screen toggles it).")
    timeout_s: float = Field(10.0, gt=0, le=600, description="Seconds to wait for the server to start or answer.")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (streamable HTTP)")
        return self

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"


class Settings(BaseModel):
    """Defaults used when a command does not say otherwise."""

    model_config = {"extra": "forbid", "allow_inf_nan": False}

    default_model: str | None = Field(
        None, description="Store name of the chat model; None means the store's default entry."
    )
    n_threads: int | None = Field(
        None, ge=1, le=MAX_THREADS, description="CPU threads for llama.cpp; None: physical cores."
    )
    n_ctx: int = Field(
        4096,
        ge=256,
        le=MAX_CTX,
        description="Context window (tokens) when loading a GGUF model; at most the model's trained context.",
    )
    n_gpu_layers: int = Field(
        -1, ge=-1, le=100_000, description="Layers offloaded to a GPU when one is available (-1: all)."
    )
    loaded_model_cache: int = Field(2, ge=1, le=64, description="How many llama.cpp models stay loaded at once.")
    temperature: float = Field(0.7, ge=0.0, le=MAX_TEMPERATURE, description="Default sampling temperature for chat.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Default nucleus sampling for chat.")
    max_tokens: int = Field(512, ge=1, le=MAX_TOKENS, description="Default cap on generated tokens per answer.")
    embedding_model: str | None = Field(
        None, description="Sentence-transformers path or hub id for RAG; None: the embedded all-MiniLM-L6-v2."
    )
    retrieval: Literal["dense", "bm25", "hybrid"] = Field(
        "hybrid",
        description="RAG retrieval: dense vectors, bm25 keywords, or hybrid (both, fused by reciprocal rank).",
    )
    rerank: bool = Field(
        False,
        description="RAG: rerank the top retrieved chunks with a model (rerank_model) before they are used.",
    )
    rerank_model: str | None = Field(
        None,
        description="Reranker: a store model name or .gguf (its log-likelihood of 'yes'), or a local cross-encoder"
        " directory; None: the chat's own model, else the store's default (the embedded SmolLM2).",
    )
    theme: str | None = Field(None, description="The app's colour theme (chosen in the command palette; saved here).")
    embedding_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="auto: bf16 autocast where the CPU has native bf16 matmuls (vectors agree with fp32 to cosine"
        " > 0.9999, ~1.7x faster), else fp32.",
    )
    mcp_servers: dict[str, McpServer] = Field(
        default_factory=dict, description="MCP servers whose tools agents get, by name ([mcp_servers.NAME] tables)."
    )


def load_settings(config_file: Path | None = None) -> Settings:
    config_file = Path(config_file) if config_file else paths.config_path()
    if not config_file.exists() and not config_file.is_symlink():
        return Settings()
    try:
        raw = parse_toml(read_text(config_file, "TOML settings file", max_bytes=1024 * 1024))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{config_file}: not valid TOML ({exc})") from None
    except DocumentProblem as exc:
        raise BadInput(problem_line(config_file, exc, fields=Settings)) from None
    return validated(Settings, str(config_file), raw)


# command-line flags that override settings, by field (chat, serve, tui); errors name the flag
FLAGS = {
    "temperature": "--temperature",
    "top_p": "--top-p",
    "max_tokens": "--max-tokens",
    "n_ctx": "--ctx",
    "n_threads": "--threads",
    "n_gpu_layers": "--gpu-layers",
}


def settings_with(**overrides: Any) -> Settings:
    """The saved settings with the non-None `overrides` applied and validated by the same rules as config.toml;
    BadInput lists every bad value, named by its command-line flag."""
    values = load_settings().model_dump()
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = [
            f"{FLAGS.get(str(item['loc'][0]), item['loc'][0])} {values.get(str(item['loc'][0]))!r}: "
            f"{str(item['msg']).lower()}{accepted_range(Settings, item)}"
            for item in exc.errors()
        ]
        raise BadInput("; ".join(problems)) from None


def save_settings(settings: Settings, config_file: Path | None = None) -> None:
    import tomli_w

    config_file = Path(config_file) if config_file else paths.config_path()
    data: dict[str, Any] = settings.model_dump(exclude_none=True)
    atomic_write_text(config_file, tomli_w.dumps(data))


def update_settings(**changes: Any) -> Settings:
    """Set some fields, validate, and save; returns the new settings."""
    current = load_settings().model_dump()
    current.update(changes)
    settings = validated(Settings, "settings", current)
    save_settings(settings)
    return settings
