"""The train screen's live monitor of one run: stats line, alerts, loss and learning-rate plots, grad-norm
sparkline, the log's tail and the resolved config. It keeps the metrics rows read so far, and its costs follow
what arrives, not the run's length: alerts are scanned for the new rows only, the log gets its new lines, and the
plots are redrawn only when points arrive, at most once every PLOT_EVERY_S, with the log's new lines and the stats
line (a new run or status shows at once).

A layout refresh re-renders every widget of the screen (on 2 cores ~0.15 s at 150x48, and it came a dozen times a
second while a run logged): the texts here change without one when they keep their rows, the plots carry no legend
widget (textual-plot re-places it with a layout at each change; the axis label names the lines instead), and the
log (a TailLog: its growth repaints its scrollbar instead of laying out the screen) is written with the plots."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Label, Log, Sparkline, Static

from llmdeck.core.units import duration, human_size
from llmdeck.tuning.monitor import Alert, AlertScanner, Series

if TYPE_CHECKING:
    from textual.timer import Timer

PLOT_POINTS = 400  # plotted points per series (longer runs are thinned evenly)
PLOT_EVERY_S = 2.0  # plots, log and stats line are redrawn at most this often (what arrives meanwhile waits)
PLOTTED = ("loss", "eval_loss", "learning_rate", "grad_norm")


def thinned(steps: list, values: list, limit: int = PLOT_POINTS) -> tuple[list, list]:
    if len(steps) <= limit:
        return steps, values
    stride = math.ceil(len(steps) / limit)
    keep = list(range(0, len(steps), stride))
    if keep[-1] != len(steps) - 1:
        keep.append(len(steps) - 1)
    return [steps[i] for i in keep], [values[i] for i in keep]


def axis_limits(values: list, integral: bool = False) -> tuple[float | None, float | None]:
    """An axis's limits: (None, None) (the plot's own autoscaling) unless every value is (nearly) the same,
    where the plot would widen the axis by 1e-6 and label it 3.1518510 ... 3.1518525; then a range around the
    value that gets round ticks: a step either side for steps, 5% either side for a value."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None, None
    low, high = min(finite), max(finite)
    scale = max(abs(low), abs(high))
    if integral:
        return (low - 1, high + 1) if high - low < 2 else (None, None)
    if high - low > 1e-3 * scale and high - low > 1e-12:
        return None, None
    pad = 0.05 * scale if scale else 1.0
    middle = (low + high) / 2
    return middle - pad, middle + pad


def fitted_rows(text: str, width: int) -> int | None:
    """The rows `text` takes at `width` when no line wraps (None: it wraps, or the width is not known yet)."""
    from rich.cells import cell_len

    lines = text.split("\n") if text else []
    if width <= 0 or any(cell_len(line) > width for line in lines):
        return None
    return len(lines)


