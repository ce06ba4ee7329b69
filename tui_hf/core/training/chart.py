"""What the loss chart draws, computed from a run's folded state: curves, limits, labels, no widgets.

The live view (the Training tab, `tui-hf attach`) turns each Series into a line on its plot widget; keeping
the arithmetic here means smoothing, log scale and the learning-rate overlay are tested without a terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tui_hf.core.training.events import RunState
from tui_hf.core.training.follow import smoothed, thin

# name shown in the chart options -> (method for follow.smoothed, amount, draw the raw curve too)
SMOOTHING = {
    "raw + EMA": ("ema", 0.8, True),
    "EMA 0.8": ("ema", 0.8, False),
    "EMA 0.95": ("ema", 0.95, False),
    "window 10": ("window", 10, False),
    "raw": ("none", 0, True),
}


@dataclass(frozen=True)
class ChartOptions:
    smoothing: str = "raw + EMA"
    log_y: bool = False
    show_eval: bool = True
    show_lr: bool = False
    overlay: bool = False


@dataclass
class Series:
    label: str
    role: str  # raw | smoothed | eval | lr | overlay: the view picks the colour
    xs: list[float]
    ys: list[float]
    markers: bool = False


@dataclass
class Chart:
    series: list[Series] = field(default_factory=list)
    x_limits: tuple[float, float] = (0.0, 1.0)
    y_limits: tuple[float, float] = (0.0, 1.0)
    y_label: str = "loss"
    notes: list[str] = field(default_factory=list)  # what the chart leaves out, and why


def _y(value: float, log_y: bool) -> float | None:
    if not math.isfinite(value):
        return None
    if log_y:
        return math.log10(value) if value > 0 else None
    return value


def _curve(points: list[tuple[int, float]], log_y: bool) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for x, v in points:
        y = _y(v, log_y)
        if y is not None:
            xs.append(float(x))
            ys.append(y)
    return xs, ys


def steady_limits(low: float, high: float, ticks: int = 8) -> tuple[float, float]:
    """The range widened to whole multiples of a round step (1, 2, 2.5 or 5 x 10^k, about `ticks` of them).

    A loss that sets a new low every step would otherwise rescale the whole chart every redraw, and every
    cell of the curve would be sent again over SSH; on round limits the chart rescales only when the curve
    crosses one, and a new point changes a few cells."""
    span = high - low
    if not (math.isfinite(span) and span > 0):
        return low, high
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    # The small slack keeps 0.3 / 0.1 = 2.9999999999999996 from flooring a whole step too far.
    bottom = math.floor(low / step + 1e-9) * step
    top = math.ceil(high / step - 1e-9) * step
    return round(bottom, 12), round(top, 12)


def kept_limits(shown: tuple[float, float] | None, wanted: tuple[float, float]) -> tuple[float, float]:
    """The y range to draw: the one shown while the curves stay inside it and fill at least half of it;
    otherwise `wanted`, widened by a quarter on the side that outgrew the shown range, so a falling loss
    rescales the chart every few hundred steps rather than each time it sets a new low."""
    if shown is None:
        return wanted
    (old_low, old_high), (low, high) = shown, wanted
    if old_low <= low and high <= old_high and (high - low) * 2 >= old_high - old_low:
        return shown
    span = high - low
    if low < old_low:
        low -= span / 4
    if high > old_high:
        high += span / 4
    if wanted[0] >= 0 and low < 0:
        low = 0.0
    return steady_limits(low, high)


def build_chart(state: RunState, options: ChartOptions, overlays: list[tuple[str, RunState]] | None = None) -> Chart:
    """The series for one run (and, with options.overlay, other runs' smoothed curves), aligned by step."""
    method, amount, with_raw = SMOOTHING.get(options.smoothing, SMOOTHING["raw + EMA"])
    chart = Chart(y_label="log10 loss" if options.log_y else "loss")
    train = thin(state.train)
    skipped = sum(1 for _, v in state.train if not math.isfinite(v) or (options.log_y and v <= 0))
    if skipped:
        chart.notes.append(f"{skipped} non-finite{' or non-positive' if options.log_y else ''} loss values not drawn")
    if options.overlay:
        for name, other in overlays or []:
            xs, ys = _curve(smoothed(thin(other.train), method, amount), options.log_y)
            if xs:
                chart.series.append(Series(name, "overlay", xs, ys))
    if with_raw:
        xs, ys = _curve(train, options.log_y)
        if xs:
            chart.series.append(Series("train loss", "raw", xs, ys))
    if method != "none":
        xs, ys = _curve(smoothed(train, method, amount), options.log_y)
        if xs:
            chart.series.append(Series(f"train loss, {options.smoothing.removeprefix('raw + ')}", "smoothed", xs, ys))
    if options.show_eval:
        points = [
            (e["step"], float(e["eval_loss"]))
            for e in state.evals
            if isinstance(e.get("eval_loss"), (int, float)) and isinstance(e.get("step"), int)
        ]
        xs, ys = _curve(points, options.log_y)
        if xs:
            chart.series.append(Series("eval loss", "eval", xs, ys, markers=True))
    ys_all = [y for s in chart.series for y in s.ys]
    if not ys_all:
        return chart
    low, high = min(ys_all), max(ys_all)
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 0.01)
    # Fixed limits: x spans the whole run, so progress reads off the curve, and a flat or single-point curve
    # still gets a y range (the plot widget cannot scale an empty one).
    x_max = max([state.total_steps, state.step, 1] + [s.xs[-1] for s in chart.series if s.xs])
    chart.x_limits = (0.0, float(x_max))
    chart.y_limits = steady_limits(max(low - pad, 0.0) if low >= 0 and not options.log_y else low - pad, high + pad)
    if options.show_lr and state.lr:
        # The learning rate has its own scale: drawn into the loss axis's range, its peak named in the legend.
        peak = max(v for _, v in state.lr)
        if peak > 0:
            bottom, top = chart.y_limits
            pts = thin(state.lr)
            chart.series.append(
                Series(
                    f"lr (top = {peak:.1e})",
                    "lr",
                    [float(x) for x, _ in pts],
                    [bottom + (v / peak) * (top - bottom) * 0.95 for _, v in pts],
                )
            )
    return chart
