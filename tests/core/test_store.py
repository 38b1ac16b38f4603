from __future__ import annotations

import pytest

from llmdeck.core import paths
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.errors import BadInput, NotFound
from llmdeck.core.settings import load_settings
from llmdeck.core.store import ModelStore, derive_name


def test_embedded_model_is_registered_by_reference_as_default(embedded_gguf):
    store = ModelStore()
    [entry] = store.list()
    assert entry.name == EMBEDDED_CHAT_MODEL_NAME
    assert entry.embedded and not entry.copied and entry.is_default
    assert entry.path == str(embedded_gguf.resolve())
    assert entry.has_chat_template and entry.file_type == "Q4_1" and entry.context_length == 8192
    assert not any(paths.models_dir().iterdir())  # referenced, not copied
    assert ModelStore().list() == [entry]  # re-opening does not duplicate


def test_import_by_reference_and_by_copy(copied_gguf):
    store = ModelStore()
    ref = store.register(copied_gguf)
    assert ref.name == "my-model.q4_1" and ref.path == str(copied_gguf.resolve())
    copy = store.register(copied_gguf, name="mine", copy=True, base_model="smollm2", run_id="r1")
    assert copy.copied and copy.path.startswith(str(paths.models_dir()))
    assert (copy.base_model, copy.run_id) == ("smollm2", "r1")
    assert {e.name for e in store.list()} == {EMBEDDED_CHAT_MODEL_NAME, "my-model.q4_1", "mine"}
    store.remove("mine")
    assert not (paths.models_dir() / "mine.gguf").exists()
    store.remove("my-model.q4_1")
    assert copied_gguf.exists()  # a referenced file is never deleted


def test_duplicate_name_bad_name_and_unknown_name(copied_gguf):
    store = ModelStore()
    store.register(copied_gguf, name="dup")
    with pytest.raises(BadInput, match="already in the store"):
        store.register(copied_gguf, name="dup", copy=True)
    assert not any(paths.models_dir().iterdir())  # no copy left behind
    with pytest.raises(BadInput, match="model name"):
        store.register(copied_gguf, name="../evil")
    with pytest.raises(NotFound, match="not in the store"):
        store.get("nope")


def test_bad_files_leave_no_entry_and_no_copy(tmp_path, truncated_gguf):
    store = ModelStore()
    before = store.list()
    for bad in (truncated_gguf, tmp_path / "missing.gguf"):
        with pytest.raises(BadInput, match=str(bad.name)):
            store.register(bad, copy=True)
    assert store.list() == before
    assert list(paths.models_dir().iterdir()) == []


def test_default_is_saved_in_config_and_cleared_on_remove(copied_gguf):
    store = ModelStore()
    store.register(copied_gguf, name="other")
    store.set_default("other")
    assert load_settings().default_model == "other"
    assert store.resolve(None).name == "other"
    store.remove("other")
    assert store.resolve(None).name == EMBEDDED_CHAT_MODEL_NAME
    with pytest.raises(BadInput):
        store.remove(EMBEDDED_CHAT_MODEL_NAME)


def test_resolve_registers_a_gguf_path_once(copied_gguf):
    store = ModelStore()
    first = store.resolve(str(copied_gguf))
    assert store.resolve(str(copied_gguf)).name == first.name
    assert len(store.list()) == 2


def test_derive_name():
    from pathlib import Path

    assert derive_name(Path("/x/SmolLM2-135M-Instruct.Q4_1.gguf")) == "smollm2-135m-instruct.q4_1"
    assert derive_name(Path("weird name (1).gguf")) == "weird-name-1"


def test_stores_opened_at_once_on_a_fresh_home_register_the_embedded_model_once(tmp_path, monkeypatch):
    """The app's workers open stores at once on a first start; none may fail on the embedded model's
    registration (a lost INSERT race used to surface as 'could not register ... (another row available)')."""
    import threading

    for attempt in range(10):
        monkeypatch.setenv("LLMDECK_HOME", str(tmp_path / f"home-{attempt}"))
        barrier, errors, names = threading.Barrier(8), [], []

        def open_store():
            barrier.wait()
            try:
                names.append(ModelStore().resolve(None).name)
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(repr(exc))

        threads = [threading.Thread(target=open_store) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and set(names) == {"smollm2-135m-instruct"}
        assert [m.name for m in ModelStore().list()].count("smollm2-135m-instruct") == 1
