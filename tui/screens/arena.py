"""The blind arena (`a` on the models screen): two models answer one prompt side by side, shown as A and B in a
random order, both streaming at once; one key votes and reveals who was who; `l` shows the leaderboard."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Header, Input, Label, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, late_footer
from llmdeck.tui.widgets.field_input import FieldInput
from llmdeck.tui.widgets.tables import fill

if TYPE_CHECKING:
    from llmdeck.services.arena import Matchup, Standing, Vote

SIDES = ("left", "right")
BOARD_COLUMNS = ("model", "rating", "win rate", "95% interval", "games", "W", "L", "T", "bad")
VOTE_WORDS = {"left": "A is better", "right": "B is better", "tie": "a tie", "both_bad": "both bad"}


class ArenaScreen(BaseScreen):
    """Blind arena: two models answer side by side as A and B; vote with one key, then see who was who."""

    CSS_PATH = "arena.tcss"
    BINDINGS = [
        Binding("left", "vote('left')", "A is better"),
        Binding("right", "vote('right')", "B is better"),
        Binding("t", "vote('tie')", "Tie"),
        Binding("x", "vote('both_bad')", "Both bad"),
        Binding("l", "leaderboard", "Leaderboard"),
        Binding("n", "new_prompt", "New prompt"),
        Binding("escape", "app.pop_screen", "Back"),
    ]
    WIDGET_KEYS = [("enter", "in the prompt: both models answer it")]

    @dataclass
    class Piece(Message):
        side: str
        text: str

    @dataclass
    class Answered(Message):
        side: str
        text: str

    @dataclass
    class BoardLoaded(Message):
        votes: int
        standings: list[Standing]

    def __init__(self, first: str | None = None, second: str | None = None, rng: random.Random | None = None):
        super().__init__()
        self.first, self.second = first or "", second or ""
        self.rng = rng or random.Random()
        self.match: Matchup | None = None
        self.answers: dict[str, str] = {}
        self.finished: set[str] = set()
        self.vote: Vote | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="arena-setup"):
            yield FieldInput(self.first, placeholder="model (MODEL, MODEL+RUN, +RUN)", id="arena-first")
            yield FieldInput(self.second, placeholder="the other model", id="arena-second")
        yield FieldInput(placeholder="a prompt both models answer (enter)", id="arena-prompt")
        with Horizontal(id="arena-answers"):
            for side, name in zip(SIDES, "AB"):
                with Vertical(classes="arena-side"):
                    yield Label(name, id=f"arena-title-{side}", classes="pane-title")
                    with VerticalScroll(id=f"arena-scroll-{side}"):
                        yield Static("", id=f"arena-{side}", markup=False)
        yield DataTable(id="arena-board", cursor_type="row")
        yield Static("Type a prompt and press enter.", id="arena-status", markup=False)
        yield late_footer()

    def on_mount(self) -> None:
        board = self.query_one("#arena-board", DataTable)
        board.add_columns(*BOARD_COLUMNS)
        board.display = False
        self.query_one("#arena-prompt" if self.first and self.second else "#arena-first", Input).focus()

    def on_unmount(self) -> None:
        """Closing the arena ends its two model processes (off the UI thread: a child may take a moment)."""
        import threading

        from llmdeck.services.arena import close_side_hosts, take_side_hosts

        hosts = take_side_hosts()  # now: an arena opened again at once starts its own
        threading.Thread(target=close_side_hosts, args=(hosts,), name="arena-close", daemon=True).start()

    # -- a matchup ------------------------------------------------------------------------------------------------
    @on(Input.Submitted, "#arena-prompt")
    def send(self) -> None:
        from llmdeck.core.errors import LlmdeckError
        from llmdeck.services import arena

        if self.match is not None and len(self.finished) < 2:
            self.notify("wait for both answers (or vote first)", severity="warning")
            return
        prompt = self.query_one("#arena-prompt", Input).value
        models = [self.query_one(f"#arena-{which}", Input).value.strip() for which in ("first", "second")]
        try:
            first, second = arena.contenders(models)
            self.match = arena.matchup(prompt, first, second, self.rng)
        except LlmdeckError as exc:
            self.notify(str(exc), title="arena", severity="error")
            return
        self.answers, self.finished, self.vote = {side: "" for side in SIDES}, set(), None
        for side, name in zip(SIDES, "AB"):
            self.query_one(f"#arena-title-{side}", Label).update(name)
            self.query_one(f"#arena-{side}", Static).update("")
        self._status("A and B are answering...")
        self.set_focus(None)  # the vote keys (arrows, t, x) go to the screen, not the prompt
        self.stream_answer("left", self.match.left, prompt)
        self.stream_answer("right", self.match.right, prompt)

    @work(thread=True, exit_on_error=False, group="arena-answer")
    def stream_answer(self, side: str, spec, prompt: str) -> None:
        from llmdeck.services.arena import answer_apart

        worker = get_current_worker()
        response = answer_apart(side, spec, prompt)
        response.stop_when(lambda: worker.is_cancelled)
        for piece in response:
            if worker.is_cancelled:
                response.close()
                return
            self.post_message(self.Piece(side, piece))
        self.post_message(self.Answered(side, response.text))

    @on(Piece)
    def add_piece(self, message: Piece) -> None:
        self.answers[message.side] = self.answers.get(message.side, "") + message.text
        self.query_one(f"#arena-{message.side}", Static).update(self.answers[message.side])

    @on(Answered)
    def side_answered(self, message: Answered) -> None:
        self.answers[message.side] = message.text
        self.query_one(f"#arena-{message.side}", Static).update(message.text)
        self.finished.add(message.side)
        if len(self.finished) == 2:
            self._status("Vote: left arrow A is better, right arrow B is better, t a tie, x both bad")

    def work_failed(self, action: str, error: BaseException | None) -> None:
        if action == "arena-answer":
            self.match = None
            self._status("An answer failed; change the models or the prompt and press enter.")

    # -- the vote ---------------------------------------------------------------------------------------------------
    def action_vote(self, outcome: str) -> None:
        from llmdeck.services.arena import record_vote

        if self.match is None or len(self.finished) < 2:
            self.notify("vote once both answers are in", severity="warning")
            return
        if self.vote is not None:
            self.notify("this matchup has its vote: press n for a new prompt", severity="warning")
            return
        self.vote = record_vote(self.match, self.answers["left"], self.answers["right"], outcome)
        self.query_one("#arena-title-left", Label).update(f"A: {self.vote.left_model}")
        self.query_one("#arena-title-right", Label).update(f"B: {self.vote.right_model}")
        winner = f" ({self.vote.winner})" if self.vote.winner else ""
        self._status(f"You voted {VOTE_WORDS[outcome]}{winner}. n: a new prompt, l: the leaderboard.")
        if self.query_one("#arena-board", DataTable).display:
            self.load_board()

    def action_new_prompt(self) -> None:
        self.query_one("#arena-prompt", Input).focus()

    # -- the leaderboard ------------------------------------------------------------------------------------------
    def action_leaderboard(self) -> None:
        board = self.query_one("#arena-board", DataTable)
        board.display = not board.display
        if board.display:
            self.load_board()

    @work(thread=True, exclusive=True, exit_on_error=False, group="arena-board")
    def load_board(self) -> None:
        from llmdeck.services.arena import leaderboard, votes

        recorded = votes()
        self.post_message(self.BoardLoaded(len(recorded), leaderboard(recorded)))

    @on(BoardLoaded)
    def show_board(self, message: BoardLoaded) -> None:
        board = self.query_one("#arena-board", DataTable)
        rows = [
            (
                s.model, f"{s.rating:.0f}", f"{s.win_rate:.0%}", f"{s.low:.0%}-{s.high:.0%}",
                str(s.games), str(s.wins), str(s.losses), str(s.ties), str(s.both_bad),
            )
            for s in message.standings
        ]  # fmt: skip
        fill(board, BOARD_COLUMNS, rows)
        if not message.standings:
            self._status("No votes yet.")

    def _status(self, text: str) -> None:
        self.query_one("#arena-status", Static).update(text)
