"""Read GGUF metadata without loading the model, and refuse files llama.cpp would choke on.

A small direct parser over an mmap: `gguf.GGUFReader` decodes every tokenizer array into numpy
objects (seconds for a 49k vocabulary), while we only need the scalars and the tensor table.
"""

from __future__ import annotations

import functools
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from llmdeck.core.errors import BadInput
from llmdeck.core.validate import file_kind

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# GGUF metadata value types -> struct format (8 = string, 9 = array are handled apart)
_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFInfo:
    """What the model store records about a GGUF file."""

    architecture: str
    model_name: str | None
    parameter_count: int
    file_type: str
    context_length: int | None
    size_bytes: int
    has_chat_template: bool
    chat_template: str | None


class _Truncated(Exception):
    pass


class _Cursor:
    """Sequential little-endian reads over a buffer, raising _Truncated past its end."""

    def __init__(self, buffer, size: int):
        self.buffer, self.size, self.offset = buffer, size, 0

    def unpack(self, fmt: str):
        width = struct.calcsize("<" + fmt)
        if self.offset + width > self.size:
            raise _Truncated
        value = struct.unpack_from("<" + fmt, self.buffer, self.offset)[0]
        self.offset += width
        return value

    def string(self) -> str:
        length = self.unpack("Q")
        if self.offset + length > self.size:
            raise _Truncated
        raw = self.buffer[self.offset : self.offset + length]
        self.offset += length
        return bytes(raw).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        length = self.unpack("Q")
        self.offset += length
        if self.offset > self.size:
            raise _Truncated

    def skip_strings(self, count: int) -> None:
        """Skip `count` strings in one tight loop: a tokenizer's vocabulary and merges are ~100k of them, and the
        store reads every GGUF it registers (the embedded model once per fresh home)."""
        buffer, size, offset, unpack_from = self.buffer, self.size, self.offset, struct.unpack_from
        for _ in range(count):
            if offset + 8 > size:
                raise _Truncated
            offset += 8 + unpack_from("<Q", buffer, offset)[0]
        if offset > size:
            raise _Truncated
        self.offset = offset

    def value(self, value_type: int, keep: bool, keep_array: bool = False):
        if value_type in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[value_type])
        if value_type == _STRING:
            return self.string() if keep else self.skip_string()
        if value_type == _ARRAY:
            item_type, count = self.unpack("I"), self.unpack("Q")
            if keep_array:
                return [self.value(item_type, keep=True) for _ in range(count)]
            if item_type in _SCALAR_FORMATS:  # fixed width: skip in one step
                self.offset += count * struct.calcsize("<" + _SCALAR_FORMATS[item_type])
                if self.offset > self.size:
                    raise _Truncated
            elif item_type == _STRING:
                self.skip_strings(count)
            else:
                for _ in range(count):
                    self.value(item_type, keep=False)
            return None
        raise ValueError(f"unknown metadata value type {value_type}")


def check_header(path: Path) -> None:
    """Cheap check (4 bytes) that `path` exists and starts like a GGUF file."""
    kind = file_kind(path)
    if kind == "no such file":
        raise BadInput(f"{path}: no such file")
    if kind is not None:
        raise BadInput(f"{path}: {kind}, not a file (expected a .gguf model file)")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the model file ({exc.strerror})") from None
    if magic != GGUF_MAGIC:
        raise BadInput(f"{path}: not a GGUF file (expected magic 'GGUF', found {magic!r})")


