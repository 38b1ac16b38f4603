"""services.models: store rows with their run's recorded loss, details, lineage base -> run -> quants."""

from __future__ import annotations

import shutil

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.store import ModelStore
from llmdeck.services.models import lineage, model_details, model_rows
from llmdeck.tuning.registry import Registry


def flatten(node, depth=0):
    yield depth, node.kind, node.name
    for child in node.children:
        yield from flatten(child, depth + 1)


def test_lineage_and_recorded_loss(tmp_path, embedded_gguf):
    registry = Registry()
    run = registry.create("my-run", "sft", EMBEDDED_CHAT_MODEL_NAME, "sample", {}, "local")
    registry.update(run.id, status="completed", last_metrics={"loss": 1.25, "step": 4})
    store = ModelStore()
    for name in ("tuned-f16", "tuned-q4"):
        shutil.copyfile(embedded_gguf, tmp_path / f"{name}.gguf")
    store.register(tmp_path / "tuned-f16.gguf", name="tuned-f16", base_model=EMBEDDED_CHAT_MODEL_NAME, run_id=run.id)
    store.register(tmp_path / "tuned-q4.gguf", name="tuned-q4", quant_source="tuned-f16")
    rows = {r.entry.name: r for r in model_rows()}
    assert rows["tuned-f16"].loss == 1.25 and rows["tuned-f16"].run_name == "my-run"
    assert rows[EMBEDDED_CHAT_MODEL_NAME].loss is None
    expected = [
        (0, "model", EMBEDDED_CHAT_MODEL_NAME),
        (1, "run", run.id),
        (2, "model", "tuned-f16"),
        (3, "model", "tuned-q4"),
    ]
    assert list(flatten(lineage("tuned-q4"))) == expected
    assert list(flatten(lineage(EMBEDDED_CHAT_MODEL_NAME))) == expected


def test_details_carry_the_chat_template_and_a_missing_file_is_a_problem_not_an_error(copied_gguf):
    details = model_details(EMBEDDED_CHAT_MODEL_NAME)
    assert "im_start" in details.chat_template and details.problem is None
    ModelStore().register(copied_gguf, name="moved")
    copied_gguf.unlink()
    moved = model_details("moved")
    assert moved.chat_template is None and str(copied_gguf.name) in moved.problem
