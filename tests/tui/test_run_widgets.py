"""The train screen's widgets on a bare host app (fast): the runs table fits every status, the monitor's plots
get round limits for a single point, and redraw only when points arrive, at most PLOT_EVERY_S apart."""

from __future__ import annotations

from types import SimpleNamespace

from textual.app import App, ComposeResult

from llmdeck.tui.widgets.run_monitor import RunMonitor, axis_limits
from llmdeck.tui.widgets.runs_table import RunsTable
from tests.tui.helpers import wait_for


class WidgetsHost(App):
    def compose(self) -> ComposeResult:
        yield RunsTable(id="runs-table")
        yield RunMonitor(id="monitor")


def a_run(status: str, step: int = 0, **fields):
    values = dict(id="r1", name="demo", method="sft", status=status, global_step=step, max_steps=10)
    values.update(last_metrics=None, started_at=None, error=None, config={"method": "sft"})
    values.update(fields)
    return SimpleNamespace(**values)


def test_axis_limits_are_round_around_a_single_point():
    assert axis_limits([3.15185]) == (3.15185 - 0.05 * 3.15185, 3.15185 + 0.05 * 3.15185)
    assert axis_limits([1], integral=True) == (0, 2)
    assert axis_limits([0.0, 0.0]) == (-1.0, 1.0)
    assert axis_limits([1.0, 2.0]) == (None, None) and axis_limits([1, 5], integral=True) == (None, None)
    assert axis_limits([]) == (None, None) and axis_limits([float("nan")]) == (None, None)


async def test_the_status_column_fits_and_one_point_plots_with_round_limits():
    app = WidgetsHost()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(RunsTable)
        table.show([a_run("queued")], None)
        await pilot.pause()
        table.show([a_run("completed", step=10)], None)  # the cells change in place
        await pilot.pause()
        assert table.columns["status"].get_render_width(table) >= len("completed") + 2 * table.cell_padding
        assert table.get_cell("r1", "status") == "completed"
        monitor = app.query_one(RunMonitor)
        monitor.show(a_run("running", step=1), [{"step": 1, "loss": 3.15185, "learning_rate": 1e-4}], False, [])
        await pilot.pause()
        loss_plot = app.query_one("#loss-plot")
        assert (loss_plot._x_min, loss_plot._x_max) == (0, 2)
        assert round(loss_plot._y_min, 4) == 2.9943 and round(loss_plot._y_max, 4) == 3.3094


async def test_the_plots_redraw_only_for_new_points_and_batch_what_arrives_meanwhile(monkeypatch):
    from llmdeck.tui.widgets import run_monitor

    monkeypatch.setattr(run_monitor, "PLOT_EVERY_S", 0.5)  # room for a loaded machine between the show() calls
    app = WidgetsHost()
    async with app.run_test(size=(120, 40)) as pilot:
        monitor = app.query_one(RunMonitor)
        running = a_run("running", step=1)
        monitor.show(running, [{"step": 1, "loss": 2.0}], False, ["step 1"])
        assert monitor.plots_drawn == 1
        for step in (2, 3, 4):  # within PLOT_EVERY_S of the first redraw: one more redraw, for all three
            monitor.show(
                a_run("running", step=step), [{"step": step, "loss": 2.0 - step / 10}], False, [f"step {step}"]
            )
        assert monitor.plots_drawn == 1
        await wait_for(pilot, lambda: monitor.plots_drawn == 2)
        assert len(app.query_one("#loss-plot")._datasets[0].x) == 4
        monitor.show(a_run("running", step=4), [], False, [])  # a status change alone redraws no plot
        await pilot.pause(0.6)
        assert monitor.plots_drawn == 2
        assert app.query_one("#monitor-log").lines == ["step 1", "step 2", "step 3", "step 4"]
        monitor.show(running, [], False, ["again"], log_reset=True)  # a log line alone redraws the log, no plot
        await wait_for(pilot, lambda: app.query_one("#monitor-log").lines == ["again"])
        assert monitor.plots_drawn == 2


async def test_the_stats_line_follows_the_plots_but_a_new_status_shows_at_once(monkeypatch):
    from llmdeck.tui.widgets import run_monitor

    monkeypatch.setattr(run_monitor, "PLOT_EVERY_S", 0.5)
    app = WidgetsHost()
    async with app.run_test(size=(120, 40)) as pilot:
        monitor = app.query_one(RunMonitor)

        def stats() -> str:
            return str(app.query_one("#monitor-stats").render())

        monitor.show(a_run("running", step=1), [{"step": 1, "loss": 2.0}], False, [])
        assert "step 1/10" in stats()
        monitor.show(a_run("running", step=2), [{"step": 2, "loss": 1.9}], False, [])  # the same status: waits
        assert "step 1/10" in stats()
        await wait_for(pilot, lambda: "step 2/10" in stats())
        monitor.show(a_run("completed", step=3), [], False, [])  # a new status: at once
        assert "[completed]" in stats() and "step 3/10" in stats()


async def test_the_monitors_log_grows_without_a_layout_and_stays_at_its_end():
    from llmdeck.tui.widgets.run_monitor import TailLog

    class LogHost(App):
        CSS = "TailLog { height: 6; width: 40; }"

        def compose(self) -> ComposeResult:
            yield TailLog(max_lines=500)

    app = LogHost()
    async with app.run_test(size=(60, 20)) as pilot:
        log = app.query_one(TailLog)
        await pilot.pause()
        layouts = []
        refresh = log.refresh

        def counted(*regions, layout: bool = False, **options):
            layouts.append(layout)
            return refresh(*regions, layout=layout, **options)

        log.refresh = counted  # type: ignore[method-assign]
        for index in range(60):  # past its height at once, then many more writes
            log.write_lines([f"line {index}"])
            await pilot.pause()
        assert 1 <= layouts.count(True) <= 3  # the first write, the scrollbar appearing; not one per write
        assert log.vertical_scrollbar.window_virtual_size == log.line_count == 60  # the thumb follows the lines
        assert log.is_vertical_scroll_end and log.scroll_y == log.max_scroll_y > 0
        shown = [strip.text for strip in (log.render_line(row) for row in range(log.scrollable_content_region.height))]
        assert any("line 59" in line for line in shown)  # the newest line is on screen
