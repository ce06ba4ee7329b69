"""The training cockpit's dialogs: a step's batch X-rayed, early stopping armed, runs compared.

Each reads the run directory through the core (xray, control, compare) in a thread: rebuilding a batch
tokenizes the data again, which takes seconds on a large file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui_hf.ui.training.colours import OVERLAY_STYLES
from tui_hf.ui.widgets.cells import elide_middle
from tui_hf.ui.widgets.choice import Choice
from tui_hf.ui.widgets.lists import Options
from tui_hf.ui.widgets.markup import escape

TRAINED = "bold #000000 on #5fd75f"  # a position the loss sees
IGNORED = "#bcbcbc on #3a3a3a"  # a real token whose label is -100
PADDING = "#626262"


def render_xray(x: Any) -> Text:
    """The batch as the model received it: each row's tokens, shaded by whether the loss trains on them."""
    out = Text()
    what = "rows" if x.task == "text-classification" else "positions"
    hashes = f" (hash {x.rebuilt_hash or x.recorded_hash})"
    if x.rebuilt_hash is None:  # the job's own copy, not (yet) rebuilt from the data
        check = (
            ("as the job trained it (its own copy) · not checked against the data", "yellow")
            if x.problems
            else ("as the job trained it (its own copy) · checking it against the data…", "cyan")
        )
    elif x.matches:
        check = ("rebuilt batch matches the one trained", "green")
    elif x.kept_by_job:
        check = ("rebuilt batch DIFFERS from the one trained; shown: the batch as the job trained it", "bold red")
        hashes = f" (trained {x.recorded_hash}, rebuilt {x.rebuilt_hash})"
    else:  # no copy of this step: the rows below are today's data, which is the point of the warning
        check = (
            "rebuilt batch DIFFERS from the one trained; shown: the data as it is now, not what trained",
            "bold red",
        )
        hashes = f" (trained {x.recorded_hash}, rebuilt {x.rebuilt_hash})"
    if x.ids_only and x.matches:  # an older record: its hash never covered the labels
        check = ("rebuilt batch's token ids match the one trained (older record: labels not checked)", "yellow")
    loss = f" · loss {x.loss:.4f}" if x.loss is not None else ""
    out.append(f"{x.run}\n", style="dim")
    out.append(
        f"step {x.step} · {len(x.rows)} rows × {x.padded_length} tokens · {x.tokens} real · "
        f"{x.supervised} supervised {what} ({x.supervised_share:.0%}){loss}\n",
        style="bold",
    )
    out.append(check[0], style=check[1])
    out.append(hashes + "\n")
    for problem in x.problems:
        out.append(f"{problem}\n", style="red")
    if x.task != "text-classification":
        out.append("key: ")
        out.append(" trained ", style=TRAINED)
        out.append(" ")
        out.append(" label -100 ", style=IGNORED)
        out.append(" ")
        out.append("padding", style=PADDING)
        out.append("\n")
    for i, row in enumerate(x.rows):
        where = f"line {row.source_row}" if row.source_row is not None else f"train row {row.position}"
        padding = row.attention.count(0)
        trained = sum(row.trained)
        head = f"\n[{i}] {where} · {row.length} tokens · {padding} padding"
        if row.label is not None:
            head += f" · label {row.label}"
        elif x.task != "text-classification":
            head += f" · {trained} trained"
        out.append(head + "\n", style="bold")
        for j, token in enumerate(row.tokens):
            if not row.attention[j]:
                out.append(token, style=PADDING)
            elif x.task == "text-classification":
                out.append(token)
            else:
                out.append(token, style=TRAINED if row.trained[j] else IGNORED)
                if row.labels[j] is not None and row.labels[j] != "O":
                    out.append(f"/{row.labels[j]}", style="cyan")
            out.append(" ")
        out.append("\n")
    return out


