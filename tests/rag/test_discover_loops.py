"""`rag ingest` of a folder holding symlink loops, dangling links and a FIFO: each is skipped with its reason,
the folder's real files are found, and a linked folder loop (with --follow-links) is walked once."""

from __future__ import annotations

import os

from llmdeck.rag.documents import discover_files


def test_loops_dangling_links_and_fifos_are_skipped_with_their_reason(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("alpha\n")
    (docs / "sub" / "b.md").write_text("beta\n")
    (docs / "self.txt").symlink_to(docs / "self.txt")
    (docs / "gone.txt").symlink_to(docs / "nowhere.txt")
    os.mkfifo(docs / "pipe.txt")
    (docs / "sub" / "up").symlink_to(docs)  # a folder loop
    for follow in (False, True):
        found = discover_files([docs], follow_links=follow)
        assert found.files == [docs / "a.txt", docs / "sub" / "b.md"]
        reasons = {os.path.basename(item["path"]): item["reason"] for item in found.skipped}
        assert reasons["self.txt"] == "a symlink loop"
        assert reasons["gone.txt"] == "a broken symlink (its target does not exist)"
        assert reasons["pipe.txt"] == "is a FIFO (named pipe), not a regular file"
        if follow:
            assert reasons["up"] == "walked already (a link loop)"
        else:
            assert reasons["up"].startswith("symbolic link to a directory (not followed")
