"""The arena screen (`a` on the models screen) on the scripted fake model: both answers stream, names stay hidden
until the one-key vote, the vote is stored, the leaderboard is one key away."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.store import ModelStore
from llmdeck.services import arena
from llmdeck.tui import app as app_module
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tui.screens.arena import ArenaScreen
from tests.tui.helpers import text_of, wait_for

SIZE = (120, 34)


class ArenaHost(App):
    """A bare app showing only the arena (no chat screen behind it to start)."""

    CSS_PATH = Path(app_module.__file__).parent / "app.tcss"

    def on_mount(self) -> None:
        self.push_screen(ArenaScreen(first=EMBEDDED_CHAT_MODEL_NAME))


async def test_vote_key_reveals_the_names_and_stores_the_vote(fake_model):
    key, outcome = "left", "left"
    ModelStore().register(embedded_chat_model_path(), name="tuned")
    fake_model.enqueue("Paris is the capital.", "It is Paris.")
    async with ArenaHost().run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ArenaScreen))
        screen = pilot.app.screen
        screen.query_one("#arena-second").value = "tuned"
        screen.query_one("#arena-prompt").value = "Capital of France?"
        screen.set_focus(None)
        await pilot.press(key)  # nothing to vote on yet: refused
        assert any("vote once both answers are in" in n.message for n in pilot.app._notifications)
        await pilot.click("#arena-prompt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.finished == {"left", "right"})
        assert arena.votes() == []
        titles = [text_of(screen.query_one(f"#arena-title-{side}")) for side in ("left", "right")]
        assert titles == ["A", "B"]  # anonymous until the vote
        shown = {side: text_of(screen.query_one(f"#arena-{side}")) for side in ("left", "right")}
        assert set(shown.values()) == {"Paris is the capital.", "It is Paris."}
        await pilot.press(key)
        await wait_for(pilot, lambda: screen.vote is not None)
        (vote,) = arena.votes()
        assert vote.outcome == outcome and vote.voter == "user" and vote.prompt == "Capital of France?"
        assert {vote.left_model, vote.right_model} == {EMBEDDED_CHAT_MODEL_NAME, "tuned"}
        assert (vote.left_answer, vote.right_answer) == (shown["left"], shown["right"])
        assert text_of(screen.query_one("#arena-title-left")) == f"A: {vote.left_model}"
        assert text_of(screen.query_one("#arena-title-right")) == f"B: {vote.right_model}"
        await pilot.press(key)  # one vote per matchup
        assert len(arena.votes()) == 1

        await pilot.press("l")
        board = screen.query_one("#arena-board")
        await wait_for(pilot, lambda: board.row_count == 2)
        first_row = [str(cell) for cell in board.get_row_at(0)]
        assert first_row[:3] == [vote.left_model, "1131", "100%"]  # one win of one game

        fake_model.enqueue("Four.", "Five.")  # a second matchup, voted both bad
        await pilot.press("n")
        screen.query_one("#arena-prompt").value = "2+2?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.finished == {"left", "right"} and screen.vote is None)
        assert text_of(screen.query_one("#arena-title-left")) == "A"
        await pilot.press("x")
        await wait_for(pilot, lambda: len(arena.votes()) == 2)
        assert arena.votes()[1].outcome == "both_bad"
        await wait_for(pilot, lambda: [str(c) for c in board.get_row_at(0)][-1] == "1")  # the board follows


async def test_a_on_the_models_screen_opens_the_arena_with_the_highlighted_model(fake_model):
    ModelStore().register(embedded_chat_model_path(), name="tuned")
    async with LlmdeckApp().run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        models = pilot.app.screen
        await wait_for(pilot, lambda: models.query_one("#models-table").row_count == 2 and models.selected)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ArenaScreen))
        first = pilot.app.screen.query_one("#arena-first").value
        assert first == models.selected and first in (EMBEDDED_CHAT_MODEL_NAME, "tuned")
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is models)


async def test_the_same_model_twice_is_refused_with_a_notice(fake_model):
    async with ArenaHost().run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ArenaScreen))
        screen = pilot.app.screen
        screen.query_one("#arena-second").value = EMBEDDED_CHAT_MODEL_NAME
        screen.query_one("#arena-prompt").value = "Hi"
        await pilot.click("#arena-prompt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("the same model" in n.message for n in pilot.app._notifications))
        assert screen.match is None and fake_model.calls == []