class XrayScreen(ModalScreen[None]):
    """One step's batch; the run's alerts on the side, each a jump to its step."""

    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, run_dir: Path, step: int, alerts: list[dict[str, Any]], latest: bool = False) -> None:
        """`latest`: the run's last step was asked for (no step in particular); the job's last kept copy is
        shown at once then, whichever step it is."""
        super().__init__()
        self.run_dir, self.step, self.alerts, self.latest = Path(run_dir), step, alerts, latest

    def compose(self) -> ComposeResult:
        with Vertical(id="xray-dialog"):
            with Horizontal(id="xray-bar"):
                yield Label("Batch X-ray · step ", id="xray-title")  # the run's name heads the view: 80 columns
                yield Input(str(self.step), id="xray-step", type="integer", compact=True)
                yield Button("Show", id="xray-show", compact=True, variant="primary")
                yield Button("Close  esc", id="xray-close", compact=True)
            with Horizontal(id="xray-body"):
                alerts = [a for a in self.alerts if a.get("step") is not None]
                self._alert_steps = [int(a["step"]) for a in alerts]  # by option index: a step can have several
                options = Options(
                    *[Option(escape(f"step {a['step']}: {a.get('message', '')}"[:200])) for a in alerts],
                    id="xray-alerts",
                )
                options.display = bool(alerts)
                yield options
                yield VerticalScroll(Static("", id="xray-view"), id="xray-scroll")

    def on_mount(self) -> None:
        self.show(self.step, self.latest)
        self.query_one("#xray-scroll").focus()  # the batch: arrows scroll it, q closes; Tab reaches the step

    @on(Button.Pressed, "#xray-close")
    def _close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#xray-show")
    @on(Input.Submitted, "#xray-step")
    def _show_typed(self) -> None:
        raw = self.query_one("#xray-step", Input).value.strip()
        if raw.isdigit():
            self.show(int(raw))

    @on(OptionList.OptionSelected, "#xray-alerts")
    def _alert_chosen(self, event: OptionList.OptionSelected) -> None:
        step = self._alert_steps[event.option_index]
        self.query_one("#xray-step", Input).value = str(step)
        self.show(step)

    def show(self, step: int, latest: bool = False) -> None:
        self.step = step
        self.query_one("#xray-view", Static).update(f"[cyan]rebuilding the batch of step {step}…[/cyan]")
        self._load(step, latest)

    @work(thread=True, exclusive=True, group="xray", exit_on_error=False)
    def _load(self, step: int, latest: bool) -> None:
        """The job's copy of the step first when it kept one (at once: no torch, no tokenizer), then the batch
        rebuilt from the data and checked against what was trained (seconds in a fresh viewer)."""
        from textual.worker import get_current_worker

        from tui_hf.core.errors import RunStateError, TuiHfError
        from tui_hf.core.training.snapshots import kept, with_check
        from tui_hf.core.training.xray import xray

        try:
            copy = kept(self.run_dir, None if latest else step)
            first = render_xray(copy) if copy is not None else None
        except Exception:  # a copy edited by hand or written by another version: the rebuild alone
            copy = first = None
        if copy is not None and not get_current_worker().is_cancelled:  # another step asked for meanwhile
            step = copy.step
            self.app.call_from_thread(self._shown, step, first, latest)
        try:
            if not self.run_dir.is_dir():
                raise RunStateError(f"{self.run_dir.name} is gone (deleted or moved): no batch to show")
            shown: Any = render_xray(with_check(copy, xray(self.run_dir, step)))  # differing: as trained
        except Exception as exc:  # a batch that cannot be rebuilt (data gone, tokenizer moved): say so, stay open
            why = (
                str(exc) if isinstance(exc, TuiHfError) else f"cannot rebuild step {step}: {type(exc).__name__}: {exc}"
            )
            if copy is not None:
                copy.problems.append(why)
                shown = render_xray(copy)
            else:
                shown = Text(why, style="red")
        self.app.call_from_thread(self._shown, step, shown)

    def _shown(self, step: int, shown: Any, retarget: bool = False) -> None:
        if retarget and step != self.step:  # the last step the job kept, not the one the view last read
            self.step = step
            self.query_one("#xray-step", Input).value = str(step)
        if step == self.step:
            self.query_one("#xray-view", Static).update(shown)


