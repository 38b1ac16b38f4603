"""The files tool stays inside its workspace: traversal, absolute paths and symlinks out are refused."""

import os

import pytest

from llmdeck.agents.workspace import Workspace, WorkspaceError
from llmdeck.core.errors import BadInput


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "todo.md").write_text("# Todo\nbuy milk\nCall Bob about the Invoice 4711\n")
    (root / "readme.txt").write_text("hello workspace\n")
    (root / ".secret").write_text("hidden\n")
    (root / "data.bin").write_bytes(b"\0\1\2binary")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("invoice: outside secret\n")
    os.symlink(outside / "secret.txt", root / "link_out.txt")
    os.symlink(outside, root / "dir_out")
    os.symlink(root / "readme.txt", root / "link_in.txt")
    return Workspace(root)


def test_list_read_grep(workspace):
    assert workspace.list(".").splitlines() == ["data.bin", "link_in.txt", "notes/", "readme.txt"]
    assert workspace.list("notes") == "todo.md"
    assert workspace.read("notes/todo.md").startswith("# Todo")
    assert workspace.read("link_in.txt") == "hello workspace\n"
    assert workspace.grep("invoice") == "notes/todo.md:3: Call Bob about the Invoice 4711"
    assert "no line contains" in workspace.grep("zebra")


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "notes/../../outside/secret.txt",
        "/etc/passwd",
        "~/.ssh/id_rsa",
        "link_out.txt",
        "dir_out/secret.txt",
        "dir_out",
    ],
)
def test_paths_leaving_the_workspace_are_refused(workspace, path):
    with pytest.raises(WorkspaceError):
        workspace.read(path)
    with pytest.raises(WorkspaceError):
        workspace.list(path)


def test_grep_never_follows_a_link_out(workspace):
    assert "outside secret" not in workspace.grep("secret")
    with pytest.raises(WorkspaceError):
        workspace.grep("invoice", "dir_out")


def test_binary_missing_and_empty_pattern(workspace):
    with pytest.raises(WorkspaceError, match="binary"):
        workspace.read("data.bin")
    with pytest.raises(WorkspaceError, match="not a file"):
        workspace.read("missing.txt")
    with pytest.raises(WorkspaceError, match="non-empty pattern"):
        workspace.grep("  ")


def test_a_missing_workspace_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="not a directory"):
        Workspace(tmp_path / "nope")
