"""Read GGUF metadata with the `gguf` package (no model load) and refuse files llama.cpp would choke on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput

GGUF_MAGIC = b"GGUF"


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


def check_header(path: Path) -> None:
    """Cheap check (4 bytes) that `path` exists and starts like a GGUF file."""
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if not path.is_file():
        raise BadInput(f"{path}: not a file (expected a .gguf model file)")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise BadInput(f"{path}: not a GGUF file (expected magic 'GGUF', found {magic!r})")


def read_gguf_info(path: Path) -> GGUFInfo:
    """Parse header, metadata and tensor table; raise BadInput naming the file if anything is off.

    A truncated file is caught here (tensor data extends past the end of the file), so it
    never reaches llama.cpp's loader.
    """
    path = Path(path)
    check_header(path)
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path, "r")
    except Exception as exc:  # gguf raises ValueError/IndexError/struct errors on damaged files
        raise BadInput(f"{path}: damaged or truncated GGUF ({_short(exc)})") from None
    size = path.stat().st_size
    data_end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if not reader.tensors:
        raise BadInput(f"{path}: GGUF has no tensors (not a model file)")
    if data_end > size:
        raise BadInput(
            f"{path}: truncated GGUF (tensor data needs {data_end} bytes, file has {size})"
        )
    fields = {name: _field_value(field) for name, field in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    architecture = str(fields.get("general.architecture") or "unknown")
    chat_template = fields.get("tokenizer.chat_template")
    return GGUFInfo(
        architecture=architecture,
        model_name=_str_or_none(fields.get("general.name")),
        parameter_count=sum(int(t.n_elements) for t in reader.tensors),
        file_type=_file_type_name(fields.get("general.file_type"), reader),
        context_length=_int_or_none(fields.get(f"{architecture}.context_length")),
        size_bytes=size,
        has_chat_template=bool(chat_template),
        chat_template=chat_template if isinstance(chat_template, str) else None,
    )


def _field_value(field):
    try:
        return field.contents()
    except Exception:
        return None


def _file_type_name(value, reader) -> str:
    from gguf import LlamaFileType

    if value is not None:
        try:
            return LlamaFileType(int(value)).name.removeprefix("MOSTLY_")
        except ValueError:
            return f"type-{value}"
    # no general.file_type: name the most common tensor type instead
    counts: dict[str, int] = {}
    for tensor in reader.tensors:
        counts[tensor.tensor_type.name] = counts.get(tensor.tensor_type.name, 0) + 1
    return max(counts, key=counts.get) if counts else "unknown"


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _str_or_none(value) -> str | None:
    return str(value) if value not in (None, "") else None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