class EarlyStopScreen(ModalScreen[tuple[str, int] | None]):
    """Returns (metric, patience) to arm, ("", 0) to disarm, None to leave it as it is."""

    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, metrics: list[str]) -> None:
        super().__init__()
        self.metrics = metrics or ["eval_loss"]

    def compose(self) -> ComposeResult:
        with Vertical(id="early-dialog"):
            yield Label(
                "Early stopping: stop when the metric has not improved for this many evaluations "
                "(loss: lower is better; anything else: higher)",
                id="early-title",
            )
            with Horizontal(classes="job-row"):
                yield Label("Metric", classes="job-label")
                yield Choice(
                    [(m, m) for m in self.metrics],
                    value="eval_loss" if "eval_loss" in self.metrics else self.metrics[0],
                    allow_blank=False,
                    id="early-metric",
                    compact=True,
                )
            with Horizontal(classes="job-row"):
                yield Label("Patience", classes="job-label")
                yield Input("3", id="early-patience", type="integer", compact=True)
            with Horizontal(id="early-buttons"):
                yield Button("Arm", id="early-arm", variant="primary", compact=True)
                yield Button("Disarm", id="early-disarm", compact=True)
                yield Button("Cancel", id="early-cancel", compact=True)

    @on(Button.Pressed, "#early-arm")
    def _arm(self) -> None:
        from tui_hf.core.errors import SpecError
        from tui_hf.core.training.control import check_patience

        try:
            patience = check_patience(self.query_one("#early-patience", Input).value)
        except SpecError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.dismiss((str(self.query_one("#early-metric", Choice).value), patience))

    @on(Button.Pressed, "#early-disarm")
    def _disarm(self) -> None:
        self.dismiss(("", 0))

    @on(Button.Pressed, "#early-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class CompareRunsScreen(ModalScreen[None]):
    """Two or more runs: their loss curves on one axis (step, epoch or samples seen), the settings that
    differ, and the best and final metrics side by side."""

    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, run_dirs: list[Path]) -> None:
        super().__init__()
        self.run_dirs = [Path(p) for p in run_dirs]
        self._plot: Any = None

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-runs-dialog"):
            with Horizontal(id="compare-runs-bar"):
                yield Label(f"Compare {len(self.run_dirs)} runs · x axis ", id="compare-runs-title")
                yield Choice(
                    [("step", "step"), ("epoch", "epoch"), ("samples seen", "samples")],
                    value="step",
                    allow_blank=False,
                    id="compare-runs-axis",
                    compact=True,
                )
                yield Button("Close  esc", id="compare-runs-close", compact=True)
            yield Vertical(id="compare-runs-plot")
            yield VerticalScroll(Static("", id="compare-runs-text"), id="compare-runs-scroll")

    def on_mount(self) -> None:
        self._load("step")

    @on(Button.Pressed, "#compare-runs-close")
    def _close(self) -> None:
        self.dismiss(None)

    @on(Choice.Changed, "#compare-runs-axis")
    def _axis(self, event: Choice.Changed) -> None:
        self._load(str(event.value))

    @work(thread=True, exclusive=True, group="compare-runs", exit_on_error=False)
    def _load(self, axis: str) -> None:
        from tui_hf.core.errors import RunStateError, TuiHfError
        from tui_hf.core.training.compare import compare_runs, format_comparison

        try:
            gone = [p.name for p in self.run_dirs if not p.is_dir()]
            if gone:  # deleted since the dialog opened: no curve is better than a frozen one
                raise RunStateError(f"{', '.join(gone)} is gone (deleted or moved): close this and compare again")
            comparison = compare_runs(list(self.run_dirs), axis)
        except TuiHfError as exc:
            self.app.call_from_thread(self.query_one("#compare-runs-text", Static).update, Text(str(exc), "red"))
            return
        self.app.call_from_thread(self._show, comparison, format_comparison(comparison))

    async def _show(self, comparison: Any, text: str) -> None:
        from textual_plot import PlotWidget

        from tui_hf.core.training.follow import smoothed, thin

        self.query_one("#compare-runs-text", Static).update(Text(text))
        if self._plot is None:
            self._plot = PlotWidget(id="compare-runs-chart")
            await self.query_one("#compare-runs-plot").mount(self._plot)
        plot = self._plot
        plot.clear()
        plot.set_xlabel({"samples": "samples seen"}.get(comparison.axis, comparison.axis))
        plot.set_ylabel("train loss, EMA")
        for k, run in enumerate(comparison.runs):
            pts = smoothed(thin([(x, y) for x, y in run.curve]), "ema", 0.8)  # type: ignore[misc]
            if pts:
                plot.plot(
                    [x for x, _ in pts],
                    [y for _, y in pts],
                    line_style=OVERLAY_STYLES[k % len(OVERLAY_STYLES)],
                    label=elide_middle(run.name, 28),
                )  # the date stamp and the engine stay
        plot.show_legend()
