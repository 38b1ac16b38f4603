"""The train screen's new-run form, generated from the training config type (`tuning.config_fields`): one
entry per field with its help and, inline, its problem; beside it the data check, the plan summary
(`tuning.plan_summary`, the lines `llmdeck train --dry-run` prints) and the launch buttons.

The form checks its fields itself (a few milliseconds, 0.4 s after the last keystroke) and posts what the
screen's workers check further: `DataSourceChanged` (the data check) and `ConfigChanged` (the plan)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from llmdeck.tui.widgets.field_input import FieldInput

if TYPE_CHECKING:
    from textual.timer import Timer

    from llmdeck.tuning.config import TrainConfig

FORM_SETTLE_S = 0.4  # a field's check waits this long after the last change


def field_help(description: str, problem: str | None = None):
    """A form field's description, and its problem (in the error colour) when it has one."""
    from rich.text import Text

    text = Text(description, style="dim")
    if problem:
        text.append(f"\n{problem}", style="bold red")
    return text


def checkbox_label(value: bool) -> str:
    """A boolean field's checkbox says its state ("on" next to an unchecked box read as on)."""
    return "on" if value else "off"


def summary_text(summary) -> str:
    """A plan summary as the form shows it: its labelled lines, then why a launch would be refused."""
    lines = [f"{line.label:<11} {line.text}" for line in summary.lines]
    if summary.refusal:
        lines.append(f"the launch is refused: {summary.refusal}")
    return "\n".join(lines)