class TailLog(Log):
    """A Log whose size is the stylesheet's: new lines change only what it scrolls over, so they repaint it and its
    scrollbar instead of laying out the whole screen (Textual's Log lays out at every write until `max_lines`).
    A layout is still asked for when the lines start or stop overflowing it (the scrollbar appears or goes)."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._overflowing: bool | None = None

    def watch_virtual_size(self, size: Size) -> None:
        shown = self.container_size
        overflowing = size.height > shown.height or size.width > shown.width
        if not shown or overflowing != self._overflowing:
            self.refresh(layout=True)
        else:
            self._scroll_update(size)  # the scrollbar's thumb, and the scroll offset kept in range
        self._overflowing = overflowing if shown else None


class RunMonitor(Vertical):
    """What one run is doing; `clear` when another run is followed, `show` with each update of its files."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.metrics_rows: list[dict] = []
        self.config_shown_for: str | None = None
        self.plots_drawn = 0  # how many times the plots were redrawn (the bench and tests read it)
        self._reset_series()
        self._plotted_at = 0.0
        self._plot_timer: Timer | None = None
        self._texts: dict[str, tuple[str, int, int | None]] = {}  # id -> (text, width, rows) as last shown
        self._run = None  # the run as last read: its stats line is written with the plots, at once on a new status
        self._run_shown: tuple | None = None  # (id, status) of the stats line shown
        self._log_lines: list[str] = []  # lines waiting for the next redraw
        self._log_reset = False

    def _reset_series(self) -> None:
        self._series: dict[str, Series] = {key: Series() for key in PLOTTED}
        self._series_drawn: tuple[int, ...] | None = None  # the series' lengths when the plots were last drawn
        self._scanner = AlertScanner()
        self._alerts: list[Alert] = []

    def compose(self) -> ComposeResult:
        from textual_plot import PlotWidget

        yield Static("no run yet: ctrl+n opens the new-run form", id="monitor-stats", markup=False)
        yield Static("", id="monitor-alerts", markup=False)
        with Horizontal(id="monitor-plots"):
            yield PlotWidget(id="loss-plot", allow_pan_and_zoom=False)
            yield PlotWidget(id="lr-plot", allow_pan_and_zoom=False)
        yield Label("grad norm", id="grad-norm-label")
        yield Sparkline([], id="grad-norm")
        with Horizontal(id="monitor-bottom"):
            yield TailLog(id="monitor-log", max_lines=500)
            with VerticalScroll(id="monitor-config"):
                yield Static("", id="monitor-config-text", markup=False)

    def on_mount(self) -> None:
        from textual_plot import PlotWidget

        # the loss plot's lines: the loss (grey), smoothed (cyan), eval loss (magenta *)
        for plot_id, title in (("#loss-plot", "loss · smoothed · eval *"), ("#lr-plot", "learning rate")):
            plot = self.query_one(plot_id, PlotWidget)
            plot.set_xlabel("step")
            plot.set_ylabel(title)

    def clear(self) -> None:
        self.metrics_rows = []
        self._reset_series()
        self._log_lines, self._log_reset = [], False
        self.query_one("#monitor-log", Log).clear()
        self.query_one("#monitor-config-text", Static).update("")
        self.config_shown_for = None
        self._run, self._run_shown = None, None

    def _set_text(self, widget_id: str, text: str) -> None:
        """Show `text` in a Static, with a layout refresh only when it takes other rows than the text it replaces."""
        widget = self.query_one(f"#{widget_id}", Static)
        width = widget.content_region.width
        rows = fitted_rows(text, width)
        shown = self._texts.get(widget_id)
        if shown == (text, width, rows):
            return
        widget.update(text, layout=shown is None or rows is None or shown[1:] != (width, rows))
        self._texts[widget_id] = (text, width, rows)

    def show(self, run, rows: list[dict], reset: bool, log_lines: list[str], log_reset: bool = False) -> None:
        """New metrics rows (all of them again after `reset`), the log's new lines (its tail again after
        `log_reset`), the run's status."""
        if reset:
            self.metrics_rows = []
            self._reset_series()
        self.metrics_rows += rows
        self._add_points(rows)
        self._run = run
        if self._run_shown != (run.id, run.status):  # a new run or status shows at once, a new step with the plots
            self._stats(run)
        if log_reset:
            self._log_lines, self._log_reset = [], True
        self._log_lines += log_lines
        self._plots_due()
        if self.config_shown_for != run.id:
            import yaml

            self.config_shown_for = run.id
            self.query_one("#monitor-config-text", Static).update(
                "resolved config\n" + yaml.safe_dump(run.config, sort_keys=False)
            )

    def _stats(self, run) -> None:
        last = dict(run.last_metrics or {})
        for row in self.metrics_rows[-3:]:
            last.update(row)
        total = run.max_steps or last.get("max_steps")
        elapsed = last.get("elapsed_s")
        started = run.started_at
        if run.status == "running" and started:
            elapsed = time.time() - started
        parts = [f"{run.name} [{run.status}]", f"step {run.global_step}/{total or '?'}"]
        if elapsed:
            parts.append(f"elapsed {duration(elapsed)}")
        if run.status == "running" and last.get("eta_s") is not None:
            parts.append(f"ETA {duration(last['eta_s'])}")
        for key, label, fmt in (
            ("loss", "loss", "{:.4f}"),
            ("eval_loss", "eval", "{:.4f}"),
            ("learning_rate", "lr", "{:.2e}"),
            ("tokens_per_s", "tok/s", "{:.1f}"),
        ):
            if isinstance(last.get(key), (int, float)):
                parts.append(f"{label} {fmt.format(last[key])}")
        if last.get("peak_rss_bytes"):
            parts.append(f"peak RSS {human_size(last['peak_rss_bytes'])}")
        if run.error:
            parts.append(f"error: {run.error}")
        self._run_shown = (run.id, run.status)
        self._set_text("monitor-stats", "  ".join(parts))
        self._set_text("monitor-alerts", "\n".join(f"! {a.message}" for a in self._alerts[-3:]))

    def _series_size(self) -> tuple[int, ...]:
        return tuple(len(points.steps) for points in self._series.values())

    def _add_points(self, rows: list[dict]) -> None:
        """The new rows' points onto the plotted series, and their alerts."""
        for row in rows:
            if "step" not in row:
                continue
            for key, points in self._series.items():
                value = row.get(key)
                if isinstance(value, (int, float)):
                    points.steps.append(int(row["step"]))
                    points.values.append(float(value))
        self._alerts += self._scanner.feed(rows)

    def _plots_due(self) -> None:
        """Redraw now, or once PLOT_EVERY_S has passed since the last redraw (one redraw for what came meanwhile)."""
        if self._plot_timer is not None:
            return
        wait = PLOT_EVERY_S - (time.monotonic() - self._plotted_at)
        if wait <= 0:
            self._plots()
        else:
            self._plot_timer = self.set_timer(wait, self._plots)

    def _plots(self) -> None:
        from textual_plot import HiResMode, PlotWidget

        from llmdeck.tuning.monitor import smoothed

        self._plot_timer = None
        self._plotted_at = time.monotonic()
        if self._run is not None:
            self._stats(self._run)
        if self._log_lines or self._log_reset:
            log = self.query_one("#monitor-log", Log)
            if self._log_reset:
                log.clear()
            log.write_lines(self._log_lines)
            self._log_lines, self._log_reset = [], False
        if self._series_drawn == self._series_size():
            return  # only log lines came
        self._series_drawn = self._series_size()
        self.plots_drawn += 1
        loss_plot = self.query_one("#loss-plot", PlotWidget)
        loss_plot.clear()
        loss = self._series["loss"]
        if loss.steps:
            loss_plot.plot(
                *thinned(loss.steps, loss.values), line_style="grey50", hires_mode=HiResMode.BRAILLE, label="loss"
            )
            loss_plot.plot(
                *thinned(loss.steps, smoothed(loss.values)),
                line_style="bold cyan",
                hires_mode=HiResMode.BRAILLE,
                label="smoothed",
            )
        evals = self._series["eval_loss"]
        if evals.steps:
            loss_plot.scatter(evals.steps, evals.values, marker="*", marker_style="bold magenta", label="eval")
        loss_plot.set_xlimits(*axis_limits(loss.steps + evals.steps, integral=True))
        loss_plot.set_ylimits(*axis_limits(loss.values + evals.values))
        lr_plot = self.query_one("#lr-plot", PlotWidget)
        lr_plot.clear()
        lr = self._series["learning_rate"]
        if lr.steps:
            lr_plot.plot(*thinned(lr.steps, lr.values), line_style="green", hires_mode=HiResMode.BRAILLE)
        lr_plot.set_xlimits(*axis_limits(lr.steps, integral=True))
        lr_plot.set_ylimits(*axis_limits(lr.values))
        grad = self._series["grad_norm"]
        self.query_one("#grad-norm", Sparkline).data = [v for v in grad.values[-200:] if math.isfinite(v)]
        shown = ""
        if grad.values:
            shown = f"grad norm (last {min(200, len(grad.values))} steps, latest {grad.values[-1]:.3g})"
        self._set_text("grad-norm-label", shown or "grad norm")
