"""Training data: read files, detect the format, validate every row, convert to trl's formats.

One module per format in `formats/` (detection, validation and conversion side by side) behind one registry:
alpaca, sharegpt, messages, text, preference, prompt, tokens, qa (see each module's docstring for its shape).
`reading` reads files and hub datasets, `prepare` runs a whole dataset through its format and the run's method,
`measure` adds token statistics, and `errors` holds the messages a dataset is refused with.

SFT rows become conversational prompt/completion pairs (trl then puts the loss on the completion, the assistant's
reply) or {"text"}; preference rows become {prompt, chosen, rejected} message lists, all rendered through the base
model's chat template by trl.
"""

from llmdeck.tuning.data.formats import FORMAT_SHAPES, FORMATS, convert_row, detect_format, get_format, row_format
from llmdeck.tuning.data.measure import MEASURED_ROWS, measure, render_lengths, split_eval, to_dataset, token_stats
from llmdeck.tuning.data.prepare import (
    ANY_METHOD,
    MAX_LISTED_BAD_ROWS,
    PLACEHOLDER,
    DataReport,
    PreparedData,
    bundled_sample,
    check,
    no_usable_rows_message,
    placeholders_in,
    prepare,
    substitute,
)
from llmdeck.tuning.data.reading import FILE_SUFFIXES, looks_like_hub_name, read_rows, text_documents
from llmdeck.tuning.data.rows import BadRow, Row, RowError

__all__ = [
    "ANY_METHOD",
    "FILE_SUFFIXES",
    "FORMATS",
    "FORMAT_SHAPES",
    "MAX_LISTED_BAD_ROWS",
    "MEASURED_ROWS",
    "PLACEHOLDER",
    "BadRow",
    "DataReport",
    "PreparedData",
    "Row",
    "RowError",
    "bundled_sample",
    "check",
    "convert_row",
    "detect_format",
    "get_format",
    "looks_like_hub_name",
    "measure",
    "no_usable_rows_message",
    "placeholders_in",
    "prepare",
    "read_rows",
    "render_lengths",
    "row_format",
    "split_eval",
    "substitute",
    "text_documents",
    "to_dataset",
    "token_stats",
]
