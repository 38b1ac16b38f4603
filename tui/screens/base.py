"""What every screen shares: a failed worker becomes a notification (harlequin's pattern), never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, overload

from textual import on
from textual.app import App
from textual.lazy import Lazy
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, WorkerState

Answer = TypeVar("Answer")


class WorkCancelled(Exception):
    """Raised from a progress callback when its worker is cancelled (the app quits, the user cancels): the
    plain function stops at its next progress report, and kills any child process it runs."""


class BaseScreen(Screen):
    """Screens run blocking work in workers; this one handler turns any worker's failure into a notification."""

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        action = event.worker.group if event.worker.group != "default" else event.worker.name
        self.notify(str(error) or type(error).__name__, title=f"{action} failed", severity="error", timeout=8)
        self.work_failed(action, error)

    @property
    def closing(self) -> bool:
        """The app is quitting: a worker's late message must not mount anything."""
        return self.app._exit or not self.is_attached

    def work_failed(self, action: str, error: BaseException | None) -> None:
        """Screens reset their own state here (a half-shown answer, a busy marker)."""


class WorkDialog(ModalScreen[Answer]):
    """A dialog whose start button runs one worker: a failure (not a cancel) is a notification titled
    `f"{WORK_TITLE} failed"` and a `failed: ...` status line, and the start button works again."""

    WORK_TITLE: ClassVar[str]  # "rag synth"
    START_BUTTON: ClassVar[str]  # the start button's selector, "#rag-synth-start"
    STATUS: ClassVar[str]  # the status line's selector, "#rag-synth-status"

    @on(Worker.StateChanged)
    def failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, WorkCancelled):
                return
            self.notify(str(error), title=f"{self.WORK_TITLE} failed", severity="error", timeout=10)
            self.query_one(self.START_BUTTON, Button).disabled = False
            self.query_one(self.STATUS, Static).update(f"failed: {error}")


def late_footer() -> Lazy:
    """The screen's Footer, mounted just after the screen's first frame: its keys (a widget per binding, more
    than a dozen) were a fifth of the first frame's work, and the screen's content is what a person reads first."""
    return Lazy(Footer())


@overload  # a modal that answers `X | None` (a text prompt, a file picker): `then` gets an X
def ask(app: App, modal: Screen[Answer | None], then: Callable[[Answer], object]) -> None: ...
@overload  # a modal that answers a plain value (ConfirmScreen's bool)
def ask(app: App, modal: Screen[Answer], then: Callable[[Answer], object]) -> None: ...
def ask(app: App, modal: Screen, then: Callable[[Any], object]) -> None:
    """Show a modal; `then(answer)` runs only when it gave an answer: not cancelled (None), not declined
    (False), not left empty ("")."""

    def answered(answer: Any) -> None:
        if answer:
            then(answer)

    app.push_screen(modal, answered)
