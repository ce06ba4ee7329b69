"""The training pane: start jobs, pick a run, watch it live; and the live view `tui-hf attach` shows.

The view follows runs/<id>/events.jsonl with an incremental reader at 2 Hz, so it costs the same at
step 10 and step 10,000, works on a run started by anyone (another terminal, a script with
TuiHfCallback, a job that outlived the app), and redraws at a rate SSH handles.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    OptionList,
    ProgressBar,
    Select,
    Static,
)
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tui_hf.core.training.follow import MAX_POINTS, Follower, duration, smooth, thin  # noqa: F401
from tui_hf.ui.choice import Choice

POLL_SECONDS = 0.5
OVERLAY_STYLES = ("#5fafff", "#ffaf5f", "#af87ff", "#5fd7af", "#ff87af")


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

    def compose(self) -> ComposeResult:
        yield Static("No run selected. Start one, or pick one from the list.", id="run-header")
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
        if self._initial is not None:
            self.follow(self._initial)
        self.set_interval(POLL_SECONDS, self.poll)

    def follow(self, run_dir: Path) -> None:
        self.follower = Follower(Path(run_dir))
        self._dirty = True
        self.call_later(self.poll)

    def set_overlays(self, followers: list[Follower]) -> None:
        """Runs to draw beside the followed one when "overlay runs" is on (followers shared with the list)."""
        current = self.follower.run_dir if self.follower else None
        overlays = {f.run_dir: f for f in followers if f.run_dir != current}
        if overlays.keys() != self.overlays.keys():
            self.overlays = overlays
            self._dirty = True

    async def poll(self) -> None:
        if self.follower is None:
            return
        changed = self.follower.poll()
        if self.query_one("#run-overlay", Checkbox).value:
            for f in self.overlays.values():
                changed = f.poll() or changed
        if changed or self._dirty:
            self._dirty = False
            await self.draw()
        else:
            self._draw_eta()  # time passes even when no step finished

    @on(Checkbox.Changed)
    async def _options_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._dirty = True
        await self.poll()

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
        s, status = f.state, f.status
        colour = {"running": "green", "finished": "blue", "failed": "red", "died": "red", "stopped": "yellow",
                  "stopping": "yellow"}.get(status, "white")
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
        if self.query_one("#run-overlay", Checkbox).value:
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


class TrainingPane(Horizontal):
    """The job form and the runs list on the left; the live view of the chosen run on the right."""

    def __init__(self, runs_dir: Path | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs_dir = runs_dir
        self.followers: dict[Path, Follower] = {}  # every run, read incrementally: the list costs O(new events)

    def compose(self) -> ComposeResult:
        from tui_hf.data import SENTIMENT_CSV

        with VerticalScroll(id="train-form"):
            yield Label("New job", classes="section")
            for label, wid, value in (("Model", "train-model", "embedded"), ("Data", "train-data", str(SENTIMENT_CSV)),
                                      ("Text column", "train-text", "text"), ("Label column", "train-label", "label")):
                yield Label(label, classes="field-label")
                yield Input(value, id=wid)
            yield Label("Engine", classes="field-label")
            yield Choice([("Trainer + TrainingArguments", "trainer"), ("native PyTorch loop", "native")],
                         value="trainer", allow_blank=False, id="train-engine")
            with Horizontal(classes="train-numbers"):
                for label, wid, value, kind in (("Epochs", "train-epochs", "3", "number"),
                                                ("Batch", "train-batch", "16", "integer"),
                                                ("LR", "train-lr", "5e-5", "number"),
                                                ("Max len", "train-maxlen", "64", "integer")):
                    with Vertical():
                        yield Label(label, classes="field-label")
                        yield Input(value, id=wid, type=kind)  # type: ignore[arg-type]
            yield Static("", id="train-preview")
            yield Button("Start training", id="train-start", variant="primary")
            yield Label("Runs", classes="section")
            yield OptionList(id="train-runs")
        yield TrainingView(id="train-view")

    def on_mount(self) -> None:
        self.refresh_runs()
        self.set_interval(2.0, self.refresh_runs)
        self._preview_timer: Any = None
        self._request_preview()

    @on(Input.Changed, "#train-data, #train-text, #train-label")
    def _data_changed(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(0.3, self._request_preview)

    def _request_preview(self) -> None:
        value = lambda wid: self.query_one(f"#{wid}", Input).value.strip()  # noqa: E731
        self.preview(value("train-data"), value("train-text"), value("train-label"))

    @work(thread=True, exclusive=True, group="train-preview", exit_on_error=False)
    def preview(self, path: str, text_column: str, label_column: str) -> None:
        """The data's columns, size, label counts and first rows, read with the standard library."""
        from collections import Counter

        from tui_hf.core.errors import SpecError
        from tui_hf.core.training.data import is_file_ref, peek

        if not path:
            text = ""
        elif not is_file_ref(path):
            text = f"[dim]{escape(path)}: a hub dataset, loaded when the job starts[/dim]"
        else:
            try:
                p = peek(path)
            except SpecError as exc:
                text = f"[red]{escape(str(exc))}[/red]"
            else:
                lines = [f"{len(p.rows)}{'+' if p.more else ''} rows · columns {escape(', '.join(p.columns))}"]
                for column in (text_column, label_column):
                    if column not in p.columns:
                        lines.append(f"[red]no column {escape(column)!r}[/red]")
                if label_column in p.columns:
                    counts = Counter(str(r[label_column]) for r in p.rows)
                    lines.append("labels " + escape(", ".join(f"{k} ({v})" for k, v in sorted(counts.items())[:8])))
                if text_column in p.columns:
                    for row in p.rows[:3]:
                        label = f" → {row.get(label_column)}" if label_column in p.columns else ""
                        lines.append(f"[dim]• {escape(str(row[text_column])[:60])}{escape(str(label))}[/dim]")
                text = "\n".join(lines)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one("#train-preview", Static).update, text)

    def refresh_runs(self) -> None:
        from tui_hf.core.training.job import run_dirs

        dirs = run_dirs(self.runs_dir)
        self.followers = {p: self.followers.get(p) or Follower(p) for p in dirs}
        for follower in self.followers.values():
            follower.poll()
        options = self.query_one("#train-runs", OptionList)
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        options.clear_options()
        for path in reversed(dirs):
            follower = self.followers[path]
            status, best = follower.status, follower.state.best()
            extra = f" {best[0]} {best[1]:.3f}" if best else ""
            colour = {"running": "green", "finished": "blue", "failed": "red", "died": "red"}.get(status, "yellow")
            options.add_option(Option(f"{escape(path.name)}\n  [{colour}]{escape(status)}[/{colour}]{escape(extra)}",
                                      id=str(path)))
        if highlighted is not None:
            try:
                options.highlighted = options.get_option_index(highlighted)
            except Exception:
                pass
        self.query_one(TrainingView).set_overlays(list(self.followers.values()))

    @on(OptionList.OptionSelected, "#train-runs")
    def _run_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.query_one(TrainingView).follow(Path(event.option.id))

    @on(Button.Pressed, "#train-start")
    def start(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.job import create_run, launch
        from tui_hf.core.training.spec import DataSpec, TrainSpec

        value = lambda wid: self.query_one(f"#{wid}", Input).value.strip()  # noqa: E731
        try:
            spec = TrainSpec(
                data=DataSpec(train=value("train-data"), text_column=value("train-text"),
                              label_column=value("train-label"), max_length=int(value("train-maxlen") or 64)),
                model=value("train-model") or "embedded", engine=str(self.query_one("#train-engine", Select).value),
                epochs=float(value("train-epochs") or 3), batch_size=int(value("train-batch") or 16),
                learning_rate=float(value("train-lr") or 5e-5))
            run_dir = create_run(spec, self.runs_dir)
            launch(run_dir)
        except (TuiHfError, ValueError) as exc:
            self.notify(str(exc), title="Cannot start training", severity="error", timeout=10, markup=False)
            return
        self.notify(f"Started {run_dir.name}: it keeps running if you close the app (tui-hf attach {run_dir}).",
                    markup=False)
        self.query_one(TrainingView).follow(run_dir)
        self.refresh_runs()
