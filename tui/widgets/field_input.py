"""The app's one-line text field: Textual's Input without a layout of the whole screen at every key.

Textual's Input sets its `virtual_size` (a layout reactive) to the text's width at every change, so each key
typed laid out the screen it sits on: 50-60 ms a key in the new-run form's 40 fields on 2 cores, key presses
of 60-160 ms while a run trained beside it. Only the field's own scroll range depends on that size, and the
field's box is fixed by its CSS, so the size is set here without the layout; the field still repaints and
scrolls to its cursor. Every text field of the app is a FieldInput (a test checks tui/ for plain Inputs).
"""

from __future__ import annotations

from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Input


class FieldInput(Input):
    def _watch_value(self, value: str) -> None:
        if not self.styles.auto_dimensions:  # an auto-sized field does need the layout: Input asks for it then
            self.set_reactive(Widget.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)
