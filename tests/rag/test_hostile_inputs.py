"""Ingest survives hostile files: every one is ingested or listed as skipped with its reason, nothing escapes
the folder the user named, and an ingest that stores nothing fails without leaving a collection behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmdeck.rag.documents import discover_files, split_file

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]  # root, but bound by file permissions


def hostile_tree(tmp_path: Path) -> tuple[Path, Path]:
    """(docs folder, a secret outside it) with one file or entry per class of trouble."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Lighthouses\n\nThe Skerry Point lighthouse was automated in 1998.\n")
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me: the espresso machine runs at 9 bar.".encode("latin-1"))
    (docs / "bom.md").write_bytes("\ufeff# Penguins\n\nEmperor penguins breed in winter.\n".encode("utf-8"))
    (docs / "random.txt").write_bytes(bytes(range(256)) * 8)
    (docs / "fake.pdf").write_text("this is no pdf")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    # one ~100 kB line, no line breaks to split on
    (docs / "huge-line.txt").write_text(
        " ".join(f"Ledger entry {i} records {i * 7} crates of tin." for i in range(2500))
    )
    (docs / "locked.md").write_text("# Locked\n\nnobody may read this\n")
    (docs / "locked.md").chmod(0)
    (docs / "closed").mkdir()
    (docs / "closed" / "inside.md").write_text("# Inside\n\nbehind a closed door\n")
    (docs / "closed").chmod(0)
    os.mkfifo(docs / "pipe.txt")
    secret = tmp_path / "secret.txt"
    secret.write_text("The launch code is 0451-ZEBRA.\n")
    (docs / "escape.txt").symlink_to(secret)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "more.md").write_text("# Outside\n\nThe launch code is 0451-ZEBRA too.\n")
    (docs / "linked-dir").symlink_to(outside)
    (docs / "inner-link.md").symlink_to(docs / "good.md")  # a link inside the tree: the same file, once
    return docs, secret


def in_process(*args: str) -> str:
    """stdout of a read-only command (query, collections) run in-process: what an ingest left is what is checked,
    and each subprocess would load the embedding model again."""
    from click.testing import CliRunner

    from llmdeck.cli.main import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def llmdeck(*args: str, unprivileged: bool = True) -> subprocess.CompletedProcess:
    command = [*(NO_DAC if unprivileged else []), sys.executable, "-m", "llmdeck.cli", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=Path(os.environ["LLMDECK_HOME"]).parent
    )


@pytest.mark.slow
def test_every_hostile_file_is_ingested_or_skipped_with_a_reason(tmp_path):
    docs, _ = hostile_tree(tmp_path)
    result = llmdeck("rag", "ingest", str(docs), "--collection", "hostile", "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)
    reasons = {Path(s["path"]).name: s["reason"] for s in summary["skipped_files"]}
    assert reasons == {
        "random.txt": "binary content",
        "fake.pdf": "not a PDF (no %PDF header)",
        "image.png": "unsupported file type '.png'",
        "locked.md": "unreadable (Permission denied)",
        "closed": "unreadable directory (Permission denied)",
        "pipe.txt": "is a FIFO (named pipe), not a regular file",
        "escape.txt": "symbolic link out of the ingested folder (not followed; use --follow-links)",
        "linked-dir": "symbolic link to a directory (not followed; use --follow-links)",
    }
    assert summary["files_seen"] == 4  # good.md (its inner link is the same file), latin1.txt, bom.md, huge-line.txt
    hits = json.loads(
        in_process("rag", "query", "--collection", "hostile", "What is the launch code?", "-k", "20", "--json")
    )
    assert hits and not any("ZEBRA" in hit["text"] for hit in hits)
    espresso = json.loads(
        in_process("rag", "query", "--collection", "hostile", "espresso machine pressure", "-k", "3", "--json")
    )
    assert any(hit["text"].startswith("Café crème") for hit in espresso)  # latin-1 decoded
    penguins = json.loads(
        in_process("rag", "query", "--collection", "hostile", "emperor penguins breed", "-k", "3", "--json")
    )
    # the BOM dropped: the first line is read as the heading it is (the section), and no text starts with it
    assert any(hit["section"] == "Penguins" and hit["text"].startswith("Penguins") for hit in penguins)
    assert not any(hit["text"].startswith("\ufeff") for hit in penguins)


@pytest.mark.slow
def test_follow_links_ingests_what_the_links_point_to(tmp_path):
    docs, _ = hostile_tree(tmp_path)
    result = llmdeck("rag", "ingest", str(docs), "--collection", "followed", "--follow-links", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(in_process("rag", "query", "--collection", "followed", "What is the launch code?", "--json"))
    assert any("ZEBRA" in hit["text"] for hit in hits)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["empty", "only-skipped", "no-text", "dev-zero"])
def test_an_ingest_that_stores_nothing_fails_and_leaves_no_collection(tmp_path, layout):
    docs = tmp_path / "docs"
    docs.mkdir()
    target = str(docs)
    if layout == "only-skipped":
        (docs / "a.png").write_bytes(b"\x89PNG")
        (docs / "b.txt").write_bytes(b"\x00\x01")
    elif layout == "no-text":
        (docs / "empty.md").write_text("   \n\n")
    elif layout == "dev-zero":
        target = "/dev/zero"
    result = llmdeck("rag", "ingest", target, "--collection", "nothing", unprivileged=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "nothing to ingest into 'nothing'" in lines[0], result.stderr
    assert json.loads(in_process("rag", "collections", "--json")) == []


@pytest.mark.slow
def test_querying_an_emptied_collection_says_it_is_empty(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nsome text\n")
    assert llmdeck("rag", "ingest", str(docs), "--collection", "shrinks", unprivileged=False).returncode == 0
    (docs / "a.md").unlink()
    pruned = llmdeck("rag", "ingest", str(docs), "--collection", "shrinks", "--prune", unprivileged=False)
    assert pruned.returncode == 0, pruned.stderr
    result = llmdeck("rag", "query", "--collection", "shrinks", "anything", unprivileged=False)
    assert result.returncode == 2 and "collection 'shrinks' is empty (0 chunks)" in result.stderr


def test_discovery_reports_links_out_and_keeps_links_in(tmp_path):
    docs, secret = hostile_tree(tmp_path)
    (docs / "locked.md").chmod(0o644)
    (docs / "closed").chmod(0o755)
    found = discover_files([docs])
    names = sorted(path.name for path in found.files)
    assert names == sorted(["bom.md", "good.md", "huge-line.txt", "latin1.txt", "locked.md", "inside.md"])
    assert secret.resolve() not in found.files
    followed = discover_files([docs], follow_links=True)
    assert secret.resolve() in followed.files and (tmp_path / "outside" / "more.md").resolve() in followed.files
    assert discover_files([docs / "escape.txt"]).files == [secret.resolve()]  # named explicitly: the user's choice


def test_non_utf8_text_is_decoded_not_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("Na\xefve caf\xe9 notes".encode("latin-1"))
    assert [chunk.text for chunk in split_file(path)] == ["Naïve café notes"]
