"""qa: {"question", "context", "answer"} or SQuAD's {"answers": {"text": [...], "answer_start": [...]}}, for
extractive question answering (the answer is a span of the context)."""

from __future__ import annotations

from llmdeck.tuning.data import rows
from llmdeck.tuning.data.formats import DataFormat

FORMAT = DataFormat(
    name="qa",
    order=7,
    decisive=2,
    chat_template=False,
    example={"question": "Where does Ada live?", "context": "Ada lives in London.", "answer": "London"},
    shape='{"question", "context", "answer"}'
    ' or {"question", "context", "answers": {"text": [...], "answer_start": [...]}}',
)


def matches(data: dict, keys: set[str]) -> int:
    return {"question", "context"} <= keys


def convert(data: dict) -> dict:
    question, context = rows.text(data.get("question"), "question"), rows.text(data.get("context"), "context")
    answers = data.get("answers")
    if isinstance(answers, dict):  # SQuAD
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or not texts or len(texts) != len(starts):
            raise rows.RowError('answers: expected {"text": [...], "answer_start": [...]} with one start per text')
        answer, start = rows.text(texts[0], "answers.text[0]"), starts[0]
    else:
        answer, start = rows.text(data.get("answer"), "answer"), data.get("answer_start")
    if start is None:
        start = context.find(answer)
        if start < 0:
            raise rows.RowError(f"answer: {answer[:40]!r} does not occur in the context (extractive QA copies a span)")
    if not isinstance(start, int) or isinstance(start, bool) or context[start : start + len(answer)] != answer:
        raise rows.RowError(f"answer_start: {start!r} does not point at the answer {answer[:40]!r} in the context")
    return {"question": question, "context": context, "answer_text": answer, "answer_start": start}
