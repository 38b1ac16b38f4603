"""Per-resource locks: exclusive while held, and no lock file left behind once released."""

from __future__ import annotations

import pytest

from llmdeck.core import locks


def test_a_released_lock_leaves_no_file_and_a_held_one_excludes(llmdeck_home):
    lock_file = llmdeck_home / "locks" / "collection-docs.lock"
    with locks.exclusive("collection", "docs"):
        assert lock_file.read_text().isdigit()  # names its holder while held
        with pytest.raises(locks.Busy, match="collection 'docs' is in use"):
            with locks.exclusive("collection", "docs"):
                pass
    assert list((llmdeck_home / "locks").iterdir()) == []
    with locks.if_free("collection", "docs") as free:
        assert free and lock_file.exists()
    assert not lock_file.exists()
