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


async def test_a_streamed_tail_is_laid_out_again_only_when_it_takes_other_rows():
    from textual.app import App
    from textual.widgets import Static

    from llmdeck.tui.widgets.chat_log import ChatLog

    class Transcript(App):
        def compose(self):
            yield ChatLog()

    app = Transcript()
    async with app.run_test(size=(40, 20)) as pilot:
        bubble = app.query_one(ChatLog).add("assistant", streaming=True)
        await pilot.pause()
        tail = bubble.query_one(".tail", Static)
        grown = []
        for word in ["word "] * 30:  # 150 cells: the tail wraps onto new rows as it grows
            grown.append(await bubble.append(word))
            await pilot.pause()
            # what is shown fits the text: the tail's height is its wrapped rows, never a stale one
            assert tail.size.height == tail.get_content_height(tail.size, tail.size, tail.content_size.width)
        assert tail.size.height >= 4 and True in grown and False in grown
        assert grown.count(True) <= tail.size.height + 1  # a layout for each new row (and the first), not each batch
        await bubble.append("\n\nnext block")
        await pilot.pause()
        assert bubble.query(".body").first().__class__.__name__ == "Markdown"  # the finished block left the tail
        assert str(tail.render()) == "next block" and tail.size.height == 1
