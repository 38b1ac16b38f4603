"""Find files, load them with LangChain loaders and split them into chunks with per-chunk metadata.

Markdown, reStructuredText (also Sphinx's `x.rst.txt` copies) and HTML split at their headings into chunks
that know their section path (rag/structure.py); source code on its language's structure; everything else with
the recursive character splitter. Chunk ids derive from source + content.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput
from llmdeck.core.validate import DocumentProblem, file_kind, parse_json
from llmdeck.rag.structure import PATH_SEPARATOR, Piece, split_structured, structured_kind

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".json", ".jsonl"}
CODE_LANGUAGES = {
    ".py": "python",
    ".js": "js",
    ".ts": "ts",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".rb": "ruby",
    ".php": "php",
    ".scala": "scala",
    ".kt": "kotlin",
    ".swift": "swift",
    ".cs": "csharp",
    ".lua": "lua",
    ".sh": "text",
    ".toml": "text",
    ".yaml": "text",
    ".yml": "text",
    ".sql": "text",
}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | set(CODE_LANGUAGES)
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class Chunk:
    id: str
    text: str
    metadata: dict


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}


def discover_files(
    inputs: list[str | Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    follow_links: bool = False,
) -> Discovery:
    """Files under the given paths (directories recursively) with a supported suffix, filtered by globs.

    Symbolic links are not followed out of the tree the user named (a link to a file elsewhere, a linked
    directory), unless `follow_links`; unreadable directories, special files and links out are listed as
    skipped with their reason, never silently dropped.
    """
    found = Discovery()
    for raw in inputs:
        root = Path(raw).expanduser()
        if not root.exists() and not root.is_symlink():
            raise BadInput(f"{root}: no such file or directory")
        if file_kind(root) == "is a symlink loop":
            raise BadInput(f"{root}: is a symlink loop")
        if root.is_dir():
            candidates = _walk(root, found, follow_links)
        else:
            candidates = [root]
        for path in candidates:
            rel = path.name if not root.is_dir() else str(path.relative_to(root))
            if any(part.startswith(".") for part in Path(rel).parts):
                continue
            if include and not any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(path.name, g) for g in include):
                continue
            if any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(path.name, g) for g in exclude):
                continue
            reason = _skip_reason(path, root if root.is_dir() else None, max_file_bytes, follow_links)
            if reason:
                found.skipped.append({"path": str(path.absolute()), "reason": reason})
            else:
                found.files.append(path.resolve())
    found.files = sorted(set(found.files))
    return found


def _walk(root: Path, found: Discovery, follow_links: bool) -> list[Path]:
    """Every entry below `root` that is not a directory; unreadable and linked directories are reported."""

    def unreadable(error: OSError) -> None:
        found.skipped.append(
            {"path": str(Path(error.filename).absolute()), "reason": f"unreadable directory ({error.strerror})"}
        )

    entries = []
    visited: set[tuple[int, int]] = set()  # (device, inode) of each folder walked: a linked loop is walked once
    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=follow_links):
        here = os.stat(folder)
        if (here.st_dev, here.st_ino) in visited:
            found.skipped.append({"path": str(Path(folder).absolute()), "reason": "walked already (a link loop)"})
            dirs[:] = []
            continue
        visited.add((here.st_dev, here.st_ino))
        for name in sorted(dirs):
            linked = Path(folder) / name
            if not name.startswith(".") and linked.is_symlink() and not follow_links:
                found.skipped.append(
                    {
                        "path": str(linked.absolute()),
                        "reason": "symbolic link to a directory (not followed; use --follow-links)",
                    }
                )
        entries += [Path(folder) / name for name in sorted(files)]
    return entries


def _skip_reason(path: Path, root: Path | None, max_file_bytes: int, follow_links: bool) -> str | None:
    suffix = path.suffix.lower()
    kind = file_kind(path)
    if kind in ("is a symlink loop", "is a broken symlink (its target does not exist)"):
        return kind.removeprefix("is ")
    if root is not None and path.is_symlink() and not follow_links:  # a file named explicitly is the user's choice
        if not path.resolve().is_relative_to(root.resolve()):
            return "symbolic link out of the ingested folder (not followed; use --follow-links)"
    try:
        info = path.stat()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return f"{kind}, not a regular file" if kind else "not a regular file"
    if suffix not in SUPPORTED_SUFFIXES:
        return f"unsupported file type '{suffix or path.name}'"
    if info.st_size > max_file_bytes:
        return f"too large ({info.st_size} bytes > {max_file_bytes})"
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if suffix != ".pdf" and b"\x00" in head:
        return "binary content"
    if suffix == ".pdf" and not head.startswith(b"%PDF"):
        return "not a PDF (no %PDF header)"
    return None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chunk_id(source: str, text: str, occurrence: int) -> str:
    """Stable id from the source path and the chunk's content (occurrence separates repeated chunks)."""
    return hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode()).hexdigest()[:40]


