"""The transcript's streaming split: complete Markdown blocks leave the plain-text tail once, so a batch costs
the same however long the answer already is."""

from __future__ import annotations

from llmdeck.tui.widgets.chat_log import split_finished


def test_blocks_end_at_blank_lines_outside_fences_and_at_closing_fences():
    blocks, rest = split_finished("Intro **bold**.\n\nA list:\n- a\n- b\n\nTail being writ")
    assert blocks == ["Intro **bold**.", "A list:\n- a\n- b"] and rest == "Tail being writ"
    # a blank line inside a code fence does not end the block; the closing fence does
    open_fence = "```python\nx = 1\n\ny = 2\n"
    assert split_finished(open_fence) == ([], open_fence)
    assert split_finished(open_fence + "```\nnext") == (["```python\nx = 1\n\ny = 2\n```"], "next")
    blocks, rest = split_finished("Code:\n```sh\nls\n\n```\nafter")
    assert blocks == ["Code:\n```sh\nls\n\n```"] and rest == "after"


def test_streamed_in_pieces_the_blocks_are_the_same_as_all_at_once():
    text = "One.\n\n```py\na\n\nb\n```\nTwo\nlines.\n\n- x\n- y\n\nend"
    blocks, tail = [], ""
    for piece in [text[i : i + 3] for i in range(0, len(text), 3)]:
        done, tail = split_finished(tail + piece)
        blocks += done
    assert blocks == ["One.", "```py\na\n\nb\n```", "Two\nlines.", "- x\n- y"] and tail == "end"
