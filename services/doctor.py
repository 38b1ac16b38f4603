"""`llmdeck doctor`: what crashed or killed commands left behind, and the stores that disagree with their registry.

Finds (each with the bytes it holds): temporaries whose owner is dead (`core/leftovers.py`), lock files a killed
holder left (`core/locks.py`), model files in the store directory that the store does not list and store
entries whose file is gone, and RAG collections whose vectors differ from their registry (or Chroma
collections no registry knows). `fix=True` removes or reconciles each one and counts the bytes reclaimed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from llmdeck.core import db, leftovers, locks, paths
from llmdeck.core import store as model_store
from llmdeck.core.errors import LlmdeckError
from llmdeck.core.units import human_size

PARTIAL_DOWNLOADS = (".part", ".incomplete")  # resumable downloads: never a mismatch


@dataclass
class Finding:
    """One problem: its kind, where, what it is, the bytes it holds, and (after --fix) whether it was fixed."""

    kind: str  # temporary | stale lock | unregistered model file | missing model file | rag mismatch | rag orphan
    # | rag index (a BM25 index missing or stale)
    path: str
    detail: str
    size_bytes: int = 0
    fixed: bool = False
    fix: Callable[[], object] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("fix")
        return data


@dataclass
class DoctorReport:
    home: str
    findings: list[Finding] = field(default_factory=list)
    fixed: bool = False  # --fix was asked for
    reclaimed_bytes: int = 0
    errors: list[str] = field(default_factory=list)  # fixes that failed, one line each

    @property
    def healthy(self) -> bool:
        return not self.findings or (self.fixed and all(f.fixed for f in self.findings))

    def to_dict(self) -> dict:
        return {
            "home": self.home,
            "findings": [f.to_dict() for f in self.findings],
            "fixed": self.fixed,
            "reclaimed_bytes": self.reclaimed_bytes,
            "errors": self.errors,
            "healthy": self.healthy,
        }


def diagnose(fix: bool = False, rag: bool = True) -> DoctorReport:
    """Every finding under $LLMDECK_HOME; with `fix`, each is repaired and the bytes freed are counted."""
    report = DoctorReport(str(paths.home()), fixed=fix)
    # temporaries first: opening the store below would reclaim those of the store directory by itself
    report.findings += _temporaries()
    report.findings += _stale_locks()
    report.findings += _model_files()
    if rag:
        report.findings += _collections()
    if fix:
        for finding in report.findings:
            if finding.fix is None:
                continue
            try:
                finding.fix()
            except Exception as exc:  # one failed fix does not stop the others; each is reported
                report.errors.append(f"{finding.path}: {type(exc).__name__}: {exc}"[:300])
                continue
            finding.fixed = True
            report.reclaimed_bytes += finding.size_bytes
    return report


def _temporaries() -> list[Finding]:
    found = []
    for item in leftovers.find_dead(leftovers.every_dir(), legacy=True):
        owner = f"pid {item.pid}, not running" if item.pid is not None else "from an older llmdeck, over an hour old"
        what = "a half-written file" if item.kind == "write" else f"left by a killed {item.kind}"
        found.append(Finding("temporary", item.path, f"{what} ({owner})", item.size_bytes, fix=partial(_remove, item)))
    return found


def _remove(item: leftovers.Leftover) -> None:
    leftovers.remove([item])
    if Path(item.path).exists():
        raise LlmdeckError("could not remove it")


def _stale_locks() -> list[Finding]:
    found = []
    for lock_path, pid in locks.stale_locks():
        size = lock_path.stat().st_size if lock_path.exists() else 0
        found.append(
            Finding(
                "stale lock",
                str(lock_path),
                f"held by pid {pid}, which ended without releasing it",
                size,
                fix=partial(_unlock, lock_path),
            )
        )
    return found


def _unlock(lock_path: Path) -> None:
    if not locks.remove_stale(lock_path) and lock_path.exists():
        raise LlmdeckError("the lock is in use now")


def _unregister(name: str) -> None:
    model_store.ModelStore().remove(name, delete_file=False)


def _model_files() -> list[Finding]:
    conn = db.connection(model_store.COMPONENT, model_store.MIGRATIONS)
    rows = conn.execute("SELECT name, path, embedded FROM models ORDER BY name").fetchall()
    found = []
    for row in rows:
        if not row["embedded"] and not Path(row["path"]).exists():
            found.append(
                Finding(
                    "missing model file",
                    row["path"],
                    f"model {row['name']!r} is in the store but its file is gone",
                    fix=partial(_unregister, row["name"]),
                )
            )
    listed = {str(Path(row["path"]).resolve()) for row in rows}
    for path in sorted(paths.models_dir().rglob("*.gguf")):
        if any(part.startswith(".") for part in path.relative_to(paths.models_dir()).parts):
            continue  # temporaries: judged above by their owner
        if path.is_file() and str(path.resolve()) not in listed and not path.name.endswith(PARTIAL_DOWNLOADS):
            found.append(
                Finding(
                    "unregistered model file",
                    str(path),
                    "in the store directory but not in the store (`llmdeck models import` it to keep it)",
                    path.stat().st_size,
                    fix=partial(path.unlink, missing_ok=True),
                )
            )
    return found


def _collections() -> list[Finding]:
    from llmdeck.rag import registry

    conn = registry.connect()
    records = registry.all_records(conn)
    chroma_dir = Path(paths.vectors_dir(), "chroma")
    if not records and not (chroma_dir / "chroma.sqlite3").exists():
        return []  # nothing ingested: no reason to start a vector store
    from llmdeck.rag import consistency

    found = []
    for record in records:
        try:
            state = consistency.inspect(conn, record)
        except LlmdeckError as exc:  # a remote store that is down: say so, nothing to fix from here
            found.append(Finding("rag mismatch", record.location or record.store, f"'{record.name}': {exc}"))
            continue
        if state.agrees:
            found += _keyword_index(conn, record)
            continue
        parts = [f"registry {state.registered} chunks, store {state.stored} vectors"]
        if state.unregistered:
            parts.append(f"{len(state.unregistered)} unregistered (deleted by --fix)")
        if state.missing:
            parts.append(f"{len(state.missing)} missing (their files re-embed on the next ingest)")
        if state.pending:
            parts.append("a killed ingest's notes")
        found.append(
            Finding(
                "rag mismatch",
                record.location,
                f"collection '{record.name}': " + "; ".join(parts),
                fix=partial(consistency.repair, conn, record.name),
            )
        )
    for name in consistency.orphan_collections(conn):
        found.append(
            Finding(
                "rag orphan",
                str(chroma_dir),
                f"Chroma collection '{name}' is in no registry (a failed first ingest)",
                fix=partial(consistency.drop_orphan, name),
            )
        )
    return found


def _keyword_index(conn, record) -> list[Finding]:
    """A collection's BM25 index (hybrid retrieval) missing or older than its registry: cheap, no store access."""
    from llmdeck.rag import bm25

    state = bm25.state(record.name, bm25.registered(conn, record.name))
    if state == "ok":
        return []
    return [
        Finding(
            "rag index",
            str(bm25.index_path(record.name)),
            f"collection '{record.name}': BM25 index {state} (the first query builds it; --fix does now)",
            fix=partial(_rebuild_keyword_index, conn, record),
        )
    ]


def _rebuild_keyword_index(conn, record) -> None:
    import time

    from llmdeck.rag import bm25
    from llmdeck.rag.stores import open_store

    store = open_store(record.store, record.name, record.location, None, record.dimension, time.time())
    bm25.for_store(record.name, bm25.registered(conn, record.name), store, progress=False)


def summary_line(report: DoctorReport) -> str:
    if not report.findings:
        return f"{report.home}: nothing to fix"
    total = sum(f.size_bytes for f in report.findings)
    if report.fixed:
        done = sum(f.fixed for f in report.findings)
        return f"fixed {done} of {len(report.findings)}; reclaimed {human_size(report.reclaimed_bytes)}"
    return f"{len(report.findings)} to fix ({human_size(total)}); run `llmdeck doctor --fix`"
