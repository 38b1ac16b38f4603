"""Pick quant types (one to quantize a model, several to export a run), the store name, and for an export
whether to score each quant: ctrl+s (or Enter in the name) accepts, Esc cancels. The choices are checked
where they are used (core.quantize.parse_quant_types, store names), not here."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, SelectionList, Static

from llmdeck.tui.widgets.field_input import FieldInput


class QuantPickerScreen(ModalScreen[dict | None]):
    """Returns {"quants": [...], "name": str | None, "score": bool}, or None when cancelled."""

    BINDINGS = [Binding("ctrl+s", "accept", "OK"), Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        *,
        multiple: bool,
        selected: tuple[str, ...] = ("q4_k_m",),
        name_hint: str = "",
        scoring: bool = False,
    ):
        super().__init__()
        self.title_text, self.multiple, self.selected = title, multiple, selected
        self.name_hint, self.scoring = name_hint, scoring

    def compose(self) -> ComposeResult:
        from llmdeck.core.quantize import QUANT_TYPES

        with Vertical(classes="dialog tall"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Label("Quant types (space toggles)" if self.multiple else "Quant type (space picks)")
            yield SelectionList(*[(name, name, name in self.selected) for name in QUANT_TYPES], id="quant-types")
            yield Label("Store name" + (" prefix (each quant is NAME.QUANT)" if self.multiple else ""))
            yield FieldInput(placeholder=self.name_hint, id="quant-name")
            if self.scoring:
                yield Checkbox("Score each quant against the f16 (loss, perplexity; slower)", True, id="quant-score")
            with Horizontal(classes="buttons"):
                yield Button("OK (ctrl+s)", variant="primary", id="accept")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#quant-types", SelectionList).focus()

    @on(SelectionList.SelectionToggled, "#quant-types")
    def one_at_a_time(self, event: SelectionList.SelectionToggled) -> None:
        """Quantizing a model makes one quant: picking one drops the others."""
        types = self.query_one("#quant-types", SelectionList)
        if not self.multiple and event.selection.value in types.selected:
            for value in list(types.selected):
                if value != event.selection.value:
                    types.deselect(value)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.action_accept() if event.button.id == "accept" else self.action_cancel()

    @on(Input.Submitted, "#quant-name")
    def action_accept(self) -> None:
        quants = list(self.query_one("#quant-types", SelectionList).selected)
        if not quants:
            self.notify("pick a quant type", severity="error")
            return
        name = self.query_one("#quant-name", Input).value.strip() or None
        score = self.query_one("#quant-score", Checkbox).value if self.scoring else False
        self.dismiss({"quants": quants, "name": name, "score": score})

    def action_cancel(self) -> None:
        self.dismiss(None)
