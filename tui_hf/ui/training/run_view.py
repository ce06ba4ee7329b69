"""The live view of one run: status, progress and ETA, throughput, the loss chart, evaluations, alerts.

It follows runs/<id>/events.jsonl with an incremental reader (core.training.follow), so it costs the same at
step 10 and step 10,000 and works on a run started by anyone: another terminal, a script with TuiHfCallback,
a job that outlived the app. Reading happens in a thread (the first read of a long run takes about a second)
and the view redraws only when something changed: its text once a second, the chart every two seconds while the
run streams (at once when an option or the run changes). The apps send only the cells that changed
(ui/changes_only.py), so a live run costs about 1 KiB/s over SSH, as W&B LEET does on the same run.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, ProgressBar, Static

from tui_hf.core.training.chart import SMOOTHING, ChartOptions, build_chart, kept_limits
from tui_hf.core.training.follow import Follower, duration, effective_batch
from tui_hf.ui.training.colours import OVERLAY_STYLES, ROLE_STYLES, STATUS_COLOURS
from tui_hf.ui.widgets.cells import elide_middle, fit_fields
from tui_hf.ui.widgets.choice import Choice
from tui_hf.ui.widgets.markup import escape

POLL_SECONDS = 1.0  # the step, loss and ETA: once a second reads as live and costs a few bytes over SSH
EVALS_ROWS = 7  # the heading and the last six evaluations
CHART_SECONDS = 2.0  # a running chart gains a few points per redraw; each redraw sends the cells they change

log = logging.getLogger("tui_hf.ui")


# Every button that acts on the run shown: disabled until a run is read, and again when it is gone.
RUN_BUTTONS = (
    "#run-stop",
    "#run-save",
    "#run-eval",
    "#run-early",
    "#run-xray",
    "#run-resume",
    "#run-try",
    "#run-export",
    "#run-script",
)


class TrainingView(Vertical):
    """One run, live: status, progress with ETA, throughput, memory, loss curves, evaluation metrics."""

    class TryModel(Message):
        def __init__(self, path: Path, task: str, inputs: dict[str, str] | None = None) -> None:
            super().__init__()
            self.path, self.task = path, task
            self.inputs = inputs or {}  # what the inference form starts with (a pairs run: its first pair)

    class RunGone(Message):
        """The followed run's directory went away (deleted or moved from another terminal)."""

        def __init__(self, run_dir: Path) -> None:
            super().__init__()
            self.run_dir = run_dir

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
        self._eta_text = ""  # the ETA line last shown
        self._plot_drawn = 0.0  # monotonic time of the last chart redraw
        self._plot_stale = False  # new points wait for the chart's next turn
        self._y_limits: tuple[float, float] | None = None  # the chart's y range as last drawn
        self._evals_rows = 0  # rows kept for the evaluations: they grow, never shrink, while a run is shown
        self._expects_evals = False  # the run's spec asks for evaluations (or cannot be read)
        self._ranks_text = ""  # the ranks' rows last shown (a job of several processes)
        self._warmed: Path | None = None  # the run whose X-ray was last prepared in the background

    def compose(self) -> ComposeResult:
        yield Static("No run selected: start one (n) or pick one from the list.", id="run-header")
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(total=1.0, show_eta=False, id="run-progress")
            yield Static("", id="run-eta")
        yield Static("", id="run-stats")
        vitals = Static("", id="run-vitals")
        vitals.display = False  # until the job's first sample: an empty row would move the controls when it goes
        yield vitals
        with Horizontal(id="run-controls"):
            yield Button(
                "Stop", id="run-stop", compact=True, variant="error", tooltip="stop at the next step, with a checkpoint"
            )
            yield Button("Save", id="run-save", compact=True, tooltip="save a checkpoint at the next step")
            yield Button("Eval", id="run-eval", compact=True, tooltip="evaluate at the next step")
            yield Button("Early stop", id="run-early", compact=True, tooltip="arm or disarm early stopping")
            yield Button("X-ray", id="run-xray", compact=True, tooltip="the batch a step trained on (x)")
            yield Button("Resume", id="run-resume", compact=True)
            yield Button("Try model", id="run-try", compact=True, variant="success")
            yield Button("CSV", id="run-export", compact=True, tooltip="write metrics.csv into the run")
            yield Button(
                "Script",
                id="run-script",
                compact=True,
                tooltip="write train.py into the run: this run as a training script without tui-hf",
            )
        with Horizontal(id="run-chart-options"):
            yield Choice(
                [(name, name) for name in SMOOTHING],
                value="raw + EMA",
                allow_blank=False,
                id="run-smoothing",
                compact=True,
                tooltip="how the train loss is smoothed",
            )
            yield Checkbox("log y", False, id="run-log", compact=True)
            yield Checkbox("eval", True, id="run-show-eval", compact=True, tooltip="the evaluation loss")
            yield Checkbox("lr", False, id="run-show-lr", compact=True, tooltip="the learning rate, scaled")
            yield Checkbox("overlay runs", False, id="run-overlay", compact=True)
        yield Vertical(id="run-plot")
        yield VerticalScroll(Static("", id="run-ranks"), Static("", id="run-evals"), id="run-evals-scroll")

    def on_mount(self) -> None:
        self.query_one("#run-try").display = self.can_try
        self.query_one("#run-ranks").display = False  # shown for a job of several processes
        for wid in RUN_BUTTONS:
            self.query_one(wid).disabled = True
        if self._initial is not None:
            self.follow(self._initial)
        self.set_interval(POLL_SECONDS, self.poll)

    def on_resize(self) -> None:
        self._dirty = True  # the header shows the labels only where they fit: drawn again at the next poll

    def follow(self, run_dir: Path) -> None:
        if self.follower is not None and self.follower.run_dir == Path(run_dir):
            return
        self.follower = Follower(Path(run_dir))
        self.overlays.pop(self.follower.run_dir, None)
        self._dirty = True
        self._y_limits, self._evals_rows = None, 0
        self.query_one("#run-evals-scroll").styles.min_height = None
        self._expects_evals = expects_evals(self.follower.run_dir)
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
        kept = {p: f for p, f in self.overlays.items() if p.is_dir()} if self._overlay_on else self.overlays
        if len(kept) != len(self.overlays):  # a run deleted meanwhile leaves the chart, not a frozen curve
            self.overlays, self._dirty = kept, True
        self._reading = True
        self._read(self.follower, list(self.overlays.values()) if self._overlay_on else [])

    @property
    def _overlay_on(self) -> bool:
        return self.query_one("#run-overlay", Checkbox).value

    @work(thread=True, group="run-read", exit_on_error=False)
    def _read(self, follower: Follower, overlays: list[Follower]) -> None:
        changed = False
        ranks: list[Any] = []
        try:
            changed = follower.poll()
            for other in overlays:
                changed = other.poll() or changed
            ranks = follower.ranks()  # heartbeats change without events: a dead rank shows while the rest hang
        finally:
            self.app.call_from_thread(self._after_read, follower, changed, ranks)

    async def _after_read(self, follower: Follower, changed: bool, ranks: list[Any] | None = None) -> None:
        self._reading = False
        if follower is self.follower:
            self._draw_ranks(ranks or [])
        if self.follower is not None and not self.follower.run_dir.is_dir():
            self.run_gone()
        elif follower is not self.follower:
            self._dirty = True  # another run was chosen meanwhile: draw that one
            self.poll()
        elif changed or self._dirty:
            forced, self._dirty = self._dirty, False
            await self.draw(force_chart=forced)
        else:
            self._draw_eta()  # time passes even when no step finished
            if self._plot_stale:
                await self._draw_plot(force=False)

    @on(Checkbox.Changed)
    @on(Choice.Changed, "#run-smoothing")
    def _options_changed(self, event: Checkbox.Changed | Choice.Changed) -> None:
        event.stop()
        self._dirty, self._y_limits = True, None  # log y or another curve: the range starts again
        self.poll()

    def chart_options(self) -> ChartOptions:
        value = lambda wid: self.query_one(wid, Checkbox).value  # noqa: E731
        return ChartOptions(
            smoothing=str(self.query_one("#run-smoothing", Choice).value),
            log_y=value("#run-log"),
            show_eval=value("#run-show-eval"),
            show_lr=value("#run-show-lr"),
            overlay=value("#run-overlay"),
        )

    async def _ensure_plot(self) -> Any:
        if self._plot is None:
            from textual_plot import (
                PlotWidget,  # numpy and the canvas load with the first run shown
            )

            self._plot = PlotWidget(id="run-loss")
            await self.query_one("#run-plot").mount(self._plot)
            self._plot.set_xlabel("step")
        return self._plot

    def _draw_eta(self) -> None:
        if self.follower is None:
            return
        s = self.follower.state
        elapsed = (s.updated or time.time()) - s.started if s.started else None
        fields = [
            f"step {s.step}/{s.total_steps or '?'}",
            f"epoch {s.epoch:.2f}/{s.epochs:g}",
            f"elapsed {duration(elapsed)}",
            f"ETA {duration(self.follower.eta_seconds)}",
        ]
        if s.started is None:  # not started training: no steps, epochs or time to count yet
            fields = ["no step yet"]
        # Beside the progress bar at 80 columns a long run's line would be cut: the epoch and elapsed go first.
        room = self.query_one("#run-eta").content_region.width or 200
        text = " · ".join(fit_fields(fields, room, drop=[1, 2]))
        if text != self._eta_text:  # polled twice a second: an unchanged line is not sent again over SSH
            self._eta_text = text
            self.query_one("#run-eta", Static).update(text)

    def _draw_ranks(self, ranks: list[Any]) -> None:
        """One row per rank of a job of several processes; a dead rank in red, a straggler in yellow."""
        from tui_hf.core.training.nodes import format_ranks, rank_lines

        rows = [escape(line) for line in format_ranks(ranks)[:2]]
        for r in ranks:  # a rank's line and its vitals' line, coloured alike
            colour = "red" if r.verdict.startswith("dead") else "yellow" if r.verdict else ""
            rows += [f"[{colour}]{escape(line)}[/{colour}]" if colour else escape(line) for line in rank_lines(r)]
        text = "\n".join(rows)
        if text != self._ranks_text:  # unchanged rows are not sent again over SSH
            self._ranks_text = text
            ranks_view = self.query_one("#run-ranks", Static)
            ranks_view.display = bool(text)
            ranks_view.update(text)

    async def draw(self, force_chart: bool = True) -> None:
        f = self.follower
        if f is None:
            return
        self.redraws += 1
        s, status = f.state, f.status
        colour = STATUS_COLOURS.get(status, "white")
        wide = self.app.size.width >= 110  # at 80 columns the labels would push the chart down a row
        labels = f" · labels {escape(', '.join(s.labels[:8]))}" if s.labels and wide else ""
        # Engine and model come with the job's start event: until then the message says what the job is doing.
        known = "".join(f" · {escape(part)}" for part in (s.engine, s.model, s.parameters_text) if part)
        header = f"[b]{escape(f.run_dir.name)}[/b] · [{colour}]{escape(status)}[/{colour}]{known}{labels}"
        if s.message:
            header += f"\n[{colour}]{escape(s.message)}[/{colour}]"
        if status == "died":
            header += "\n[red]the process is gone (killed?): Resume continues from its last checkpoint[/red]"
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
        if s.batch_size and (s.grad_accum > 1 or s.precision not in ("", "fp32")):
            stats.append(effective_batch(s))
        self.query_one("#run-stats", Static).update(" · ".join(stats) or "[dim]waiting for the first step…[/dim]")
        vitals = self.query_one("#run-vitals", Static)
        vitals.update("\n".join(vitals_lines(s.vitals_history, s.vitals)))
        vitals.display = bool(s.vitals)
        evals = [f"[b]evaluation[/b] ({len(s.evals)})"] if s.evals else []
        for e in s.evals[-6:]:
            metrics = "  ".join(
                f"{k.removeprefix('eval_')} {v:.4f}"
                for k, v in e.items()
                if k.startswith("eval_") and isinstance(v, (int, float))
            )
            epoch = e.get("epoch") if isinstance(e.get("epoch"), (int, float)) else 0
            evals.append(escape(f"step {e.get('step')} · epoch {epoch:.2f}  {metrics}"))
        evals += alert_lines(s.alerts)
        evals += control_lines(s.controls)
        evals += prediction_lines(s.predictions_history)
        if s.traceback and status in ("failed", "died"):
            evals.append(f"[red]{escape(s.traceback[-3000:])}[/red]")
        if not evals and self._expects_evals and status not in ("failed", "died"):
            evals = ["[dim]evaluation: none yet[/dim]"]
        self.query_one("#run-evals", Static).update("\n".join(evals))
        # Each row the evaluations gain takes one from the chart, and the whole chart is sent again over SSH:
        # a run that will evaluate keeps room for six from the start, so they land without moving the chart.
        rows = min(max(len(evals), EVALS_ROWS), 10) if evals else 0
        if rows > self._evals_rows:
            self._evals_rows = rows
            self.query_one("#run-evals-scroll").styles.min_height = rows
        live = status in ("running", "starting", "pending", "preparing")
        for wid in ("#run-stop", "#run-save", "#run-eval", "#run-early"):
            self.query_one(wid).disabled = not live
        self.query_one("#run-xray").disabled = not (f.run_dir / "batches.jsonl").exists()
        self.call_after_refresh(self._warm_xray)  # once this frame is on screen
        self.query_one("#run-resume").disabled = status not in ("stopped", "died", "failed")
        self.query_one("#run-try").disabled = not s.final_path
        self.query_one("#run-export").disabled = not (s.train or s.evals)
        self.query_one("#run-script").disabled = False  # from the spec alone: a run not yet started has one too
        await self._draw_plot(force=force_chart or not live)

    def _warm_xray(self) -> None:
        """Prepare the shown run's X-ray in the background (the imports, its tokenizer, its tokenized data:
        seconds), so that x shows it at once. Once per run, only for a run with recorded batches, only while
        the view is on screen: the inference tabs never pay for it (a run drawn while the tab was hidden is
        prepared when the tab is shown: the view is resized then and draws again)."""
        f = self.follower
        if f is None or f.run_dir == self._warmed or not self.is_on_screen:
            return
        try:
            recorded = (f.run_dir / "batches.jsonl").stat().st_size > 0  # a job creates it before its first step
        except OSError:
            recorded = False
        if not recorded:
            return
        self._warmed = f.run_dir
        self._warm(f.run_dir)

    @work(thread=True, exclusive=True, group="xray-warm", exit_on_error=False)
    def _warm(self, run_dir: Path) -> None:
        from textual.worker import get_current_worker

        from tui_hf.core.training import xray

        try:
            # Another run chosen, or the viewer quitting, cancels the worker: the data stops being read.
            xray.warm(run_dir, stop=get_current_worker().cancelled_event)
        except Exception as exc:  # the X-ray, when asked for, reports it in its own words
            log.info("X-ray warm-up of %s failed: %s: %s", run_dir.name, type(exc).__name__, exc)

    async def _draw_plot(self, force: bool = True) -> None:
        f = self.follower
        if f is None or not (f.state.train or f.state.evals):
            return
        now = time.monotonic()
        if not force and now - self._plot_drawn < CHART_SECONDS:
            self._plot_stale = True
            return
        self._plot_drawn, self._plot_stale = now, False
        options = self.chart_options()
        overlays = (
            [(elide_middle(o.run_dir.name, 24), o.state) for o in self.overlays.values()] if options.overlay else []
        )
        chart = build_chart(f.state, options, overlays)
        if not chart.series:
            return
        plot = await self._ensure_plot()
        plot.clear()
        plot.set_ylabel(chart.y_label)
        # Under 36 rows (80x24 over SSH) the axis margins give their label rows to the curves.
        plot.margin_top, plot.margin_bottom = (1, 2) if self.app.size.height < 36 else (2, 3)
        numeric, log = _formatters()
        plot.set_y_formatter(log() if options.log_y else numeric())
        plot.set_xlimits(*chart.x_limits)
        self._y_limits = kept_limits(self._y_limits, chart.y_limits)
        plot.set_ylimits(*self._y_limits)
        k = 0
        for series in chart.series:
            if series.role == "overlay":
                style = OVERLAY_STYLES[k % len(OVERLAY_STYLES)]
                k += 1
            else:
                style = ROLE_STYLES[series.role]
            plot.plot(series.xs, series.ys, line_style=style, label=series.label, hires_mode=_braille())
            if series.markers:
                plot.scatter(series.xs, series.ys, marker="●", marker_style=style.removeprefix("bold "))
        plot.show_legend()

    # -- steering ---------------------------------------------------------------------------------------

    def run_gone(self) -> None:
        """Say that the followed run is gone, stop following it, and tell the runs list (it drops the run)."""
        if self.follower is None:
            return
        run_dir = self.follower.run_dir
        self.follower = None
        self._eta_text = ""
        self.query_one("#run-header", Static).update(
            f"[b]{escape(run_dir.name)}[/b] · [red]gone[/red]: deleted or moved since it was shown"
        )
        for wid in ("#run-eta", "#run-stats", "#run-vitals", "#run-evals", "#run-ranks"):
            self.query_one(wid, Static).update("")
        self._ranks_text = ""
        self.query_one("#run-progress", ProgressBar).update(progress=0.0)
        if self._plot is not None:  # its curves are the gone run's
            self._plot.clear()
        for wid in RUN_BUTTONS:
            self.query_one(wid).disabled = True
        self.notify(
            f"{run_dir.name} is gone (deleted or moved): nothing to do with it.",
            title="Run gone",
            severity="warning",
            markup=False,
        )
        self.post_message(self.RunGone(run_dir))

    def _present(self) -> Path | None:
        """The followed run's directory if it is still there (a button pressed after `tui-hf runs rm`)."""
        if self.follower is None:
            return None
        if not self.follower.run_dir.is_dir():
            self.run_gone()
            return None
        return self.follower.run_dir

    def press(self, button_id: str) -> None:
        """A control asked for by key or from the palette: pressed, or a line saying why it does not apply."""
        button = self.query_one(f"#{button_id}", Button)
        if button.disabled or not button.display:
            status = f"the run shown is {self.follower.status}" if self.follower else "no run is shown"
            self.notify(f"{button.label}: not available, {status}.", markup=False)
            return
        button.press()

    def steer(self, action: str, metric: str | None = None, patience: int | None = None) -> None:
        """Queue a request the job reads at its next step boundary; its acknowledgement shows in the list."""
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.control import Control, send_control

        if self._present() is None:
            return
        try:
            send_control(self.follower.run_dir, Control(action, metric=metric, patience=patience))
        except TuiHfError as exc:
            self.notify(str(exc), title="Cannot steer the run", severity="warning", markup=False)
            return
        self.notify(STEER_SENT.get(action, action), markup=False)

    @on(Button.Pressed, "#run-save")
    def _save(self) -> None:
        self.steer("save")

    @on(Button.Pressed, "#run-eval")
    def _eval(self) -> None:
        self.steer("eval")

    @on(Button.Pressed, "#run-early")
    def _early(self) -> None:
        from tui_hf.ui.training.cockpit import EarlyStopScreen

        def chosen(choice: tuple[str, int] | None) -> None:
            if choice is None:
                return
            metric, patience = choice
            if metric:
                self.steer("early-stop", metric, patience)
            else:
                self.steer("no-early-stop")

        metrics = sorted(
            {k for e in (self.follower.state.evals if self.follower else []) for k in e if k.startswith("eval_")}
        )
        self.app.push_screen(EarlyStopScreen(metrics), chosen)

    @on(Button.Pressed, "#run-xray")
    def action_xray(self) -> None:
        from tui_hf.ui.training.cockpit import XrayScreen

        if self._present() is None:
            return
        s = self.follower.state
        flagged = [a for a in s.alerts if a.get("step") is not None]
        step = flagged[-1]["step"] if flagged else s.step
        self.app.push_screen(XrayScreen(self.follower.run_dir, step, s.alerts, latest=not flagged))

    @on(Button.Pressed, "#run-stop")
    def _stop(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.job import request_stop

        if self._present() is not None:
            try:
                request_stop(self.follower.run_dir)
            except TuiHfError as exc:
                self.notify(str(exc), title="Cannot stop", severity="warning", markup=False)
                return
            self.notify("Stopping: the job finishes its step and saves a checkpoint.")

    @on(Button.Pressed, "#run-resume")
    def _resume(self) -> None:
        self.resume_run()

    def resume_run(self, data_changed: bool = False) -> None:
        """Resume the run; when its data changed since it started, ask before going on with the original split."""
        from rich.markup import escape

        from tui_hf.core.errors import DataChanged, TuiHfError
        from tui_hf.core.training.job import resume
        from tui_hf.ui.screens import ConfirmScreen

        if self._present() is not None:
            try:
                plan = resume(self.follower.run_dir, data_changed=data_changed)
            except DataChanged as exc:
                changes = "\n".join(f"• {escape(c)}" for c in exc.changes)
                self.app.push_screen(
                    ConfirmScreen(
                        f"The data of [b]{escape(self.follower.run_dir.name)}[/b] changed since the run started:\n\n"
                        f"{changes}\n\nResume on it anyway? The rows it validated on stay validation rows, new rows "
                        "train, and an alert records it."
                    ),
                    lambda yes: self.resume_run(True) if yes else None,
                )
                return
            except TuiHfError as exc:
                self.notify(str(exc), title="Cannot resume", severity="warning", markup=False)
                return
            self.notify(plan.describe(done=True).capitalize() + ".", markup=False)

    @on(Button.Pressed, "#run-export")
    def _export(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.events import to_csv

        if self._present() is not None:
            out = self.follower.run_dir / "metrics.csv"
            try:
                self.notify(f"Wrote {to_csv(self.follower.run_dir, out)} rows to {out}", markup=False)
            except TuiHfError as exc:
                self.notify(str(exc), title="Cannot export", severity="error", markup=False)

    @on(Button.Pressed, "#run-script")
    def _script(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.job import export_target
        from tui_hf.core.training.script import export_script

        run_dir = self._present()
        if run_dir is None:
            return
        try:
            # The CLI's rule: RUN/train.py, written once and never over a file (export_script opens it exclusively).
            out = export_script(run_dir, export_target(run_dir, None, own="train.py"))
        except TuiHfError as exc:
            self.notify(str(exc), title="No script written", severity="warning", markup=False)
            return
        self.notify(
            f"Wrote {out}: `python {out}` trains as this run did, without tui-hf (no sentinel, X-ray or steering)",
            markup=False,
            timeout=8,
        )

    @on(Button.Pressed, "#run-try")
    def _try(self) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.job import inference_task, try_inputs

        run_dir = self._present()
        if run_dir is None or self.follower is None or not self.follower.state.final_path:
            return
        final = Path(self.follower.state.final_path)
        try:
            task, inputs = inference_task(run_dir), try_inputs(run_dir)
        except TuiHfError as exc:  # its spec.json deleted or edited since the run finished
            self.notify(str(exc), title="Cannot try the model", severity="warning", markup=False)
            return
        if not final.is_dir():
            self.notify(
                f"The model {run_dir.name} saved is gone: {final} is no longer there.",
                title="Cannot try the model",
                severity="warning",
                markup=False,
            )
            return
        self.post_message(self.TryModel(final, task, inputs))


# (title, help, button of the run view): the palette's commands on the run shown, in `tui-hf attach` and the app.
RUN_COMMANDS = (
    ("Stop run", "Stop at the next step, with a checkpoint (s)", "run-stop"),
    ("Save checkpoint now", "The job saves one at its next step (v)", "run-save"),
    ("Evaluate now", "The job evaluates at its next step", "run-eval"),
    ("Early stop", "Arm or disarm early stopping on a metric", "run-early"),
    ("X-ray a step", "The batch a step trained on, as the model saw it (x)", "run-xray"),
    ("Export metrics CSV", "Write metrics.csv into the run (e)", "run-export"),
    ("Resume run", "Continue a stopped, failed or dead run from its last checkpoint", "run-resume"),
)

STEER_SENT = {
    "save": "Requested a checkpoint: the job saves one at its next step.",
    "eval": "Requested an evaluation: the job runs one at its next step.",
    "early-stop": "Early stopping armed: the job stops when the metric stops improving.",
    "no-early-stop": "Early stopping disarmed.",
}


def expects_evals(run_dir: Path) -> bool:
    """Whether the run will evaluate: a validation file or fraction in its spec; an unreadable spec counts as
    yes, as most runs do."""
    from tui_hf.core.training.runs import SPEC
    from tui_hf.core.training.spec import TrainSpec

    try:
        spec = TrainSpec.load(Path(run_dir) / SPEC)
    except Exception:
        return True
    return bool(spec.data.validation) or spec.data.validation_fraction > 0


def vitals_lines(history: list[dict[str, Any]], latest: dict[int, dict[str, Any]], spark: int = 10) -> list[str]:
    """The training machine, compactly: the job's CPU and memory, the machine's, the disk, then the GPUs two
    to a line, each with a sparkline of its recent utilisation. An idle GPU or a full memory stands out."""
    from tui_hf.core.training.follow import sparkline
    from tui_hf.core.training.vitals import MEMORY_FULL, gpu_flags

    def num(v: dict[str, Any], key: str) -> float | None:
        value = v.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def gib(mb: float) -> str:
        return f"{mb / 1024:.1f}" if mb < 100 * 1024 else f"{mb / 1024:.0f}"

    out = []
    for rank, v in sorted(latest.items()):
        parts = []
        cpu = num(v, "cpu_percent")
        if cpu is not None:
            trend = (
                sparkline([c for h in history if (c := num(h, "cpu_percent")) is not None], spark) if not rank else ""
            )
            parts.append(f"job cpu {trend} {cpu:.0f}%")
        rss = num(v, "rss_mb")
        if rss is not None:
            parts.append(f"ram {gib(rss)} GiB")
        machine, cpus = num(v, "machine_cpu_percent"), num(v, "cpus")
        if machine is not None:
            parts.append(f"machine cpu {machine:.0f}%" + (f" of {cpus:.0f}" if cpus else ""))
        used, total = num(v, "ram_used_mb"), num(v, "ram_total_mb")
        if used is not None and total:
            text = f"ram {gib(used)}/{gib(total)} GiB"
            parts.append(f"[b red]{text} full[/b red]" if used / total >= MEMORY_FULL else text)
        disk = num(v, "disk_free_gb")
        if disk is not None:
            parts.append(f"disk {disk:.0f} GiB free" if disk >= 10 else f"[b red]disk {disk:.1f} GiB free[/b red]")
        out.append((f"rank {rank}: " if rank else "") + " · ".join(parts))
        cells = []
        for g in v.get("gpus") or []:
            if not isinstance(g, dict):
                continue
            index = g.get("index", "?")
            utils = [
                u
                for h in history
                for other in (h.get("gpus") or [])
                if isinstance(other, dict) and other.get("index") == index and (u := num(other, "util")) is not None
            ]
            util, mem, cap = num(g, "util"), num(g, "mem_used_mb"), num(g, "mem_total_mb")
            temp, power = num(g, "temp_c"), num(g, "power_w")
            flags = gpu_flags(g)
            head = f"GPU{index}" + (f" {sparkline(utils, spark)}" if utils and not rank else "")
            util_text = f"{util:.0f}%" if util is not None else "?%"
            if "idle" in flags:
                util_text = f"[b reverse red] {util_text} idle [/b reverse red]"
            mem_text = f"{gib(mem)}/{gib(cap)} GiB" if mem is not None and cap else ""
            if "memory full" in flags:
                mem_text = f"[b reverse red] {mem_text} full [/b reverse red]"
            extra = [f"{temp:.0f}°C" if temp is not None else "", f"{power:.0f} W" if power is not None else ""]
            cells.append(" ".join(p for p in (head, util_text, mem_text, *extra) if p))
        out += ["   ".join(cells[i : i + 2]) for i in range(0, len(cells), 2)]
    return out


def alert_lines(alerts: list[dict[str, Any]], limit: int = 4) -> list[str]:
    if not alerts:
        return []
    out = [f"[b]alerts[/b] ({len(alerts)}) · x shows a step's batch"]
    for a in alerts[-limit:]:
        colour = "red" if a.get("level") == "error" else "yellow"
        step = f"step {a['step']}: " if a.get("step") is not None else ""
        action = f" → {a['action']}" if a.get("action") not in (None, "", "warn") else ""
        out.append(f"[{colour}]{escape(step + str(a.get('message', '')) + action)}[/{colour}]")
    return out


def control_lines(controls: list[dict[str, Any]], limit: int = 3) -> list[str]:
    out = []
    for c in controls[-limit:]:
        state = "[red]refused[/red]" if c.get("refused") else "[green]done[/green]"
        out.append(f"control {escape(str(c.get('action')))} {state}: {escape(str(c.get('message') or ''))}")
    return out


def prediction_lines(history: list[dict[str, Any]], evaluations: int = 3, width: int = 40) -> list[str]:
    """Fixed validation examples across the last evaluations: text, gold, then each evaluation's prediction."""
    if not history:
        return []
    recent = history[-evaluations:]
    steps = " | ".join(f"step {h.get('step')}" for h in recent)
    out = [f"[b]predictions[/b] · text | gold | {escape(steps)}"]
    for i, item in enumerate(recent[-1].get("items", [])):
        cells = []
        for h in recent:
            items = h.get("items", [])
            other = items[i] if i < len(items) else {}
            pred = str(other.get("prediction", ""))
            conf = other.get("confidence")
            cells.append(pred[:width] + (f" ({conf:.2f})" if isinstance(conf, (int, float)) else ""))
        gold = item.get("gold")
        mark = "[green]✓[/green]" if gold is not None and str(gold) == str(item.get("prediction")) else "·"
        out.append(
            f"{mark} {escape(str(item.get('text', ''))[:width])} | {escape(str(gold))} | " + escape(" | ".join(cells))
        )
    return out


@functools.cache
def _braille() -> Any:
    """Lines drawn in braille dots (2x4 per cell): without it a curve is a staircase of whole cells."""
    from textual_plot import HiResMode

    return HiResMode.BRAILLE


@functools.cache
def _formatters() -> tuple[Any, Any]:
    """(numeric, log) y-axis formatters, made on first use: textual_plot loads numpy with the first chart."""
    from textual_plot.axis_formatter import NumericAxisFormatter

    class LogFormatter(NumericAxisFormatter):
        """Ticks on the log10 values, labelled with the values themselves."""

        def get_labels_for_ticks(self, ticks: Any) -> list[str]:
            return [f"{10**t:.3g}" for t in ticks]

    return NumericAxisFormatter, LogFormatter
