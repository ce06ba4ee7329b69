"""Following a run as it trains: the folded state, curves made drawable, durations made readable.

Pure helpers the live views share (the app's Training pane, `tui-hf attach`, anything else that draws a
run), so none of them lives in a widget.
"""

from __future__ import annotations

from pathlib import Path

from tui_hf.core.training.events import ACTIVE, EventReader, RunState

MAX_POINTS = 600  # per curve: more than a terminal shows, few enough to redraw at 2 Hz


def smooth(values: list[float], weight: float = 0.8) -> list[float]:
    """Exponential moving average, bias-corrected like TensorBoard's so the start is not dragged to 0."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def thin(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most `limit` + 1 points, evenly spaced, always keeping the last one."""
    if len(points) <= limit:
        return points
    stride = len(points) / limit
    return [points[int(i * stride)] for i in range(limit)] + [points[-1]]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Follower:
    """A run directory and the state folded from its events so far (each poll reads only new lines)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.reader = EventReader(self.run_dir)
        self.state = RunState()

    def poll(self) -> bool:
        events = self.reader.read()
        self.state.apply(events)
        return bool(events)

    @property
    def status(self) -> str:
        from tui_hf.core.training.runs import effective_status

        return effective_status(self.run_dir, self.state)

    @property
    def eta_seconds(self) -> float | None:
        """None unless the job is really running (a died or pending run has no ETA)."""
        return self.state.eta_seconds if self.status in ACTIVE else None
