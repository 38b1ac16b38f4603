"""The transcript's streaming split: complete Markdown blocks leave the plain-text tail once, with the tail's next
layout, so a batch costs the same however long the answer already is."""

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


async def test_a_streamed_tail_is_laid_out_again_only_when_it_outgrows_its_rows():
    from textual.app import App
    from textual.widgets import Static

    from llmdeck.tui.widgets.chat_log import TAIL_SPARE_ROWS, ChatLog

    class Transcript(App):
        def compose(self):
            yield ChatLog()

    app = Transcript()
    async with app.run_test(size=(40, 30)) as pilot:
        bubble = app.query_one(ChatLog).add("assistant", streaming=True)
        await pilot.pause()
        tail = bubble.query_one(".tail", Static)
        grown = []
        for word in ["word "] * 60:  # 300 cells: the tail wraps onto new rows as it grows
            grown.append(await bubble.append(word))
            await pilot.pause()
            # the text always fits: the tail has its wrapped rows and at most a few spare ones, never fewer
            rows = tail.get_content_height(tail.size, tail.size, tail.content_size.width)
            assert rows <= tail.size.height <= rows + TAIL_SPARE_ROWS
        assert rows >= 8 and False in grown
        assert 2 <= grown.count(True) <= rows // TAIL_SPARE_ROWS + 2  # a layout per few new rows, not per batch
        # A finished block stays in the plain tail until the tail needs a layout anyway: its mount costs none
        while not await bubble.append("word "):  # up to a layout: the tail has all its spare rows again
            await pilot.pause()
        await pilot.pause()
        assert await bubble.append("\n\nnext block") is False  # two rows more: within the spare ones
        await pilot.pause()
        assert not bubble.query("Markdown") and str(tail.render()).endswith("word \n\nnext block")
        more = 0
        while not await bubble.append(" more"):
            more += 1
            await pilot.pause()
        await pilot.pause()
        assert 0 < more < 40 * TAIL_SPARE_ROWS // 5  # a layout within the spare rows' worth of new text
        assert bubble.query(".body").first().__class__.__name__ == "Markdown"  # the finished block left the tail
        assert str(tail.render()) == "next block" + " more" * (more + 1)
        rows = tail.get_content_height(tail.size, tail.size, tail.content_size.width)
        assert tail.size.height == rows + TAIL_SPARE_ROWS
