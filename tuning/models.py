"""Base models for training: a store GGUF (dequantized by transformers), a local HF directory, or a hub id.

Model sources are resolved by name here; loading happens in the worker process.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError, OfflineError

HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class ModelSource:
    """Where a base model's weights and tokenizer come from."""

    kind: str  # "gguf" | "hf_dir" | "hub"
    location: str  # directory (gguf, hf_dir) or hub id
    gguf_file: str | None = None
    display: str = ""

    def load_kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve_base(name: str | None) -> ModelSource:
    """Store name / .gguf path / HF dir / hub id -> ModelSource; offline hub ids fail fast."""
    if name:
        candidate = Path(name).expanduser()
        if candidate.is_dir():
            if not (candidate / "config.json").exists():
                raise BadInput(f"{candidate}: not a Hugging Face model directory (no config.json)")
            return ModelSource("hf_dir", str(candidate.resolve()), display=str(candidate))
    from llmdeck.core.store import ModelStore, parse_remote

    store = ModelStore()
    remote = parse_remote(name) if name else None
    if remote and (remote.filename or remote.url):  # owner/repo:FILE.gguf or a URL: a GGUF pulled into the store
        entry = store.pull(remote)
    else:
        try:
            entry = store.resolve(name, pull=False)
        except BadInput:  # a bare owner/repo is a transformers repo on the hub
            if name and _looks_like_hub_id(name):
                require_hub(name)
                return ModelSource("hub", name, display=name)
            raise
    path = Path(entry.path)
    return ModelSource("gguf", str(path.parent), gguf_file=path.name, display=entry.name)


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not Path(name).exists()


def require_hub(what: str, timeout_s: float = 3.0) -> None:
    """OfflineError at once when the hub cannot be reached (HF_HUB_OFFLINE, or no route in `timeout_s`)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise OfflineError(
            f"{what}: hub ids need the network and HF_HUB_OFFLINE=1 is set;"
            " use a store model, a .gguf or a local directory"
        )
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout_s):
            pass
    except Exception as exc:  # DNS failure, refusal, timeout, a sandbox's guard
        raise OfflineError(
            f"{what}: cannot reach {HUB_HOST} ({type(exc).__name__}); offline, use a local model"
        ) from None


def load_tokenizer(base: ModelSource, chat_template: str | None = None):
    """The base's tokenizer; `chat_template` (chatml|llama3|gemma|FILE) replaces its template and stop token.

    A tokenizer without a chat template is fine for text data; `require_chat_template` guards conversations.
    """
    import copy

    from llmdeck.tuning.render import apply_chat_template

    tokenizer = copy.deepcopy(_loaded_tokenizer(base, _modified_ns(base)))  # callers may change their copy
    if chat_template:
        apply_chat_template(tokenizer, chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@functools.lru_cache(maxsize=4)
def _loaded_tokenizer(base: ModelSource, modified_ns: int | None):
    """The base's tokenizer as its files hold it, read once per base and file time (the plan process plans again
    on every change of the app's form); a GGUF's from its converted metadata (see `gguf_metadata_dir`)."""
    from transformers import AutoTokenizer

    try:
        if base.kind == "gguf":
            tokenizer = AutoTokenizer.from_pretrained(gguf_metadata_dir(base))
            tokenizer.name_or_path = base.location  # as read from the GGUF: where it came from, not the cache
            return tokenizer
        return AutoTokenizer.from_pretrained(base.location, **base.load_kwargs())
    except LlmdeckError:
        raise
    except Exception as exc:
        raise LlmdeckError(f"{base.display}: could not load the tokenizer ({type(exc).__name__}: {exc})") from None


def load_config(base: ModelSource):
    """The base's transformers config; a GGUF's from its converted metadata."""
    from transformers import AutoConfig

    if base.kind == "gguf":
        config = AutoConfig.from_pretrained(gguf_metadata_dir(base))
        config._name_or_path = base.location  # as read from the GGUF
        return config
    return AutoConfig.from_pretrained(base.location, **base.load_kwargs())


GGUF_METADATA_DIR = "gguf-hf"


def gguf_metadata_dir(base: ModelSource) -> Path:
    """A directory with a GGUF base's tokenizer files and config.json, converted by transformers once and kept
    in the cache, keyed by the file's path, size and time and transformers' version. transformers reads both
    from the GGUF by parsing its whole vocabulary (some 4 s each on 2 cores), in every new process: the app's
    plan process took 12 s to its first estimate. The files are what `from_pretrained(..., gguf_file=...)`
    returns, saved."""
    import hashlib
    import secrets
    import shutil
    from importlib.metadata import version

    from llmdeck.core import leftovers, paths
    from llmdeck.core.procs import owner_tag

    assert base.gguf_file is not None  # resolve_base names the file of every gguf source
    gguf = (Path(base.location) / base.gguf_file).resolve()
    info = gguf.stat()
    facts = f"{gguf}:{info.st_size}:{info.st_mtime_ns}:{version('transformers')}"  # a new transformers converts anew
    key = hashlib.sha256(facts.encode()).hexdigest()[:24]
    root = paths.cache_dir() / GGUF_METADATA_DIR
    found = root / key
    if (found / "config.json").exists():
        return found
    root.mkdir(parents=True, exist_ok=True)
    leftovers.reclaim([root])  # a conversion killed before its rename
    staging = root / f".{key}.{owner_tag()}-{secrets.token_hex(4)}.tmp"
    try:
        from transformers import AutoConfig, AutoTokenizer

        AutoTokenizer.from_pretrained(base.location, gguf_file=base.gguf_file).save_pretrained(staging)
        AutoConfig.from_pretrained(base.location, gguf_file=base.gguf_file).save_pretrained(staging)
        try:
            staging.rename(found)  # config.json last in, whole directory in at once
        except OSError:
            if not (found / "config.json").exists():  # not another process's conversion, done first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return found


def _modified_ns(base: ModelSource) -> int | None:
    """When the base's local files last changed (None for a hub id): a rewritten model is read again."""
    try:
        location = Path(base.location)
        return (location / base.gguf_file if base.gguf_file else location).stat().st_mtime_ns
    except (OSError, TypeError):
        return None


