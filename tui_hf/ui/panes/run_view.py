"""The live view of one run: status, progress and ETA, throughput, the loss chart, evaluations, alerts.

It follows runs/<id>/events.jsonl with an incremental reader (core.training.follow), so it costs the same at
step 10 and step 10,000 and works on a run started by anyone: another terminal, a script with TuiHfCallback,
a job that outlived the app. Reading happens in a thread (the first read of a long run takes about a second)
and the view redraws only when something changed, at most twice a second, a rate SSH handles.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, ProgressBar, Static

from tui_hf.core.training.follow import Follower, duration, smooth, thin
from tui_hf.ui.markup import escape

POLL_SECONDS = 0.5
OVERLAY_STYLES = ("#5fafff", "#ffaf5f", "#af87ff", "#5fd7af", "#ff87af")
STATUS_COLOURS = {"running": "green", "finished": "blue", "failed": "red", "died": "red", "stopped": "yellow",
                  "stopping": "yellow", "preparing": "cyan", "starting": "cyan"}


class TrainingView(Vertical):
    """One run, live: status, progress with ETA, throughput, memory, loss curves, evaluation metrics."""

    class TryModel(Message):
        def __init__(self, path: Path, task: str) -> None:
            super().__init__()
            self.path, self.task = path, task

    def __init__(self, run_dir: Path | None = None, *, can_try: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.follower: Follower | None = None
        self.overlays: dict[Path, Follower] = {}
        self.can_try = can_try
        self._initial = run_dir
        self._plot: Any = None
        self._dirty = True
        self._reading = False  # a read is in flight: the next tick skips rather than reading the same run twice
        self.redraws = 0  # how often the view redrew (bench/training.py reports the rate over SSH)

    def compose(self) -> ComposeResult:
        yield Static("No run selected: start one (n) or pick one from the list.", id="run-header")
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(total=1.0, show_eta=False, id="run-progress")
            yield Static("", id="run-eta")
        yield Static("", id="run-stats")
        with Horizontal(id="run-controls"):
            yield Checkbox("smooth", True, id="run-smooth", compact=True)
            yield Checkbox("overlay runs", False, id="run-overlay", compact=True)
            yield Button("Stop", id="run-stop", compact=True, variant="error")
            yield Button("Resume", id="run-resume", compact=True)
            yield Button("Try model", id="run-try", compact=True, variant="success")
            yield Button("Export CSV", id="run-export", compact=True)
        yield Vertical(id="run-plot")
        yield VerticalScroll(Static("", id="run-evals"), id="run-evals-scroll")

    def on_mount(self) -> None:
        self.query_one("#run-try").display = self.can_try
        for wid in ("#run-stop", "#run-resume", "#run-try", "#run-export"):
            self.query_one(wid).disabled = True
        if self._initial is not None:
            self.follow(self._initial)
        self.set_interval(POLL_SECONDS, self.poll)

    def follow(self, run_dir: Path) -> None:
        if self.follower is not None and self.follower.run_dir == Path(run_dir):
            return
        self.follower = Follower(Path(run_dir))
        self.overlays.pop(self.follower.run_dir, None)
        self._dirty = True
        self.query_one("#run-header", Static).update(f"[b]{escape(self.follower.run_dir.name)}[/b] · reading…")
        self.poll()

    def set_overlays(self, run_dirs: list[Path]) -> None:
        """Runs to draw beside the followed one when "overlay runs" is on (read only while it is on)."""
        current = self.follower.run_dir if self.follower else None
        wanted = [Path(p) for p in run_dirs if Path(p) != current]
        if set(wanted) != set(self.overlays):
            self.overlays = {p: self.overlays.get(p) or Follower(p) for p in wanted}
            self._dirty = True

    def poll(self) -> None:
        if self.follower is None or self._reading:
            return
        self._reading = True
        self._read(self.follower, list(self.overlays.values()) if self._overlay_on else [])

    @property
    def _overlay_on(self) -> bool:
        return self.query_one("#run-overlay", Checkbox).value

    @work(thread=True, group="run-read", exit_on_error=False)
    def _read(self, follower: Follower, overlays: list[Follower]) -> None:
        try:
            changed = follower.poll()
            for other in overlays:
                changed = other.poll() or changed
        finally:
            self.app.call_from_thread(self._after_read, follower, changed)

    async def _after_read(self, follower: Follower, changed: bool) -> None:
        self._reading = False
        if follower is not self.follower:
            self._dirty = True  # another run was chosen meanwhile: draw that one
            self.poll()
        elif changed or self._dirty:
            self._dirty = False
            await self.draw()
        else:
            self._draw_eta()  # time passes even when no step finished

    @on(Checkbox.Changed)
    def _options_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._dirty = True
        self.poll()

    async def _ensure_plot(self) -> Any:
        if self._plot is None:
            from textual_plot import (
                PlotWidget,  # numpy and the canvas load with the first run shown
            )

            self._plot = PlotWidget(id="run-loss")
            await self.query_one("#run-plot").mount(self._plot)
            self._plot.set_xlabel("step")
            self._plot.set_ylabel("loss")
        return self._plot

    def _draw_eta(self) -> None:
        if self.follower is None:
            return
        s = self.follower.state
        elapsed = (s.updated or time.time()) - s.started if s.started else None
        self.query_one("#run-eta", Static).update(
            f"step {s.step}/{s.total_steps or '?'} · epoch {s.epoch:.2f}/{s.epochs:g} · "
            f"elapsed {duration(elapsed)} · ETA {duration(self.follower.eta_seconds)}")

    async def draw(self) -> None:
        f = self.follower
        if f is None:
            return
        self.redraws += 1
        s, status = f.state, f.status
        colour = STATUS_COLOURS.get(status, "white")
        labels = f" · labels {escape(', '.join(s.labels[:8]))}" if s.labels else ""
        header = (f"[b]{escape(f.run_dir.name)}[/b] · [{colour}]{escape(status)}[/{colour}] · "
                  f"{escape(s.engine or '?')} · {escape(s.model or '?')}{labels}")
        if s.message:
            header += f"\n[{colour}]{escape(s.message)}[/{colour}]"
        if status == "died":
            header += "\n[red]the job's process is gone without a final status (killed?): resume continues from " \
                      "its last checkpoint[/red]"
        self.query_one("#run-header", Static).update(header)
        self.query_one("#run-progress", ProgressBar).update(progress=s.progress if s.total_steps else 0.0)
        self._draw_eta()
        stats = []
        if s.train:
            stats.append(f"loss [b]{s.train[-1][1]:.4f}[/b]")
        if s.lr:
            stats.append(f"lr {s.lr[-1][1]:.2e}")
        if s.grad_norm is not None:
            stats.append(f"grad norm {s.grad_norm:.3f}")
        if s.samples_per_second is not None:
            stats.append(f"{s.samples_per_second:.1f} samples/s")
        if s.tokens_per_second is not None:
            stats.append(f"{s.tokens_per_second:,.0f} tokens/s")
        if s.memory_mb is not None:
            stats.append(f"memory {s.memory_mb:,.0f} MiB")
        self.query_one("#run-stats", Static).update(" · ".join(stats) or "[dim]waiting for the first step…[/dim]")
        evals = [f"[b]evaluation[/b] ({len(s.evals)})"] if s.evals else []
        for e in s.evals[-6:]:
            metrics = "  ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in e.items()
                                if k.startswith("eval_") and isinstance(v, (int, float)))
            epoch = e.get("epoch") if isinstance(e.get("epoch"), (int, float)) else 0
            evals.append(escape(f"step {e.get('step')} · epoch {epoch:.2f}  {metrics}"))
        for a in s.alerts[-3:]:
            colour_a = "red" if a["level"] == "error" else "yellow"
            evals.append(f"[{colour_a}]{escape(a['level'])}: {escape(a['message'])}[/{colour_a}]")
        if s.traceback and status in ("failed", "died"):
            evals.append(f"[red]{escape(s.traceback[-3000:])}[/red]")
        self.query_one("#run-evals", Static).update("\n".join(evals))
        self.query_one("#run-stop").disabled = status not in ("running", "starting", "pending")
        self.query_one("#run-resume").disabled = status not in ("stopped", "died", "failed")
        self.query_one("#run-try").disabled = not s.final_path
        self.query_one("#run-export").disabled = not (s.train or s.evals)
        await self._draw_plot()

    async def _draw_plot(self) -> None:
        f = self.follower
        if f is None or not (f.state.train or f.state.evals):
            return
        plot = await self._ensure_plot()
        plot.clear()
        smooth_on = self.query_one("#run-smooth", Checkbox).value
        ys_all: list[float] = []
        xs_max = max(f.state.total_steps, f.state.step, 1)
        if self._overlay_on:
            for k, other in enumerate(self.overlays.values()):
                pts = thin(other.state.train)
                if pts:
                    ys = [y for _, y in pts]
                    ys_all += ys
                    xs_max = max(xs_max, pts[-1][0])
                    plot.plot([x for x, _ in pts], smooth(ys) if smooth_on else ys,
                              line_style=OVERLAY_STYLES[k % len(OVERLAY_STYLES)], label=other.run_dir.name[-24:])
        pts = thin(f.state.train)
        if pts:
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            ys_all += ys
            if smooth_on:
                plot.plot(xs, ys, line_style="#555555", label="train loss")
                plot.plot(xs, smooth(ys), line_style="bold #ffffff", label="smoothed")
            else:
                plot.plot(xs, ys, line_style="bold #ffffff", label="train loss")
        evals = [(e["step"], e["eval_loss"]) for e in f.state.evals if e.get("eval_loss") is not None]
        ys_all += [y for _, y in evals]
        # Fixed limits: x spans the whole run (progress reads off the curve), and a flat or single-point
        # curve still gets a y range (the plot widget cannot scale an empty one).
        low, high = min(ys_all), max(ys_all)
        pad = (high - low) * 0.08 or max(abs(high) * 0.05, 0.01)
        plot.set_xlimits(0, xs_max)
        plot.set_ylimits(max(low - pad, 0.0) if low >= 0 else low - pad, high + pad)
        if evals:
            plot.plot([x for x, _ in evals], [y for _, y in evals], line_style="bold #ff5f5f", label="eval loss")
            plot.scatter([x for x, _ in evals], [y for _, y in evals], marker="●", marker_style="#ff5f5f")
        plot.show_legend()

    @on(Button.Pressed, "#run-stop")
    def _stop(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.job import request_stop

        if self.follower:
            try:
                request_stop(self.follower.run_dir)
            except TuiHfError as exc:
                self.notify(str(exc), title="Cannot stop", severity="warning", markup=False)
                return
            self.notify("Stopping: the job finishes its step and saves a checkpoint.")

    @on(Button.Pressed, "#run-resume")
    def _resume(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.job import resume

        if self.follower:
            try:
                plan = resume(self.follower.run_dir)
            except TuiHfError as exc:
                self.notify(str(exc), title="Cannot resume", severity="warning", markup=False)
                return
            self.notify(plan.describe(done=True).capitalize() + ".", markup=False)

    @on(Button.Pressed, "#run-export")
    def _export(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.events import to_csv

        if self.follower:
            out = self.follower.run_dir / "metrics.csv"
            try:
                self.notify(f"Wrote {to_csv(self.follower.run_dir, out)} rows to {out}", markup=False)
            except TuiHfError as exc:
                self.notify(str(exc), title="Cannot export", severity="error", markup=False)

    @on(Button.Pressed, "#run-try")
    def _try(self) -> None:
        if self.follower and self.follower.state.final_path:
            from tui_hf.core.training.job import inference_task

            self.post_message(self.TryModel(Path(self.follower.state.final_path),
                                            inference_task(self.follower.run_dir)))
