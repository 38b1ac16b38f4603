"""A BERT sentence encoder of our own: the vectors of sentence-transformers (Transformer + mean/CLS pooling +
normalize) from the model folder's `tokenizer.json` and `model.safetensors`, without importing
sentence-transformers, transformers, peft or bitsandbytes (seconds of imports, 80% of a cold `rag query`).

Two runtimes share the weights and the tokenization (each text is tokenized once):
- numpy, for a query or a few texts: no torch import at all (a cold `rag query` loads in well under a second);
- torch, for bulk embedding (ingest): the same forward with fused attention (scaled_dot_product_attention),
  texts sorted by token count and packed into batches of about `TOKENS_PER_BATCH` tokens, so short chunks
  travel many to a batch and long ones are not padded to each other's length; bf16 autocast where the CPU
  has native bf16 (the `embedding_precision` setting), fp32 otherwise.
fp32 vectors equal sentence-transformers' to ~1e-7 (tests/rag/test_bert_embeddings.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput

TOKENS_PER_BATCH = 8192  # padded tokens per torch forward: big enough GEMMs for a few cores, small enough to cache
MAX_BATCH = 256
NUMPY_TOKENS = 512  # up to this many tokens in one call, numpy (no torch import); beyond it, torch if installed
_WORD = "embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class Layout:
    """What a sentence-transformers folder must say for this encoder to reproduce it."""

    model_dir: Path
    max_length: int
    pooling: str  # "mean" or "cls"
    hidden: int
    heads: int
    layers: int
    eps: float


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(model_dir: Path) -> Layout | None:
    """The folder's layout if it is a BERT Transformer + mean or CLS Pooling (+ Normalize), else None."""
    config = _read_json(model_dir / "config.json")
    modules = _read_json(model_dir / "modules.json")
    if not isinstance(config, dict) or not isinstance(modules, list):
        return None
    if not (model_dir / "tokenizer.json").is_file() or not (model_dir / "model.safetensors").is_file():
        return None
    if config.get("model_type") != "bert" or config.get("hidden_act", "gelu") != "gelu":
        return None
    if config.get("position_embedding_type", "absolute") != "absolute":
        return None
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    if modules[0].get("path", "") not in ("", "."):
        return None
    pooling = _pooling_mode(_read_json(model_dir / modules[1].get("path", "1_Pooling") / "config.json"))
    if pooling is None:
        return None
    st_config = _read_json(model_dir / "sentence_bert_config.json") or {}
    if st_config.get("do_lower_case"):
        return None
    max_length = st_config.get("max_seq_length") or 512
    max_length = min(int(max_length), int(config.get("max_position_embeddings", 512)))
    return Layout(
        model_dir,
        max_length,
        pooling,
        int(config["hidden_size"]),
        int(config["num_attention_heads"]),
        int(config["num_hidden_layers"]),
        float(config.get("layer_norm_eps", 1e-12)),
    )


def _pooling_mode(pooling: Any) -> str | None:
    if not isinstance(pooling, dict):
        return None
    if isinstance(pooling.get("pooling_mode"), str):
        mode = pooling["pooling_mode"]
        return mode if mode in ("mean", "cls") and pooling.get("include_prompt", True) else None
    flags = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if flags == ["pooling_mode_mean_tokens"]:
        return "mean"
    if flags == ["pooling_mode_cls_token"]:
        return "cls"
    return None


