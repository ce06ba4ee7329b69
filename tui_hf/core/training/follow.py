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
        self.state = RunState(run_dir=self.run_dir)

    def poll(self) -> bool:
        events = self.reader.read()
        self.state.apply(events)
        return bool(events)

    @property
    def status(self) -> str:
        from tui_hf.core.training.runs import effective_status

        return effective_status(self.run_dir, self.state)

    def ranks(self) -> list:
        """One nodes.RankRow per process of a job of several (read from RUN/ranks.json; [] for one process)."""
        from tui_hf.core.training.nodes import read_ranks

        status = self.status
        return read_ranks(self.run_dir, active=status in ACTIVE or status == "died")

    @property
    def eta_seconds(self) -> float | None:
        """None unless the job is really running (a died or pending run has no ETA)."""
        return self.state.eta_seconds if self.status in ACTIVE else None


def moving_average(values: list[float], window: int = 10) -> list[float]:
    """The mean of each value and up to `window` - 1 before it (a trailing window: no look-ahead)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


SMOOTHERS = ("none", "ema", "window")


def smoothed(points: list[tuple[int, float]], method: str = "ema", amount: float = 0.8) -> list[tuple[int, float]]:
    """A curve smoothed for drawing: "ema" (amount is the weight, 0-1), "window" (amount is the width in
    points), or "none". Non-finite values are left out (a NaN would poison every later average)."""
    import math

    kept = [(s, v) for s, v in points if math.isfinite(v)]
    if method == "none" or not kept:
        return kept
    values = [v for _, v in kept]
    out = smooth(values, amount) if method == "ema" else moving_average(values, max(int(amount), 1))
    return [(s, v) for (s, _), v in zip(kept, out)]


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40) -> str:
    """A one-line chart of the values (the last `width` buckets, each the mean of its values)."""
    import math

    values = [v for v in values if math.isfinite(v)]
    if not values:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [
            sum(chunk) / len(chunk)
            for i in range(width)
            if (chunk := values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)])
        ]
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(BLOCKS[min(int((v - low) / span * (len(BLOCKS) - 1) + 0.5), len(BLOCKS) - 1)] for v in values)


def effective_batch(s: RunState) -> str:
    """The rows per optimizer step and how they are made, with the precision: "batch 8 (4 × 2 accum) · bf16"."""
    text = f"batch {s.batch_size}"
    if s.grad_accum > 1:
        text += f" ({s.batch_size // s.grad_accum} × {s.grad_accum} accum)"
    return text + (f" · {s.precision}" if s.precision else "")


def snapshot(run_dir: Path, now: float | None = None) -> str:
    """A plain-text picture of a run for a terminal that cannot host the live view (`attach --once`)."""
    import time

    from tui_hf.core.training.sentinel import stall

    f = Follower(run_dir)
    f.poll()
    s, status = f.state, f.status
    now = time.time() if now is None else now
    total = f"/{s.total_steps}" if s.total_steps else ""
    lines = [
        f"{Path(run_dir).name}: {status}, step {s.step}{total} ({s.progress:.0%}), epoch {s.epoch:.2f}"
        + (f", eta {duration(f.eta_seconds)}" if f.eta_seconds is not None else "")
    ]
    if s.engine or s.model:
        lines.append(
            f"engine {s.engine or '-'}, model {s.model or '-'}" + (f", {effective_batch(s)}" if s.batch_size else "")
        )
    if s.parameters_text:
        lines.append(s.parameters_text)
    if s.message:
        lines.append(f"message: {s.message}")
    if s.train:
        losses = [v for _, v in s.train]
        lines.append(f"loss {losses[-1]:.4f}  {sparkline(losses)}  (min {min(losses):.4f}, {len(losses)} points)")
    last = {k: v for k, v in s.evals[-1].items() if k.startswith("eval_")} if s.evals else {}
    if last:
        lines.append(
            f"eval at step {s.evals[-1].get('step')}: "
            + "  ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in last.items() if isinstance(v, (int, float)))
        )
    best = s.best()
    if best:
        lines.append(f"best {best[0]} {best[1]:.4f}")
    if s.vitals:
        from tui_hf.core.training.vitals import headline

        for rank, v in sorted(s.vitals.items()):
            lines.append(f"machine{f' (rank {rank})' if rank else ''}: {headline(v)}")
    extra = []
    if status in ACTIVE:
        from tui_hf.core.training.sentinel import SentinelConfig

        alert = stall(s.intervals, s.updated, now, s.step, SentinelConfig().stall_factor)
        if alert is not None:
            extra.append({"level": "warning", "message": alert.message, "step": alert.step, "kind": alert.kind})
    alerts = s.alerts + extra
    if alerts:
        lines.append(f"alerts ({len(alerts)}):")
        lines += [
            f"  step {a.get('step') if a.get('step') is not None else '-'}: {a['level']}: {a['message']}"
            for a in alerts[-8:]
        ]
    else:
        lines.append("alerts: none")
    from tui_hf.core.training.nodes import format_ranks, read_ranks

    lines += format_ranks(read_ranks(Path(run_dir), active=status in ACTIVE or status == "died", now=now))
    if s.controls:
        c = s.controls[-1]
        lines.append(f"last request: {c['action']} ({c['via']}){' refused' if c['refused'] else ''}: {c['message']}")
    if s.predictions and s.predictions["items"]:
        lines.append(f"predictions at step {s.predictions['step']}:")
        for item in s.predictions["items"]:
            conf = item.get("confidence")
            conf_text = f" ({conf:.2f})" if isinstance(conf, (int, float)) else ""
            lines.append(
                f"  {item.get('text')!s:.60}  gold {item.get('gold')!s:.40}  "
                f"predicted {item.get('prediction')!s:.40}{conf_text}"
            )
    if s.final_path:
        lines.append(f"model: {s.final_path}")
    return "\n".join(lines)