def require_chat_template(tokenizer, base: ModelSource, data_format: str) -> None:
    """Conversations need a chat template: refuse a template-less base in one line naming the way out."""
    from llmdeck.tuning.data.formats import REGISTRY
    from llmdeck.tuning.render import TEMPLATE_CHOICES

    conversational = data_format not in REGISTRY or REGISTRY[data_format].chat_template
    if conversational and not tokenizer.chat_template:
        raise BadInput(
            f"{base.display}: this base model has no chat template, so {data_format} conversations cannot be "
            f"rendered; pass --chat-template {TEMPLATE_CHOICES} (or train on text data)"
        )


def needs_chat_template(tokenizer, base: ModelSource, data_format: str, method: str) -> None:
    """`require_chat_template` for the methods that render conversations (not the encoder heads)."""
    from llmdeck.tuning.methods import get_method

    if not get_method(method).encoder:
        require_chat_template(tokenizer, base, data_format)


def fingerprint(base: ModelSource) -> str | None:
    """What pins a base: the GGUF file's sha256, or for an HF directory a sha256 over config.json and every
    file's name, size and mtime (hashing many GB of weights at each launch would be slow). None for hub ids."""
    import hashlib

    if base.kind == "gguf":
        assert base.gguf_file is not None  # resolve_base names the file of every gguf source
        digest = hashlib.sha256()
        with open(Path(base.location) / base.gguf_file, "rb") as handle:
            while chunk := handle.read(8 * 2**20):
                digest.update(chunk)
        return digest.hexdigest()
    if base.kind == "hf_dir":
        digest = hashlib.sha256()
        root = Path(base.location)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = path.stat()
            digest.update(f"{path.relative_to(root)}:{info.st_size}:{info.st_mtime_ns}\n".encode())
        config = root / "config.json"
        if config.exists():
            digest.update(config.read_bytes())
        return "dir:" + digest.hexdigest()
    return None


