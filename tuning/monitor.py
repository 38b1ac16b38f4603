"""Following a run as it trains, for the app's monitor (and any other front end): new metrics rows read
incrementally, smoothed loss, alerts on NaN and spikes, the log's tail, and comparing two runs."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.tuning.callbacks import METRICS_FILE

LOG_TAIL_BYTES = 64 * 1024
SPIKE_FACTOR = 2.0  # a loss above this multiple of the smoothed loss so far is a spike
SPIKE_MIN_POINTS = 5


@dataclass
class MetricsFollower:
    """Reads `metrics.jsonl` from where it stopped: only new bytes each call. A torn last line (being written)
    waits for the next call; a replaced or shorter file (a resume truncates it) is read again from the start."""

    run_dir: Path
    _offset: int = 0
    _inode: int | None = None
    _partial: bytes = b""

    def read_new(self) -> tuple[list[dict], bool]:
        """(new rows, reset): when `reset`, the rows are the whole file and earlier rows are void."""
        path = Path(self.run_dir) / METRICS_FILE
        try:
            stat = path.stat()
        except FileNotFoundError:
            return [], False
        reset = self._inode is not None and (stat.st_ino != self._inode or stat.st_size < self._offset)
        if reset:
            self._offset, self._partial = 0, b""
        self._inode = stat.st_ino
        if stat.st_size == self._offset:
            return [], reset
        with path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # b"" after a complete line; else the torn line, completed next time
        return [row for row in map(_parse, lines) if row is not None], reset


def _parse(line: bytes) -> dict | None:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def smoothed(values: list[float], weight: float = 0.6) -> list[float]:
    """TensorBoard's debiased exponential moving average (NaN points are carried over, not averaged in)."""
    out, last, count = [], 0.0, 0
    for value in values:
        if math.isfinite(value):
            count += 1
            last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**count) if count else value)
    return out


@dataclass
class Alert:
    step: int
    message: str


class AlertScanner:
    """`alerts` as rows arrive: `feed` returns the alerts of the new rows only, keeping the smoothed loss so far
    (a monitor calls it on every update; scanning every row again each time would grow with the run)."""

    def __init__(self, weight: float = 0.6) -> None:
        self.weight = weight
        self._average, self._count = 0.0, 0  # the debiased EMA of the finite losses fed so far (as `smoothed`)

    def feed(self, rows: list[dict]) -> list[Alert]:
        found: list[Alert] = []
        for row in rows:
            step = row.get("step", 0)
            for key in ("loss", "eval_loss", "grad_norm"):
                value = row.get(key)
                if isinstance(value, (int, float)) and not math.isfinite(value):
                    found.append(Alert(step, f"step {step}: {key} is {value}"))
            loss = row.get("loss")
            if not isinstance(loss, (int, float)) or not math.isfinite(loss):
                continue
            if self._count >= SPIKE_MIN_POINTS:
                baseline = self._average / (1 - self.weight**self._count)
                if baseline > 0 and loss > SPIKE_FACTOR * baseline:
                    found.append(Alert(step, f"step {step}: loss spiked to {loss:.4g} (smoothed {baseline:.4g})"))
            self._count += 1
            self._average = self._average * self.weight + (1 - self.weight) * loss
        return found


def alerts(rows: list[dict]) -> list[Alert]:
    """NaN/inf losses and grad norms, and loss spikes (above SPIKE_FACTOR x the smoothed loss before them)."""
    return AlertScanner().feed(rows)


@dataclass
class LogFollower:
    """A log's lines as they are written: the last `LOG_TAIL_BYTES` first, then only new bytes each call. A line
    still being written waits for its newline; a progress bar's \r redraws keep their last state; a shorter or
    replaced file starts again (reset)."""

    path: Path
    _offset: int | None = None
    _inode: int | None = None
    _partial: bytes = b""

    def read_new(self) -> tuple[list[str], bool]:
        """(new complete lines, reset): when `reset`, the lines replace what was shown."""
        try:
            stat = Path(self.path).stat()
        except FileNotFoundError:
            return [], False
        reset = self._offset is None or stat.st_ino != self._inode or stat.st_size < self._offset
        if reset:
            self._offset, self._partial = max(0, stat.st_size - LOG_TAIL_BYTES), b""
        self._inode = stat.st_ino
        start = self._offset
        assert start is not None  # set just above on the first call
        if stat.st_size == start:
            return [], reset
        with Path(self.path).open("rb") as handle:
            handle.seek(start)
            chunk = handle.read(stat.st_size - start)
        self._offset = start + len(chunk)
        pieces = (self._partial + chunk).split(b"\n")
        self._partial = pieces.pop()
        if reset and start > 0 and pieces:
            pieces = pieces[1:]  # the tail began inside a line
        lines = [piece.decode("utf-8", errors="replace") for piece in pieces]
        return [line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines if line.strip("\r")], reset


def log_tail(path: Path, lines: int = 200) -> list[str]:
    """The last `lines` lines of a log (reads at most the last 64 KiB); [] when there is no log yet."""
    try:
        with Path(path).open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    # progress bars redraw with \r: keep each line's last state
    return [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n") if line.strip("\r")][-lines:]


@dataclass
class Series:
    """One metric of a run as plottable (step, value) pairs."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def series(rows: list[dict], key: str) -> Series:
    found = Series()
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and "step" in row:
            found.steps.append(int(row["step"]))
            found.values.append(float(value))
    return found