def read_gguf_info(path: Path) -> GGUFInfo:
    """Parse header, scalar metadata and the tensor table; BadInput naming the file if anything is off.

    A truncated file is caught here (its header or tensor data runs past the end of the file),
    so it never reaches llama.cpp's loader.
    """
    path = Path(path)
    check_header(path)
    stat = path.stat()
    return _read_gguf_info(path, (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _read_gguf_info(path: Path, identity: tuple[int, int, int, int]) -> GGUFInfo:
    """Parsed once per file version in a process: parsing walks the ~100k vocabulary strings (~50 ms), and a
    process opens the store (which checks the embedded model) and loads models several times."""
    size = identity[2]
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        try:
            metadata, tensors, data_start = _parse(_Cursor(buffer, size))
        except _Truncated:
            raise BadInput(f"{path}: truncated GGUF (header ends past the end of the file, {size} bytes)") from None
        except (ValueError, OverflowError, struct.error) as exc:
            raise BadInput(f"{path}: damaged GGUF ({exc})") from None
    if not tensors:
        raise BadInput(f"{path}: GGUF has no tensors (not a model file)")
    data_end = data_start + max(offset + n_bytes for _, offset, n_bytes in tensors)
    if data_end > size:
        raise BadInput(f"{path}: truncated GGUF (tensor data needs {data_end} bytes, file has {size})")
    architecture = str(metadata.get("general.architecture") or "unknown")
    chat_template = metadata.get("tokenizer.chat_template")
    return GGUFInfo(
        architecture=architecture,
        model_name=metadata.get("general.name") or None,
        parameter_count=sum(n_elements for n_elements, _, _ in tensors),
        file_type=_file_type_name(metadata.get("general.file_type")),
        context_length=metadata.get(f"{architecture}.context_length"),
        size_bytes=size,
        has_chat_template=bool(chat_template),
        chat_template=chat_template or None,
    )


def tensor_shapes(path: Path) -> tuple[str, dict[str, tuple[int, ...]]]:
    """(general.architecture, tensor name -> dimensions as GGUF stores them) without loading any data."""
    path = Path(path)
    check_header(path)
    shapes: dict[str, tuple[int, ...]] = {}
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        try:
            metadata, _, _ = _parse(_Cursor(buffer, path.stat().st_size), shapes=shapes)
        except (_Truncated, ValueError, OverflowError, struct.error) as exc:
            raise BadInput(f"{path}: damaged GGUF ({exc or 'truncated'})") from None
    return str(metadata.get("general.architecture") or "unknown"), shapes


def lora_mismatch(model_path: Path, lora_path: Path) -> str | None:
    """Why a GGUF LoRA cannot apply to a model (another architecture, a tensor it lacks, other dimensions), or
    None. Checked before llama.cpp sees the pair: some mismatches crash it instead of failing."""
    model_arch, model_shapes = tensor_shapes(model_path)
    lora_arch, lora_shapes = tensor_shapes(lora_path)
    if lora_arch != model_arch:
        return f"the LoRA is for {lora_arch} models, {Path(model_path).name} is {model_arch}"
    for name, dims in lora_shapes.items():
        if not name.endswith(".lora_a"):
            continue
        base = name.removesuffix(".lora_a")
        b_dims = lora_shapes.get(base + ".lora_b")
        if base not in model_shapes:
            return f"the model has no tensor {base}"
        # lora_a is [n_in, rank], lora_b is [rank, n_out]; the base weight is [n_in, n_out]
        if b_dims is None or (dims[0], b_dims[-1]) != model_shapes[base][:2]:
            lora_shape = f"[{dims[0]}, {b_dims[-1] if b_dims else '?'}]"
            return f"{base} is {list(model_shapes[base])} in the model, the LoRA expects {lora_shape}"
    return None


def special_tokens(path: Path) -> dict[str, str]:
    """The text of the GGUF's special tokens that end or frame a turn: {"bos": "<s>", "eos": "</s>", "eot": ...}."""
    path = Path(path)
    check_header(path)
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        try:
            metadata, _, _ = _parse(
                _Cursor(buffer, path.stat().st_size), keep_arrays=frozenset({"tokenizer.ggml.tokens"})
            )
        except (_Truncated, ValueError, OverflowError, struct.error) as exc:
            raise BadInput(f"{path}: damaged GGUF ({exc or 'truncated'})") from None
    tokens = metadata.get("tokenizer.ggml.tokens") or []
    found = {}
    for kind in ("bos", "eos", "eot", "eom"):
        token_id = metadata.get(f"tokenizer.ggml.{kind}_token_id")
        if isinstance(token_id, int) and 0 <= token_id < len(tokens):
            found[kind] = tokens[token_id]
    return found


def _parse(
    cursor: _Cursor, keep_arrays: frozenset[str] = frozenset(), shapes: dict | None = None
) -> tuple[dict, list[tuple[int, int, int]], int]:
    """Return (scalar/string metadata, [(n_elements, data offset, n_bytes)], start of tensor data); `shapes`, when
    given, is filled with each tensor's name -> dimensions."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    cursor.offset = 4
    version = cursor.unpack("I")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version} (expected 2 or 3)")
    n_tensors, n_kv = cursor.unpack("Q"), cursor.unpack("Q")
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ValueError(f"implausible counts ({n_tensors} tensors, {n_kv} metadata keys)")
    metadata = {}
    for _ in range(n_kv):
        key = cursor.string()
        metadata[key] = cursor.value(
            cursor.unpack("I"), keep=not key.startswith("tokenizer.ggml."), keep_array=key in keep_arrays
        )
    tensors = []
    for _ in range(n_tensors):
        if shapes is None:
            cursor.skip_string()  # a name is read only where its shape is wanted
        else:
            name = cursor.string()
        n_dims = cursor.unpack("I")
        if n_dims > 8:
            raise ValueError(f"tensor with {n_dims} dimensions")
        dims = [cursor.unpack("Q") for _ in range(n_dims)]
        if shapes is not None:
            shapes[name] = tuple(dims)
        n_elements = 1
        for dim in dims:
            n_elements *= dim
        type_id, offset = cursor.unpack("I"), cursor.unpack("Q")
        try:
            block_size, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
        except (ValueError, KeyError):
            raise ValueError(f"unknown tensor type {type_id}") from None
        tensors.append((n_elements, offset, n_elements // block_size * type_size))
    alignment = int(metadata.get("general.alignment") or DEFAULT_ALIGNMENT)
    data_start = -(-cursor.offset // alignment) * alignment
    return metadata, tensors, data_start


def _file_type_name(value) -> str:
    from gguf import LlamaFileType

    if value is None:
        return "unknown"
    try:
        return LlamaFileType(int(value)).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"type-{value}"
