"""`llmdeck predict RUN TEXT`: a quick check of a finished task-head run (token labels, an answer span, masked-token
fills, or a reward score), its adapter applied to the base it was trained on."""

from __future__ import annotations

from llmdeck.core.errors import BadInput

PREDICT_METHODS = ("token-cls", "extractive-qa", "mlm", "reward")


def predict(run_ref: str, text: str, context: str | None = None, top_k: int = 5) -> dict:
    """What the run's head makes of `text` (for extractive-qa: the question, answered from `context`)."""
    from llmdeck.tuning.heads import finished_task_run, load_task_model, task_info

    if not text.strip():
        raise BadInput("predict: the text is empty")
    run = finished_task_run(run_ref, PREDICT_METHODS)
    if run.method == "extractive-qa" and not (context or "").strip():
        raise BadInput(f"run {run.id} answers questions from a context: pass --context TEXT (or @FILE)")
    if run.method == "mlm" and "[MASK]" not in text and "<mask>" not in text:
        raise BadInput("predict: a masked-LM run fills masks; put [MASK] where a word should go")
    model, tokenizer = load_task_model(run.id, methods=(run.method,))
    model.eval()
    result = {"run": run.id, "method": run.method, "text": text}
    if run.method == "token-cls":
        from llmdeck.tuning.token_cls import predict as tag

        return {**result, **tag(model, tokenizer, text)}
    if run.method == "extractive-qa":
        from llmdeck.tuning.extractive_qa import predict as answer

        info = task_info(run.path / "adapter")
        return {**result, "context": context,
                **answer(model, tokenizer, text, context, info.get("max_length", 384), info.get("doc_stride", 128))}
    if run.method == "mlm":
        from llmdeck.tuning.mlm import predict as fill

        return {**result, **fill(model, tokenizer, text, top_k)}
    from llmdeck.tuning.reward_scores import score_texts

    return {**result, "score": score_texts(model, tokenizer, [text])[0]}
