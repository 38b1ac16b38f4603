"""The models screen: the GGUF store as a table (with each model's lineage and the loss its run recorded),
a details pane (metadata, chat template, lineage tree base -> run -> quants), import, default, delete,
quantize, and the Ollama Modelfile.

Long actions go through `long_action`: a progress line (and a bar, for functions that report progress)
while a worker runs one plain function, then the table is read again. Each action is one Binding below and
one `long_action(...)` call of the plain function the CLI calls too (see the bottom of this file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Header, Label, LoadingIndicator, ProgressBar, Static, Tree
from textual.worker import get_current_worker

from llmdeck.core.units import human_count, human_size
from llmdeck.tui.screens.base import BaseScreen, WorkCancelled, ask, late_footer
from llmdeck.tui.widgets.tables import fill

if TYPE_CHECKING:
    from llmdeck.services.models import ModelDetails
    from llmdeck.tuning.runs import Run

COLUMNS = ("default", "name", "arch", "params", "quant", "size", "ctx", "lineage", "loss")
PROGRESS_EVERY_S = 0.1  # progress messages at most this often (the last one always)


def lineage_text(row) -> str:
    entry = row.entry
    exported = entry.run_id and (not entry.quant_source or Path(entry.quant_source).is_absolute())
    if exported:  # an export of a run records the adapter (a path) as its source: name the run instead
        return f"run {row.run_name or entry.run_id}" + (f", {entry.quant_type}" if entry.quant_type else "")
    if entry.quant_source:
        return f"quant of {entry.quant_source}"
    if entry.base_model:
        return f"from {entry.base_model}"
    return "embedded" if entry.embedded else "imported"


class ModelsScreen(BaseScreen):
    """The GGUF model store: import, inspect, set the default, quantize, Modelfile, delete."""

    CSS_PATH = "models.tcss"
    BINDINGS = [
        Binding("i", "import_model", "Import GGUF"),
        Binding("d", "make_default", "Make default"),
        Binding("x,delete", "delete_model", "Delete model"),
        Binding("r", "refresh", "Refresh models"),
        Binding("q", "quantize", "Quantize model"),
        Binding("m", "modelfile", "Ollama Modelfile"),
        Binding("e", "export_run", "Export a run"),
        Binding("a", "arena", "Arena", show=False),
        Binding("v", "evaluate", "Evaluate", show=False),
    ]
    SUBSCREENS = [("a", "arena", "ArenaScreen"), ("v", "evaluate", "EvalScreen")]
    PALETTE = [("Show the highlighted model's details", "focus_table")]

    @dataclass
    class Loaded(Message):
        """The store's rows, read off the UI thread."""

        rows: list

    @dataclass
    class RunsToExport(Message):
        runs: list[Run]  # completed tuning runs

    @dataclass
    class DetailsLoaded(Message):
        details: ModelDetails

    @dataclass
    class ActionDone(Message):
        title: str
        result: object
        then: Callable | None = None  # shows the result (else it is a notification)

    @dataclass
    class Progress(Message):
        text: str
        done: int
        total: int | None

    def __init__(self) -> None:
        super().__init__()
        self.busy_with: str | None = None
        self.selected: str | None = None
        self.entries: dict = {}  # name -> store entry, from the last listing

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="models-progress"):
            yield LoadingIndicator()
            yield Label("", id="models-progress-label")
            yield ProgressBar(id="models-progress-bar", show_eta=False)
        with Horizontal(id="models-body"):
            yield DataTable(id="models-table", cursor_type="row")
            with VerticalScroll(id="model-details"):
                yield Static("", id="model-meta", markup=False)
                yield Label("Lineage", classes="pane-title")
                yield Tree("-", id="model-lineage")
                yield Label("Chat template", classes="pane-title")
                yield Static("", id="model-template", markup=False)
        yield late_footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        """Read the store each time the screen is shown: other screens add models (an export, a run)."""
        self.action_refresh()

    def action_refresh(self) -> None:
        self.list_models()

    def action_focus_table(self) -> None:
        self.query_one(DataTable).focus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="models")
    def list_models(self) -> None:
        from llmdeck.services.models import model_rows

        self.post_message(self.Loaded(model_rows()))

    @on(Loaded)
    def show_models(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        keep = self.selected
        self.entries = {row.entry.name: row.entry for row in message.rows}
        cells = []
        for row in message.rows:
            e = row.entry
            loss = f"{row.loss:.4f}" if row.loss is not None else "-"
            cells.append(
                (
                    "*" if e.is_default else "",
                    e.name,
                    e.architecture,
                    human_count(e.parameter_count),
                    e.file_type,
                    human_size(e.size_bytes),
                    str(e.context_length or "-"),
                    lineage_text(row),
                    loss,
                )
            )
        names = [row.entry.name for row in message.rows]
        fill(table, COLUMNS, cells, keys=names)
        if keep in names:
            table.move_cursor(row=names.index(keep))
        elif names:
            self.show_details_of(names[0])

    @on(DataTable.RowHighlighted, "#models-table")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value if event.row_key is not None else None
        if name is not None and name != self.selected:
            self.show_details_of(name)

    def show_details_of(self, name: str) -> None:
        self.selected = name
        self.load_details(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="details")
    def load_details(self, name: str) -> None:
        from llmdeck.services.models import model_details

        self.post_message(self.DetailsLoaded(model_details(name)))

    @on(DetailsLoaded)
    def show_details(self, message: DetailsLoaded) -> None:
        details = message.details
        e = details.row.entry
        facts = [
            ("name", e.name),
            ("file", e.path),
            ("architecture", e.architecture),
            ("GGUF general.name", details.model_name or "-"),
            ("parameters", f"{human_count(e.parameter_count)} ({e.parameter_count:,})"),
            ("quantization", e.file_type),
            ("size", human_size(e.size_bytes)),
            ("context length", str(e.context_length or "-")),
            ("stored", "copied into the store" if e.copied else "by reference"),
            ("default", "yes" if e.is_default else "no"),
        ]
        if details.row.loss is not None:
            facts.append(("recorded loss", f"{details.row.loss:.4f} (run {details.row.run_name})"))
        if details.problem:
            facts.append(("problem", details.problem))
        self.query_one("#model-meta", Static).update("\n".join(f"{k:18} {v}" for k, v in facts))
        template = details.chat_template or "(none: llama.cpp falls back to chatml)"
        self.query_one("#model-template", Static).update(template)
        tree = self.query_one("#model-lineage", Tree)
        tree.clear()
        tree.root.set_label(details.lineage.label)
        self._add_branches(tree.root, details.lineage, e.name)
        tree.root.expand_all()

    def _add_branches(self, node, lineage, selected: str) -> None:
        for child in lineage.children:
            label = child.label + ("  <" if child.name == selected else "")
            branch = node.add(label, expand=True)
            self._add_branches(branch, child, selected)
            if not child.children:
                branch.allow_expand = False

    # -- actions -----------------------------------------------------------------------------------
    def _highlighted(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_make_default(self) -> None:
        name = self._highlighted()
        if name:
            self.long_action(f"Making {name} the default", _set_default, name)

    def action_delete_model(self) -> None:
        from llmdeck.tui.screens.confirm import ConfirmScreen

        name = self._highlighted()
        if name:
            ask(
                self.app,
                ConfirmScreen(
                    f"Remove {name} from the store? (a file copied into the store is "
                    "deleted; a referenced file stays where it is)"
                ),
                lambda _: self.long_action(f"Removing {name}", _remove, name),
            )

    def action_import_model(self) -> None:
        from llmdeck.tui.screens.file_picker import FilePickerScreen

        ask(
            self.app,
            FilePickerScreen("Import a GGUF model (registered by reference)", (".gguf",), Path.home()),
            lambda path: self.long_action(f"Importing {path.name}", _import, path),
        )

    def action_quantize(self) -> None:
        from llmdeck.tui.screens.quant_picker import QuantPickerScreen

        name = self._highlighted()
        if name:
            ask(
                self.app,
                QuantPickerScreen(
                    f"Quantize {name} into a new store model",
                    multiple=False,
                    name_hint=f"(default: {name} with the quant as suffix)",
                ),
                lambda choice: self._quantize_chosen(name, choice),
            )

    def _quantize_chosen(self, name: str, choice: dict) -> None:
        from llmdeck.core.quantize import is_quantized
        from llmdeck.tui.screens.confirm import ConfirmScreen

        quant, new_name = choice["quants"][0], choice["name"]
        entry = self.entries.get(name)
        if entry is not None and is_quantized(entry.file_type):
            ask(
                self.app,
                ConfirmScreen(
                    f"{name} is already quantized ({entry.file_type}): quantizing it again to {quant} loses "
                    "more than quantizing its f16/f32 source would. Requantize anyway?"
                ),
                lambda _: self.long_action(
                    f"Requantizing {name} to {quant}", _quantize, name, quant, new_name, True, progress=True
                ),
            )
        else:
            self.long_action(f"Quantizing {name} to {quant}", _quantize, name, quant, new_name, False, progress=True)

    def action_arena(self) -> None:
        """The blind arena, with the highlighted model as one contender."""
        from llmdeck.tui.screens.arena import ArenaScreen

        self.app.push_screen(ArenaScreen(first=self.selected))

    def action_evaluate(self) -> None:
        """The eval screen, with the highlighted model as the first (the reference) model."""
        from llmdeck.tui.screens.evaluate import EvalScreen

        self.app.push_screen(EvalScreen(models=[self.selected] if self.selected else []))

    # -- export a run (the train screen's export, with its progress panel) ----------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def action_export_run(self) -> None:
        from llmdeck.tuning.runs import list_runs

        self.post_message(self.RunsToExport([r for r in list_runs() if r.status == "completed"]))

    @on(RunsToExport)
    def pick_run_to_export(self, message: RunsToExport) -> None:
        from llmdeck.tui.screens.choice import ChoiceScreen

        if not message.runs:
            self.notify("no completed training run to export (F3 launches one)", severity="warning")
            return
        options = [
            (run.id, f"{run.name}  ({run.method}, {run.id}, base {run.base_model})") for run in reversed(message.runs)
        ]
        self.app.push_screen(
            ChoiceScreen("Export which completed run into the store? (Enter picks, Esc cancels)", options),
            self._export_chosen,
        )

    async def _export_chosen(self, run_id: str | None) -> None:
        if not run_id:
            return
        from llmdeck.tui.screens.train import TrainScreen

        await self.app.switch_mode("train")  # the export runs there, with its stages and per-quant table
        train = self.app.screen
        assert isinstance(train, TrainScreen)  # the train mode's screen is now the current one
        train.export_run_id(run_id)

    def action_modelfile(self) -> None:
        from llmdeck.tui.screens.modelfile import ModelfileScreen

        name = self._highlighted()
        if name:
            self.long_action(
                f"Building the Modelfile of {name}",
                _modelfile,
                name,
                then=lambda text: self.app.push_screen(ModelfileScreen(name, text)),
            )

    def long_action(
        self, title: str, function: Callable, *args, then: Callable | None = None, progress: bool = False
    ) -> None:
        """Run `function(*args)` in a worker with a progress line; its result is a notification, or goes to
        `then`. With `progress`, the function gets `report(done, total, what)` and a bar follows it. A failure
        is a notification (BaseScreen)."""
        if self.busy_with:
            self.notify(f"wait: {self.busy_with}", severity="warning")
            return
        self.busy_with = title
        self.query_one("#models-progress-label", Label).update(f"{title}...")
        bar = self.query_one("#models-progress-bar", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = progress
        self.query_one("#models-progress").add_class("busy")
        self._run_long(title, function, args, then, progress)

    @work(thread=True, exit_on_error=False, group="model action")
    def _run_long(self, title: str, function, args: tuple, then, progress: bool) -> None:
        worker = get_current_worker()
        last = {"at": 0.0}

        def report(done: int, total: int | None, what: str = "") -> None:
            import time

            if worker.is_cancelled:
                raise WorkCancelled(title)
            if time.monotonic() - last["at"] >= PROGRESS_EVERY_S or done == total:
                last["at"] = time.monotonic()
                self.post_message(self.Progress(f"{title}: {done}/{total or '?'} {what}", done, total))

        result = function(*args, report) if progress else function(*args)
        self.post_message(self.ActionDone(title, result, then))

    @on(Progress)
    def show_progress(self, message: Progress) -> None:
        self.query_one("#models-progress-label", Label).update(message.text)
        self.query_one("#models-progress-bar", ProgressBar).update(total=message.total, progress=message.done)

    @on(ActionDone)
    def action_done(self, message: ActionDone) -> None:
        self._idle()
        if message.then is not None:
            message.then(message.result)
        elif message.result:
            self.notify(str(message.result), title=message.title)
        self.list_models()

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == "model action":
            self._idle()
            self.list_models()

    def _idle(self) -> None:
        self.busy_with = None
        self.query_one("#models-progress").remove_class("busy")


# the plain functions the long actions run (the same calls as `llmdeck models ...`)
def _import(path: Path) -> str:
    from llmdeck.core.store import ModelStore

    entry = ModelStore().register(path)
    return f"imported as {entry.name} ({entry.architecture}, {entry.file_type})"


def _set_default(name: str) -> str:
    from llmdeck.core.store import ModelStore

    ModelStore().set_default(name)
    return f"{name} is the default model (new chats use it; open chats keep theirs)"


def _remove(name: str) -> str:
    from llmdeck.core.store import ModelStore

    ModelStore().remove(name)
    return f"removed {name}"


def _quantize(name: str, quant: str, new_name: str | None, allow_requantize: bool, report) -> str:
    from llmdeck.core.quantize import quantize_model

    entry = quantize_model(
        name, quant, new_name, allow_requantize, on_progress=lambda done, total: report(done, total, "tensors")
    )
    return f"quantized {name} -> {entry.name} ({entry.file_type}, {human_size(entry.size_bytes)})"


def _modelfile(name: str) -> str:
    from llmdeck.core.interop import modelfile
    from llmdeck.core.store import ModelStore

    return modelfile(ModelStore().get(name))