def load_base_model(
    base: ModelSource,
    dtype,
    quantization_config=None,
    device_map=None,
    auto_class: str = "AutoModelForCausalLM",
    **head_kwargs,
):
    """The base with transformers' `auto_class` head (causal LM by default; a new task head is initialised)."""
    import transformers

    model_class = getattr(transformers, auto_class)
    kwargs = {"dtype": dtype, **base.load_kwargs(), **head_kwargs}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = model_class.from_pretrained(base.location, **kwargs)
    except Exception as exc:
        raise LlmdeckError(f"{base.display}: could not load the model ({type(exc).__name__}: {exc})") from None
    if base.gguf_file and quantization_config is None:
        _forget_gguf_quantizer(model)
    return model


def _forget_gguf_quantizer(model) -> None:
    """GGUF weights are dequantized to plain tensors on load; drop the GGUF marker the Trainer refuses to train."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)  # transformers' own path for dequantized models
    for module in model.modules():
        if getattr(getattr(module, "config", None), "_is_quantized", False):
            module.config._is_quantized = False


@functools.lru_cache(maxsize=8)
def parameter_shapes(
    base: ModelSource, auto_class: str = "AutoModelForCausalLM"
) -> tuple[int, list[tuple[str, int, int]], dict]:
    """(total parameters, [(linear name, in, out)], config facts) from a weightless (meta) model; kept per base in
    this process (the app's form re-estimates on every change) and in the cache across processes (building the
    meta model imports the architecture's modeling code: a second of a fresh plan process's first estimate).
    Encoders are counted as `AutoModel` (their task head is a few weights)."""
    import json

    from llmdeck.core.atomic import atomic_write_text

    kept = _shapes_file(base, auto_class)
    if kept is not None:
        try:
            found = json.loads(kept.read_text(encoding="utf-8"))
            return found["total"], [tuple(linear) for linear in found["linears"]], found["facts"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or unreadable: measured again and rewritten
    total, linears, facts = _measured_shapes(base, auto_class)
    if kept is not None:
        atomic_write_text(kept, json.dumps({"total": total, "linears": linears, "facts": facts}))
    return total, linears, facts


def _shapes_file(base: ModelSource, auto_class: str) -> Path | None:
    """Where a base's shapes are kept: beside a GGUF's converted metadata, or under a hash of an HF directory's
    config.json; None for a hub id (and for a directory without a readable config.json)."""
    import hashlib
    from importlib.metadata import version

    from llmdeck.core import paths

    if base.kind == "gguf":
        return gguf_metadata_dir(base) / f"shapes-{auto_class}.json"
    if base.kind != "hf_dir":
        return None
    try:
        config = (Path(base.location) / "config.json").read_bytes()
    except OSError:
        return None
    key = hashlib.sha256(config + f"\n{auto_class}\n{version('transformers')}".encode()).hexdigest()[:24]
    return paths.cache_dir() / "shapes" / f"{key}.json"


def _measured_shapes(base: ModelSource, auto_class: str) -> tuple[int, list[tuple[str, int, int]], dict]:
    import torch
    import transformers

    config = load_config(base)
    # torch.device("meta") is a per-thread mode; accelerate's init_empty_weights patches nn.Module for every
    # thread, so the app's estimate worker would turn a model another thread builds meanwhile into meta tensors
    with torch.device("meta"):
        model = getattr(transformers, auto_class).from_config(config)

    model.tie_weights()  # tied input/output embeddings are one tensor: count them once (134.5M, not 162.8M)
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    linears = [
        (name, m.in_features, m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "lm_head" not in name
    ]
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    facts = {
        "hidden_size": text_config.hidden_size,
        "num_layers": text_config.num_hidden_layers,
        "vocab_size": text_config.vocab_size,
    }
    return total, linears, facts