class BertEmbeddings:
    """LangChain's `Embeddings` interface over a BERT sentence-transformers folder: normalized float vectors.
    The interface, not the base class: importing langchain_core (with its callbacks and tracing) would cost a
    cold `rag query` ~0.2 s, and the vector stores only call these methods."""

    def __init__(self, model_dir: Path, precision: Callable[[], str] = lambda: "fp32"):
        layout = describe(model_dir)
        if layout is None:
            raise BadInput(f"{model_dir}: not a BERT sentence-transformers folder this encoder can run")
        self.layout = layout
        self.dimension = layout.hidden
        self._precision = precision
        self._lock = threading.Lock()
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(layout.max_length)
        self._np: _NumpyBert | None = None
        self._torch: Any = None
        self.bf16: bool | None = None  # decided on the first bulk embedding

    # -- LangChain's interface ----------------------------------------------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed([str(t) for t in texts]).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([str(text)])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        import asyncio

        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        import asyncio

        return await asyncio.to_thread(self.embed_query, text)

    # -- ours ---------------------------------------------------------------------------------------
    def count_tokens(self, texts: Sequence[str]) -> int:
        return sum(len(e.ids) for e in self._tokenizer.encode_batch(list(texts)))

    def embed(self, texts: list[str], runtime: str | None = None):
        """A float32 (len(texts), dimension) numpy array, rows L2-normalized. `runtime`: numpy, torch or None
        (numpy up to NUMPY_TOKENS tokens, torch beyond when it is installed)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        total = sum(len(e.ids) for e in encodings)
        if runtime is None:
            runtime = "numpy" if total <= NUMPY_TOKENS or not _torch_installed() else "torch"
        forward = self._numpy_forward() if runtime == "numpy" else self._torch_forward()
        with _one_blas_thread() if runtime == "numpy" else contextlib.nullcontext():
            return self._run(forward, encodings)

    def _run(self, forward, encodings):
        import numpy as np

        out = np.empty((len(encodings), self.dimension), dtype=np.float32)
        for batch in _batches([len(e.ids) for e in encodings], TOKENS_PER_BATCH, MAX_BATCH):
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            types = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n], types[row, :n], mask[row, :n] = encodings[i].ids, encodings[i].type_ids, 1
            out[batch] = forward(ids, types, mask)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _numpy_forward(self):
        with self._lock:
            if self._np is None:
                self._np = _NumpyBert(self.layout, _load_weights(self.layout.model_dir))
        return self._np

    def _torch_forward(self):
        with self._lock:
            if self._torch is None:
                weights = self._np.weights if self._np is not None else _load_weights(self.layout.model_dir)
                self._torch = _TorchBert(self.layout, weights, False)
            self.bf16 = self._torch.bf16 = self._precision() == "bf16"  # the setting may change in a process
        return self._torch


@contextlib.contextmanager
def _one_blas_thread():
    """numpy's OpenBLAS on one thread for this call: a query's small matrices run 10x slower split over the
    cores of a busy machine (measured: 0.04 s vs 0.40 s). A numpy built otherwise keeps its own setting."""
    setter = _blas_thread_setter()
    previous = setter(1) if setter else None
    try:
        yield
    finally:
        if setter and previous is not None and previous > 0:
            setter(previous)


@functools.cache
def _blas_thread_setter():
    import ctypes

    import numpy as np

    for lib in sorted((Path(np.__file__).parent.parent / "numpy.libs").glob("libscipy_openblas*.so*")):
        try:
            function = ctypes.CDLL(str(lib)).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        function.argtypes, function.restype = [ctypes.c_int], ctypes.c_int
        return function
    return None


def _torch_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("torch") is not None


def _batches(lengths: list[int], token_budget: int, max_batch: int) -> list[list[int]]:
    """Indices sorted by length, cut where the padded size (count x longest) would pass the budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:  # ascending: the newest member is the longest
        if current and ((len(current) + 1) * lengths[i] > token_budget or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _load_weights(model_dir: Path) -> dict:
    """The encoder's tensors by their BertModel names (a `bert.` or other prefix dropped), float32 numpy."""
    import numpy as np
    from safetensors.numpy import load_file

    raw = load_file(str(model_dir / "model.safetensors"))
    word = next((k for k in raw if k.endswith(_WORD)), None)
    if word is None:
        raise BadInput(f"{model_dir}/model.safetensors: no {_WORD}")
    prefix = word[: -len(_WORD)]
    return {k[len(prefix) :]: np.ascontiguousarray(v, dtype=np.float32) for k, v in raw.items() if k.startswith(prefix)}


class _Layers:
    """Per-layer weights, the query/key/value projections fused into one matrix."""

    def __init__(self, layout: Layout, w: dict, convert: Callable[[Any], Any]):
        import numpy as np

        self.word = convert(w["embeddings.word_embeddings.weight"])
        self.position = convert(w["embeddings.position_embeddings.weight"])
        types = w.get("embeddings.token_type_embeddings.weight")
        self.types = convert(types if types is not None else np.zeros((1, layout.hidden), np.float32))
        self.ln = (convert(w["embeddings.LayerNorm.weight"]), convert(w["embeddings.LayerNorm.bias"]))
        self.layers = []
        for n in range(layout.layers):
            p = f"encoder.layer.{n}."
            qkv_w = np.concatenate([w[p + f"attention.self.{x}.weight"] for x in ("query", "key", "value")])
            qkv_b = np.concatenate([w[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])
            self.layers.append(
                tuple(
                    convert(a)
                    for a in (
                        qkv_w,
                        qkv_b,
                        w[p + "attention.output.dense.weight"],
                        w[p + "attention.output.dense.bias"],
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                        w[p + "intermediate.dense.weight"],
                        w[p + "intermediate.dense.bias"],
                        w[p + "output.dense.weight"],
                        w[p + "output.dense.bias"],
                        w[p + "output.LayerNorm.weight"],
                        w[p + "output.LayerNorm.bias"],
                    )
                )
            )


class _NumpyBert:
    def __init__(self, layout: Layout, weights: dict):
        self.layout, self.weights = layout, weights
        self.w = _Layers(layout, weights, lambda a: a)

    def __call__(self, ids, types, mask):
        import numpy as np

        layout, w = self.layout, self.w
        batch, length = ids.shape
        heads, size = layout.heads, layout.hidden // layout.heads
        h = w.word[ids] + w.position[:length][None] + w.types[types]
        h = _layer_norm(h, *w.ln, layout.eps).reshape(batch * length, layout.hidden)
        bias = ((1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(size))
        for qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, out_w, out_b, ln2_w, ln2_b in w.layers:
            # contiguous operands: numpy hands batched matmuls to BLAS only then (else its own slow loop)
            qkv = (h @ qkv_w.T + qkv_b).reshape(batch, length, 3, heads, size).transpose(2, 0, 3, 1, 4)
            q, k, v = (np.ascontiguousarray(x) for x in (qkv[0] * scale, qkv[1].transpose(0, 1, 3, 2), qkv[2]))
            scores = q @ k + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, layout.hidden)
            h = _layer_norm(context @ o_w.T + o_b + h, ln1_w, ln1_b, layout.eps)
            h = _layer_norm(_gelu(h @ i_w.T + i_b) @ out_w.T + out_b + h, ln2_w, ln2_b, layout.eps)
        return _pool(h.reshape(batch, length, layout.hidden), mask.astype(np.float32), layout.pooling)


def _layer_norm(x, weight, bias, eps: float):
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / (variance + eps) ** 0.5 * weight + bias


def _gelu(x):
    """0.5 x (1 + erf(x / sqrt 2)), erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf."""
    import numpy as np

    z = np.abs(x) * np.float32(1 / math.sqrt(2))
    t = 1.0 / (1.0 + np.float32(0.3275911) * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return (0.5 * x * (1.0 + np.sign(x) * erf)).astype(np.float32)


def _pool(h, mask, pooling: str):
    if pooling == "cls":
        return h[:, 0]
    summed = (h * mask[:, :, None]).sum(axis=1)
    return summed / mask.sum(axis=1, keepdims=True).clip(min=1e-9)


class _TorchBert:
    def __init__(self, layout: Layout, weights: dict, bf16: bool):
        import torch

        self.torch, self.layout, self.bf16 = torch, layout, bf16
        self.w = _Layers(layout, weights, torch.from_numpy)

    def __call__(self, ids, types, mask):
        torch = self.torch
        functional = torch.nn.functional
        layout, w = self.layout, self.w
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            ids_t, types_t, mask_t = torch.from_numpy(ids), torch.from_numpy(types), torch.from_numpy(mask)
            batch, length = ids.shape
            heads, size = layout.heads, layout.hidden // layout.heads
            h = w.word[ids_t] + w.position[:length][None] + w.types[types_t]
            h = functional.layer_norm(h, (layout.hidden,), *w.ln, layout.eps)
            attend = mask_t.bool()[:, None, None, :]
            for qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, out_w, out_b, ln2_w, ln2_b in w.layers:
                qkv = functional.linear(h, qkv_w, qkv_b).view(batch, length, 3, heads, size).permute(2, 0, 3, 1, 4)
                context = functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attend)
                context = context.transpose(1, 2).reshape(batch, length, layout.hidden)
                attended = functional.linear(context, o_w, o_b) + h
                h = functional.layer_norm(attended, (layout.hidden,), ln1_w, ln1_b, layout.eps)
                inner = functional.gelu(functional.linear(h, i_w, i_b))
                output = functional.linear(inner, out_w, out_b) + h
                h = functional.layer_norm(output, (layout.hidden,), ln2_w, ln2_b, layout.eps)
            h = h.float()
            if layout.pooling == "cls":
                return h[:, 0].numpy()
            weights = mask_t[:, :, None].float()
            return ((h * weights).sum(1) / weights.sum(1).clamp(min=1e-9)).numpy()
