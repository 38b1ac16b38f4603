"""The app's text field (fast): typing lays nothing out, the field still scrolls to its cursor, and every text
field in tui/ is one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Input, Static

from llmdeck.tui.widgets.field_input import FieldInput

TUI = Path(__file__).resolve().parents[2] / "tui"


def form_host(kind: type[Input]) -> App:
    class FormHost(App):
        CSS = "Input { width: 10; } Static { height: 1; }"

        def compose(self) -> ComposeResult:
            for index in range(20):  # a form's worth of widgets the layout would go through
                yield Static(f"field {index}")
            yield kind(id="field")

    return FormHost()


async def typed_layouts(kind: type[Input], text: str) -> tuple[int, Input, str]:
    """Screen layouts while `text` is typed into a field of `kind`, the field, and the field's row as drawn."""
    app = form_host(kind)
    async with app.run_test(size=(60, 30)) as pilot:
        field = app.query_one("#field", Input)
        field.focus()
        await pilot.pause()
        layouts = 0
        refresh_layout = Screen._refresh_layout

        def counted(screen, *args, **kwargs):
            nonlocal layouts
            layouts += 1
            return refresh_layout(screen, *args, **kwargs)

        Screen._refresh_layout = counted  # type: ignore[method-assign]
        try:
            for character in text:  # what a key press does to the field, without the Pilot's slow key path
                field.insert_text_at_cursor(character)
                await pilot.pause()
        finally:
            Screen._refresh_layout = refresh_layout  # type: ignore[method-assign]
        return layouts, field, field.render_line(0).text


@pytest.mark.parametrize("kind", [Input, FieldInput])
async def test_typing_into_a_field_lays_out_the_screen_only_with_textuals_input(kind):
    text = "abcdefghijklmnop"  # longer than the field's 10 cells
    layouts, field, shown = await typed_layouts(kind, text)
    assert field.value == text
    if kind is Input:
        assert layouts >= len(text) // 2  # Textual's own field: a layout per key (what FieldInput avoids)
    else:
        assert layouts == 0
    # either way the field scrolled to its cursor: the last characters typed are on screen, the first are not
    assert field.scroll_offset.x > 0
    assert "nop" in shown and "abc" not in shown


def test_every_text_field_of_the_app_is_a_field_input():
    plain = [
        f"{path.relative_to(TUI)}:{number}"
        for path in TUI.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(?<![\w.])Input\(", line)
    ]
    assert plain == []