class TrainForm(Horizontal):
    """The form's fields and side panel; `config` is the last valid config (None while a field has a problem)."""

    @dataclass
    class DataSourceChanged(Message):
        dataset: str
        format: str

    @dataclass
    class ConfigChanged(Message):
        config: object  # tuning.config.TrainConfig, valid

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config: TrainConfig | None = None
        self.opened = False  # the checks start the first time the form is shown (they load torch)
        self.command_shown = False
        self._timer: Timer | None = None
        self._data_source: tuple | None = None

    def compose(self) -> ComposeResult:
        from llmdeck.tuning.config_fields import field_specs

        with VerticalScroll(id="train-form"):
            with Grid(id="train-form-grid"):
                for spec in field_specs():
                    yield from self._field(spec)
        with VerticalScroll(id="form-side"):
            yield Label("Data check", classes="pane-title")
            yield Static("(bundled sample until you name a dataset)", id="data-preview", markup=False)
            yield Label("Estimate", classes="pane-title")
            yield Static("", id="estimate", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Launch (ctrl+l)", variant="primary", id="launch")
                yield Button("CLI / YAML (ctrl+y)", id="show-command")
                yield Button("Save config (ctrl+s)", id="save-config")
            yield Static("", id="form-command", markup=False)

    def _field(self, spec):
        """Three cells of the form's grid: name, entry (a checkbox, a choice or a text input), and a line
        that holds the field's description and, when there is one, its problem."""
        from llmdeck.tuning.config_fields import display

        default = display(spec.default)
        yield Label(spec.name, classes="field-name")
        if spec.kind == "bool":
            yield Checkbox(
                checkbox_label(bool(spec.default)), value=bool(spec.default), compact=True, id=f"in-{spec.name}"
            )
        elif spec.kind == "choice":
            options = [("auto" if c == "" else c, c) for c in spec.choices]
            yield Select(options, value=default, allow_blank=False, compact=True, id=f"in-{spec.name}")
        else:
            yield FieldInput(
                default, placeholder="(default)" if spec.optional else "", compact=True, id=f"in-{spec.name}"
            )
        if spec.name == "base_model":
            yield Label("", classes="field-name")
            yield Select([], prompt="or pick a store model", compact=True, id="pick-base-model")
        if spec.name == "dataset":
            yield Label("", classes="field-name")
            yield Button("Browse for a file...", compact=True, id="pick-dataset")
        yield Static(field_help(spec.description), classes="field-help", id=f"help-{spec.name}")

    # -- the fields ----------------------------------------------------------------------------------
    def start_checking(self) -> None:
        """The form is shown for the first time: check it now."""
        if not self.opened:
            self.opened = True
            self.check()

    def texts(self) -> dict:
        from llmdeck.tuning.config_fields import field_specs

        texts: dict[str, str | bool] = {}
        for spec in field_specs():
            widget = self._entry(spec.name)
            if isinstance(widget, Checkbox):
                texts[spec.name] = widget.value
            else:
                texts[spec.name] = "" if widget.value is Select.NULL else str(widget.value)
        return texts

    def fill(self, values: dict) -> None:
        """Every field from `values` (a config's fields; the default where one is missing)."""
        from llmdeck.tuning.config_fields import display, field_specs

        for spec in field_specs():
            widget = self._entry(spec.name)
            value = values.get(spec.name, spec.default)
            if isinstance(widget, Checkbox):
                widget.value = bool(value)
            else:
                widget.value = display(value)

    def _entry(self, name: str) -> Input | Select | Checkbox:
        widget = self.query_one(f"#in-{name}")
        assert isinstance(widget, (Input, Select, Checkbox))  # compose() yields one of these for each field
        return widget

    @on(Checkbox.Changed, "#train-form Checkbox")
    def checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = checkbox_label(event.value)

    @on(Input.Changed, "#train-form Input")
    @on(Select.Changed, "#train-form Select")
    @on(Checkbox.Changed, "#train-form Checkbox")
    def field_changed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(FORM_SETTLE_S, self.check)

    def check(self) -> None:
        """Check every field now (inline problems); post what the data check and the plan need to look at."""
        from llmdeck.tuning.config_fields import check_form, field_specs

        if not self.opened:
            return
        texts = self.texts()
        config, problems = check_form(texts)
        for spec in field_specs():
            self.query_one(f"#help-{spec.name}", Static).update(field_help(spec.description, problems.get(spec.name)))
        self.config = config
        source = (texts.get("dataset") or "", texts.get("dataset_format") or "auto")
        if source != self._data_source:
            self._data_source = source
            self.query_one("#data-preview", Static).update("checking the data...")
            self.post_message(self.DataSourceChanged(*source))
        if config is None:
            self.show_refusal(f"fix {len(problems)} field(s) first: {', '.join(sorted(problems))}")
            return
        self.query_one("#estimate", Static).update("estimating memory and time...")
        self.post_message(self.ConfigChanged(config))
        if self.command_shown:
            self.show_command()

    @on(Select.Changed, "#pick-base-model")
    def base_model_picked(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one("#in-base_model", Input).value = str(event.value)

    def show_base_models(self, names: list[str]) -> None:
        picker = self.query_one("#pick-base-model", Select)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in names])

    def show_dataset(self, path) -> None:
        self.query_one("#in-dataset", Input).value = str(path)

    # -- the side panel ------------------------------------------------------------------------------
    def show_data_check(self, text: str, ok: bool) -> None:
        preview = self.query_one("#data-preview", Static)
        preview.update(text)
        preview.set_class(not ok, "refused")

    def show_plan(self, summary) -> None:
        """A `tuning.plan_summary.PlanSummary` of the form's config."""
        estimate = self.query_one("#estimate", Static)
        estimate.update(summary_text(summary))
        estimate.set_class(summary.refusal is not None, "refused")

    def show_refusal(self, text: str) -> None:
        estimate = self.query_one("#estimate", Static)
        estimate.update(text)
        estimate.add_class("refused")

    def launching(self, busy: bool) -> None:
        self.query_one("#launch", Button).disabled = busy

    def show_command(self) -> None:
        """The `llmdeck train` command and the YAML file of the form's config (kept up to date once shown)."""
        from llmdeck.tuning.config_fields import as_command

        config = self.config
        assert config is not None  # shown for a valid form only (the screen's action and check() make sure)
        self.command_shown = True
        self.query_one("#form-command", Static).update(
            f"{as_command(config)}\n\n# as a config file (llmdeck train --config FILE)\n{config.to_yaml()}"
        )
