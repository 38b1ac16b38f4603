"""`llmdeck predict RUN TEXT`: a quick check of a finished task-head run (token labels, an answer span, masked-token
fills, or a reward score), its adapter applied to the base it was trained on; each method's module predicts."""

from __future__ import annotations

from llmdeck.core.errors import BadInput


def predict(run_ref: str, text: str, context: str | None = None, top_k: int = 5) -> dict:
    """What the run's head makes of `text` (for extractive-qa: the question, answered from `context`)."""
    from llmdeck.tuning.heads import finished_task_run, load_task_model, task_head_methods
    from llmdeck.tuning.methods import get_method

    if not text.strip():
        raise BadInput("predict: the text is empty")
    run = finished_task_run(run_ref, task_head_methods())
    method = get_method(run.method)
    check_input = method.hook("predict_problem")
    problem = check_input(run, text, context) if check_input else None
    if problem:
        raise BadInput(problem)
    model, tokenizer = load_task_model(run.id, methods=(run.method,))
    model.eval()
    return {
        "run": run.id,
        "method": run.method,
        "text": text,
        **method.recipe().predict(model, tokenizer, run, text, context, top_k),
    }