def split_file(path: Path, chunk_size: int = 1000, chunk_overlap: int = 150) -> list[Chunk]:
    """Load one file and split it into chunks carrying source, section path (structured formats), title,
    page and chunk index."""
    kind = structured_kind(path.name)
    if kind is not None:
        return _chunks(str(path), split_structured(_read_text(path), kind, chunk_size, chunk_overlap))
    documents = _split_documents(path, chunk_size, chunk_overlap)
    source = str(path)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}  # chunk text -> how often it came before
    for document in documents:
        text = document.page_content.strip()
        if not text:
            continue
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        metadata: dict[str, Any] = {"source": source, "chunk": len(chunks)}
        title = document.metadata.get("title")
        if title:
            metadata["title"] = str(title)[:200]
        if "page" in document.metadata:
            metadata["page"] = int(document.metadata["page"]) + 1
        chunks.append(Chunk(chunk_id(source, text, occurrence), text, metadata))
    return chunks


def _chunks(source: str, pieces: list[Piece]) -> list[Chunk]:
    """Chunks of a structured document: the section path is in the metadata (`section`, and `title` as before)
    and already the first line of the text, so it is embedded and keyword-indexed with it."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for piece in pieces:
        text = piece.text.strip()
        if not text:
            continue
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        metadata: dict[str, Any] = {"source": source, "chunk": len(chunks)}
        if piece.section:
            metadata["section"] = piece.section[:500]
            metadata["title"] = piece.section[:200]
        chunks.append(Chunk(chunk_id(source, text, occurrence), text, metadata))
    return chunks


def citation(metadata: dict) -> str:
    """How a chunk is cited: its file name, then its section below the document's title where it has one
    (`functools.rst.txt § lru_cache`); a chunk from before section paths, or of a plain format, by its file."""
    name = Path(str(metadata.get("source") or "?")).name
    section = section_label(metadata)
    return f"{name} § {section}" if section else name


def section_label(metadata: dict) -> str:
    """A chunk's section path below the document's title (`lru_cache` for `functools > lru_cache`), or ""."""
    parts = str(metadata.get("section") or "").split(PATH_SEPARATOR)
    return PATH_SEPARATOR.join(parts[1:] if len(parts) > 1 else parts).strip()


def _split_documents(path: Path, chunk_size: int, chunk_overlap: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    suffix = path.suffix.lower()
    recursive = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    if suffix in (".json", ".jsonl"):
        return _split_json(path, recursive, chunk_size)
    if suffix == ".pdf":
        from langchain_community.document_loaders import PyPDFLoader

        return recursive.split_documents(PyPDFLoader(str(path)).load())
    if suffix in CODE_LANGUAGES and CODE_LANGUAGES[suffix] != "text":
        from langchain_text_splitters import Language

        splitter = RecursiveCharacterTextSplitter.from_language(
            Language(CODE_LANGUAGES[suffix]), chunk_size=chunk_size, chunk_overlap=chunk_overlap
        )
        return splitter.create_documents([_read_text(path)])
    return recursive.create_documents([_read_text(path)])


def _split_json(path: Path, recursive, chunk_size: int):
    """JSON by structure (`RecursiveJsonSplitter`), JSON Lines one record per piece; invalid JSON as text."""
    import json

    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveJsonSplitter

    text = _read_text(path)
    try:
        records = (
            [parse_json(line) for line in text.splitlines() if line.strip()]
            if path.suffix.lower() == ".jsonl"
            else [parse_json(text)]
        )
    except (json.JSONDecodeError, DocumentProblem):  # not JSON within the limits: chunked as text
        return recursive.create_documents([text])
    splitter = RecursiveJsonSplitter(max_chunk_size=chunk_size)
    pieces = []
    for record in records:
        if isinstance(record, dict):
            pieces += splitter.split_text(record, convert_lists=True, ensure_ascii=False)
        else:
            pieces.append(json.dumps(record, ensure_ascii=False))
    return recursive.split_documents([Document(page_content=p) for p in pieces])


def _read_text(path: Path) -> str:
    """UTF-8 (a BOM is dropped); text in another encoding is read as Windows-1252/Latin-1 rather than refused."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
