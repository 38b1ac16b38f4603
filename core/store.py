"""The model store: a SQLite registry of GGUF models with metadata and lineage.

The embedded SmolLM2 is registered by reference on first use, and is the default
until `models default NAME` chooses another (saved as `default_model` in config.toml).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from llmdeck.core import db, embedded, leftovers, paths
from llmdeck.core.atomic import atomic_copy
from llmdeck.core.diskspace import disk_full
from llmdeck.core.errors import BadInput, LlmdeckError, NotFound, OfflineError
from llmdeck.core.gguf_meta import read_gguf_info
from llmdeck.core.settings import load_settings, update_settings

COMPONENT = "model_store"
MIGRATIONS = [
    """
    CREATE TABLE models (
        name TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        architecture TEXT NOT NULL,
        parameter_count INTEGER NOT NULL,
        file_type TEXT NOT NULL,
        context_length INTEGER,
        size_bytes INTEGER NOT NULL,
        has_chat_template INTEGER NOT NULL,
        copied INTEGER NOT NULL DEFAULT 0,
        embedded INTEGER NOT NULL DEFAULT 0,
        base_model TEXT,
        run_id TEXT,
        quant_source TEXT,
        created_at REAL NOT NULL
    );
    """,
    # lineage of exported and quantized models, and what each quant cost (llama.cpp loss on the export's eval data)
    """
    ALTER TABLE models ADD COLUMN quant_type TEXT;
    ALTER TABLE models ADD COLUMN eval_loss REAL;
    ALTER TABLE models ADD COLUMN eval_perplexity REAL;
    ALTER TABLE models ADD COLUMN loss_delta REAL;
    ALTER TABLE models ADD COLUMN eval_data TEXT;
    """,
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
HUB_HOST = "https://huggingface.co"
HUB_SPEC = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?::(?P<file>[^:]+\.gguf))?$")
HUB_URL_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/(?:resolve|blob)/(?P<revision>[^/]+)/(?P<file>.+\.gguf)$")


@dataclass(frozen=True)
class RemoteModel:
    """A GGUF to download: a hub repo (and file, when given) or a plain URL."""

    spec: str
    repo_id: str | None = None
    filename: str | None = None
    revision: str | None = None
    url: str | None = None


def hub_endpoint() -> str:
    import os

    return (os.environ.get("HF_ENDPOINT") or HUB_HOST).rstrip("/")


def parse_remote(spec: str) -> RemoteModel | None:
    """`owner/repo`, `owner/repo:FILE.gguf`, a hub file URL or any http(s) URL; None for anything else
    (a local path that exists is never remote)."""
    from urllib.parse import unquote, urlsplit

    if spec.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        endpoint = urlsplit(hub_endpoint())
        match = HUB_URL_PATH.match(unquote(parts.path))
        if match and (parts.netloc == endpoint.netloc or parts.netloc.endswith("huggingface.co")):
            return RemoteModel(spec, repo_id=match["repo"], filename=match["file"], revision=match["revision"])
        return RemoteModel(spec, url=spec)
    match = HUB_SPEC.match(spec)
    if match and not match["file"] and spec.endswith(".gguf"):  # a missing local file, not a repo
        return None
    if match and not Path(spec).expanduser().exists():
        return RemoteModel(spec, repo_id=match["repo"], filename=match["file"])
    return None


def _offline() -> bool:
    import os

    return any(
        os.environ.get(var, "").lower() in ("1", "true", "yes", "on")
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@dataclass(frozen=True)
class Lineage:
    """Where an exported or quantized model came from and what its quantization cost."""

    base_model: str | None = None
    run_id: str | None = None
    quant_source: str | None = None
    quant_type: str | None = None
    eval_loss: float | None = None
    eval_perplexity: float | None = None
    loss_delta: float | None = None
    eval_data: str | None = None


@dataclass(frozen=True)
class ModelEntry:
    """One registered GGUF model."""

    name: str
    path: str
    architecture: str
    parameter_count: int
    file_type: str
    context_length: int | None
    size_bytes: int
    has_chat_template: bool
    copied: bool
    embedded: bool
    base_model: str | None
    run_id: str | None
    quant_source: str | None  # the file (or store model) this one was converted or quantized from
    created_at: float
    quant_type: str | None = None
    eval_loss: float | None = None  # mean token loss on `eval_data`, through llama.cpp
    eval_perplexity: float | None = None
    loss_delta: float | None = None  # eval_loss minus the f16 export's on the same data
    eval_data: str | None = None
    is_default: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def derive_name(path: Path) -> str:
    """A store name from a file name: 'SmolLM2-135M-Instruct.Q4_1.gguf' -> 'smollm2-135m-instruct.q4_1'."""
    stem = path.name.removesuffix(".gguf")
    cleaned = re.sub(r"[^A-Za-z0-9._:+-]+", "-", stem).strip("-._").lower()
    return cleaned or "model"


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise BadInput(
            f"model name {name!r}: expected 1-128 characters of letters, digits and . _ : + - "
            "starting with a letter or digit"
        )
    return name


class ModelStore:
    """Registry operations; every CLI `models` command and the TUI models screen call these."""

    def __init__(self, conn: sqlite3.Connection | None = None):
        self.conn = conn or db.connection(COMPONENT, MIGRATIONS)
        leftovers.reclaim(leftovers.command_dirs())  # what a killed export, quantize or write left
        self._ensure_embedded()

    # -- reading ---------------------------------------------------------------------------
    def list(self) -> list[ModelEntry]:
        rows = self.conn.execute("SELECT * FROM models ORDER BY embedded DESC, name").fetchall()
        default = self.default_name()
        return [self._entry(row, default) for row in rows]

    def get(self, name: str) -> ModelEntry:
        row = self.conn.execute("SELECT * FROM models WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = ", ".join(e.name for e in self.list()) or "none"
            raise NotFound(f"model {name!r} is not in the store (known: {known}); see `llmdeck models list`")
        return self._entry(row, self.default_name())

    def resolve(self, name_or_path: str | None, pull: bool = True) -> ModelEntry:
        """A store name, a path to a .gguf (registered on the fly), a hub id / URL (downloaded once, when `pull`),
        or None for the default."""
        if not name_or_path:
            return self.get(self.default_name())
        row = self.conn.execute("SELECT name FROM models WHERE name = ?", (name_or_path,)).fetchone()
        if row is not None:
            return self.get(name_or_path)
        remote = parse_remote(name_or_path)
        if remote is not None and pull:
            return self.pull(remote)
        candidate = Path(name_or_path).expanduser()
        if candidate.suffix == ".gguf" or candidate.exists():
            existing = self.conn.execute(
                "SELECT name FROM models WHERE path = ?", (str(candidate.resolve()),)
            ).fetchone()
            if existing:
                return self.get(existing["name"])
            return self.register(candidate)
        return self.get(name_or_path)

    def missing_default(self) -> str | None:
        """A one-line problem when config.toml's default_model names no stored model (chat would fail on it)."""
        configured = load_settings().default_model
        if configured and not self.conn.execute("SELECT 1 FROM models WHERE name = ?", (configured,)).fetchone():
            return (
                f"default_model {configured!r} in {paths.config_path()} is not in the store; "
                "set one with `llmdeck models default NAME`"
            )
        return None

    def pull(self, spec: str | RemoteModel, name: str | None = None) -> ModelEntry:
        """Download a GGUF from the hub (`owner/repo[:file]`, a hub URL) or any URL into the store and register it.

        Downloads show progress on stderr and resume where an interrupted one stopped; a file already pulled is
        reused without touching the network. Offline (HF_HUB_OFFLINE) or unreachable: one-line OfflineError.
        """
        remote = spec if isinstance(spec, RemoteModel) else parse_remote(spec)
        if remote is None:
            raise BadInput(f"{spec}: expected owner/repo[:FILE.gguf] or an http(s) URL of a .gguf file")
        target = self._pull_target(remote)
        if target is not None:
            existing = self.conn.execute("SELECT name FROM models WHERE path = ?", (str(target),)).fetchone()
            if existing and target.exists():
                return self.get(existing["name"])
        if _offline():
            raise OfflineError(
                f"{remote.spec}: downloading a model needs the network and HF_HUB_OFFLINE is set; "
                "use a local .gguf or a store name"
            )
        from llmdeck.core.download import download_hub_file, download_url, pick_gguf

        if remote.url and target:  # a URL always has its target: the URL's file name
            path = download_url(remote.url, target)
        elif remote.repo_id:
            filename = remote.filename or pick_gguf(remote.repo_id, hub_endpoint())
            path = download_hub_file(
                remote.repo_id, filename, remote.revision, self._hub_dir(remote.repo_id), hub_endpoint()
            )
        else:
            raise BadInput(f"{spec}: expected owner/repo[:FILE.gguf] or an http(s) URL of a .gguf file")
        existing = self.conn.execute("SELECT name FROM models WHERE path = ?", (str(path.resolve()),)).fetchone()
        if existing:
            return self.get(existing["name"])
        return self.register(path, name=name)

    @staticmethod
    def _hub_dir(repo_id: str) -> Path:
        return paths.models_dir() / "hub" / repo_id.replace("/", "--")

    def _pull_target(self, remote: RemoteModel) -> Path | None:
        from urllib.parse import unquote, urlsplit

        if remote.url:
            filename = Path(unquote(urlsplit(remote.url).path)).name or "model.gguf"
            return (paths.models_dir() / "downloads" / filename).resolve()
        if remote.filename and remote.repo_id:
            return (self._hub_dir(remote.repo_id) / remote.filename).resolve()
        return None

    def default_name(self) -> str:
        configured = load_settings().default_model
        if configured:
            return configured
        return embedded.EMBEDDED_CHAT_MODEL_NAME

    # -- writing ---------------------------------------------------------------------------
    def register(
        self,
        path: Path,
        name: str | None = None,
        copy: bool = False,
        base_model: str | None = None,
        run_id: str | None = None,
        quant_source: str | None = None,
        lineage: Lineage | None = None,
        move: bool = False,
        _embedded: bool = False,
    ) -> ModelEntry:
        """Validate a GGUF file and add it; with `copy`, the file is copied into the store first; with `move`,
        it is renamed into the store (a file written beside it, e.g. by an export).

        Nothing is registered unless the file passes validation and (when copying) the copy
        completed; the row insert is the last step, and a moved file goes back if it fails.
        """
        path = Path(path).expanduser()
        name = check_name(name or derive_name(path))
        lineage = lineage or Lineage(base_model=base_model, run_id=run_id, quant_source=quant_source)
        info = read_gguf_info(path)
        if self.conn.execute("SELECT 1 FROM models WHERE name = ?", (name,)).fetchone():
            raise BadInput(f"model name {name!r} is already in the store (choose another with --name)")
        stored_path = path.resolve()
        if copy or move:
            stored_path = self.model_path(name)
            if stored_path.exists():
                raise BadInput(f"{stored_path}: already exists in the store directory")
            atomic_copy(path, stored_path) if copy else os.replace(path, stored_path)
        try:
            self.conn.execute(
                "INSERT INTO models (name, path, architecture, parameter_count, file_type, context_length,"
                " size_bytes, has_chat_template, copied, embedded, base_model, run_id, quant_source, created_at,"
                " quant_type, eval_loss, eval_perplexity, loss_delta, eval_data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    str(stored_path),
                    info.architecture,
                    info.parameter_count,
                    info.file_type,
                    info.context_length,
                    info.size_bytes,
                    int(info.has_chat_template),
                    int(copy or move),
                    int(_embedded),
                    lineage.base_model,
                    lineage.run_id,
                    lineage.quant_source,
                    time.time(),
                    lineage.quant_type,
                    lineage.eval_loss,
                    lineage.eval_perplexity,
                    lineage.loss_delta,
                    lineage.eval_data,
                ),
            )
        except sqlite3.Error as exc:
            if copy:
                stored_path.unlink(missing_ok=True)
            elif move:
                os.replace(stored_path, path)
            if isinstance(exc, sqlite3.IntegrityError):
                raise BadInput(f"model name {name!r} is already in the store (choose another with --name)") from None
            raise disk_full(exc, paths.db_path()) or LlmdeckError(
                f"model store: could not register {name!r} ({exc})"
            ) from None
        return self.get(name)

    def model_path(self, name: str) -> Path:
        """Where the store keeps its own copy of model `name`."""
        return paths.models_dir() / f"{check_name(name)}.gguf"

    def exists(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM models WHERE name = ?", (name,)).fetchone() is not None

    def remove(self, name: str, delete_file: bool = True) -> ModelEntry:
        """Unregister; a copied file is deleted, a referenced file is left where it is."""
        entry = self.get(name)
        if entry.embedded:
            raise BadInput(f"model {name!r} is the embedded default and cannot be removed")
        self.conn.execute("DELETE FROM models WHERE name = ?", (name,))
        if entry.copied and delete_file:
            Path(entry.path).unlink(missing_ok=True)
        if load_settings().default_model == name:
            update_settings(default_model=None)
        return entry

    def set_default(self, name: str) -> ModelEntry:
        self.get(name)
        update_settings(default_model=name)
        return self.get(name)

    # -- internals -------------------------------------------------------------------------
    def _ensure_embedded(self) -> None:
        name = embedded.EMBEDDED_CHAT_MODEL_NAME
        row = self.conn.execute("SELECT path FROM models WHERE name = ?", (name,)).fetchone()
        try:
            model_path = embedded.embedded_chat_model_path()
        except LlmdeckError:
            return  # package missing: the store still works for imported models
        if row is not None and row["path"] == str(model_path.resolve()):
            return
        # One writer at a time (the app's workers open stores at once on a fresh home): on the shared connection
        # a failed INSERT's error can be read after another thread's statement has replaced it, so a lost race
        # is prevented here rather than recognised from its error.
        with db.transaction(self.conn):
            row = self.conn.execute("SELECT path FROM models WHERE name = ?", (name,)).fetchone()
            if row is not None and row["path"] == str(model_path.resolve()):
                return  # another thread or process registered it meanwhile
            if row is not None:  # the package moved (new venv): re-point the reference
                self.conn.execute("DELETE FROM models WHERE name = ?", (name,))
            self.register(model_path, name=name, _embedded=True)

    @staticmethod
    def _entry(row: sqlite3.Row, default_name: str) -> ModelEntry:
        data = dict(row)
        for flag in ("has_chat_template", "copied", "embedded"):
            data[flag] = bool(data[flag])
        return ModelEntry(**data, is_default=data["name"] == default_name)
