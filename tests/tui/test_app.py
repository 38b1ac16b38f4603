"""App-wide: the command palette has an entry for every screen action (searching "run" or "model" finds
them), the help screen lists every screen's keys, the chosen theme is saved."""

from __future__ import annotations

import pytest
from textual.screen import Screen

from llmdeck.core.settings import load_settings
from llmdeck.tui.app import MODE_TABLE, LlmdeckApp, screen_actions
from tests.tui.helpers import wait_for


def test_the_palette_has_an_entry_for_every_screen_action():
    titles = [command.title for command in LlmdeckApp().get_system_commands(Screen())]
    for mode in MODE_TABLE:  # every binding with a description and every PALETTE entry of every screen
        assert f"Go to {mode.title}" in titles
        for title, _, _ in screen_actions(mode.screen_class()):
            assert f"{mode.title}: {title}" in titles
    assert {"Train: Stop run", "Train: Resume run", "Train: Compare runs", "Train: New run"} <= set(titles)
    assert {"Models: Import GGUF", "Models: Delete model", "Chat: Pick the chat's model"} <= set(titles)
    assert {
        "Go to Agents",
        "Agents: Run agent",
        "Agents: Stop agent",
        "Agents: Show the past agent runs",
        "Go to Verify",
        "Verify: Run verification",
        "Verify: Pick a tests file",
        "Verify: Show the past verify runs",
        "Models: Quantize model",
        "Models: Ollama Modelfile",
        "Train: Export run",
        "Train: Chat with run",
        "Train: Cancel/close export",
        "Chat: Chat without the run's adapter",
    } <= set(titles)
    assert len([t for t in titles if "run" in t.lower()]) >= 6
    assert len([t for t in titles if "model" in t.lower()]) >= 5


@pytest.mark.slow  # Pilot-heavy (the palette, the help screen, two app starts)
async def test_palette_search_help_and_theme(fake_model):
    app = LlmdeckApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.model_name is not None, timeout_s=60, what="the chat's model")
        # searching in the palette finds them, and choosing one runs it on its screen
        await pilot.press("ctrl+p")
        await pilot.press(*"gguf")
        await wait_for(
            pilot,
            lambda: "Models: Import GGUF" in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt),
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "FilePickerScreen")
        assert app.current_mode == "models"
        await pilot.press("escape")
        await pilot.press("f10")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "HelpScreen")
        help_text = app.screen.help_text()
        assert "| s | Stop run |" in help_text and "| ctrl+r | Regenerate |" in help_text
        assert "| i | Import GGUF |" in help_text and "sessions list" in help_text
        assert "## Agents (F4)" in help_text and "| ctrl+r | Run agent |" in help_text
        assert "## Verify (F5)" in help_text and "| e | Export run |" in help_text
        assert "| q | Quantize model |" in help_text
        await pilot.press("escape")
        app.theme = "gruvbox"
        await pilot.pause()
        assert load_settings().theme == "gruvbox"
    app = LlmdeckApp()
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == "gruvbox"


async def test_the_paused_collector_resumes_after_the_first_frame_and_the_footer_comes_a_frame_later(fake_model):
    """Bare `llmdeck` pauses the garbage collector until its first frame (cli/__main__.py); the app must
    resume it, or a long session would never free a cycle. The footer is mounted after the first frame."""
    import gc

    gc.disable()
    try:
        app = LlmdeckApp()
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: gc.isenabled(), what="the collector resumed")
            await wait_for(pilot, lambda: len(app.screen.query("FooterKey")) > 5, what="the footer's keys")
            keys = {key.description for key in app.screen.query("FooterKey")}
            assert {"Chat", "Models", "Train", "Quit", "Stop answer"} <= keys
    finally:
        gc.enable()
        gc.unfreeze()  # the test process goes on: give the frozen objects back to the collector
