"""The Training tab: the runs list (newest first, one line each) over the live view of the chosen run.

New jobs are set up in a dialog (job_form.NewJobScreen) so the chart keeps the rows; the list is read with
core.training.runs.RunsWatcher in a thread, so a runs directory with long histories never stalls typing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Static

from tui_hf.ui.training.colours import STATUS_COLOURS
from tui_hf.ui.training.run_view import TrainingView
from tui_hf.ui.widgets.cells import elide_middle, fit_fields
from tui_hf.ui.widgets.lists import FilterInput, Rows, mentions
from tui_hf.ui.widgets.markup import escape

REFRESH_SECONDS = 2.0
COLUMNS = ("run", "status", "step", "loss", "best")  # newest first: the run names start with their date


def run_row(summary: Any) -> tuple[Text, ...]:
    """One line of the runs list. Text, not markup: run names and messages come from files."""
    status = summary.status
    step = f"{summary.step}/{summary.total_steps}" if summary.total_steps else str(summary.step or "-")
    best = f"{summary.best[0].removeprefix('eval_')} {summary.best[1]:.3f}" if summary.best else ""
    loss = f"{summary.loss:.4f}" if summary.loss is not None else ""
    return (
        Text(summary.name),
        Text(status, style=STATUS_COLOURS.get(status, "")),
        Text(step, justify="right"),
        Text(loss, justify="right"),
        Text(best),
    )


def fit_names(rows: list[tuple[str, tuple[Text, ...]]], width: int) -> list[tuple[str, tuple[Text, ...]]]:
    """Rows whose run names are elided in the middle ("20260102-101010-distilb…-uncased-native") when the
    columns would not fit `width` cells (80 columns, a long model id): the date stamp that tells runs apart and
    the engine stay, and the header below shows the chosen run's name whole."""
    if not rows or width <= 0:
        return rows
    widths = [max(len(COLUMNS[i]), *(cells[i].cell_len for _key, cells in rows)) for i in range(len(COLUMNS))]
    over = sum(widths) + 2 * len(COLUMNS) - width  # each cell has a column of padding on either side
    if over <= 0:
        return rows
    room = max(widths[0] - over, 24)
    return [(key, (Text(elide_middle(cells[0].plain, room)), *cells[1:])) for key, cells in rows]


class TrainingPane(Vertical):
    BINDINGS = [
        Binding("n", "new_job", "New job"),
        Binding("x", "xray", "X-ray"),
        Binding("d", "compare", "Compare runs"),
    ]  # and / filters the runs list (on_key)

    def __init__(self, runs_dir: Path | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs_dir = runs_dir
        self.summaries: list[Any] = []  # RunSummary, newest first, as last shown
        self._watcher: Any = None
        self._reading = False
        self._shown_rows: list[Any] | None = None
        self._picked: Path | None = None  # the run chosen with enter; None: the newest, whichever it is now
        self._newest: Path | None = None  # the newest run when the list was last read

    def compose(self) -> ComposeResult:
        with Horizontal(id="train-bar"):
            new = Button("New job  n", id="train-new", compact=True, variant="primary")
            new.can_focus = False  # the tab's focus goes to the runs list; n or a click opens the dialog
            yield new
            yield Static("", id="train-hint")
        yield FilterInput("train-runs", "filter runs by name or status", id="train-filter")
        table = Rows(id="train-runs", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield TrainingView(id="train-view")

    def on_mount(self) -> None:
        from tui_hf.core.training.runs import RunsWatcher

        self._watcher = RunsWatcher(self.runs_dir)
        self._show_hint()
        self.refresh_runs()
        self.set_interval(REFRESH_SECONDS, self.refresh_runs)

    def on_resize(self) -> None:
        if self._watcher is not None:
            self.call_after_refresh(self._show_hint)  # once the hint has its new width too
            self._shown_rows = None  # the names fit the new width, read again now
            self.refresh_runs()

    def _show_hint(self) -> None:
        from tui_hf.core.training.runs import shown_dir

        if self._watcher is None:
            return
        hint = self.query_one("#train-hint", Static)
        fields = [
            f"runs in {shown_dir(self._watcher.root)}",
            "enter watches a run",
            "/ filters",
            "jobs keep running when the app closes",
        ]
        shown = fit_fields(fields, hint.content_region.width or 200, drop=[0, 2, 3], keep=1)  # whole parts
        hint.update(f"[dim]{escape(' · '.join(shown))}[/dim]")

    def refresh_runs(self) -> None:
        if not self._reading:
            self._reading = True
            self._read_runs()

    @work(thread=True, group="runs-list", exit_on_error=False)
    def _read_runs(self) -> None:
        try:
            summaries = self._watcher.refresh()
        except Exception:  # an unreadable runs directory: the list stays as it was, the next tick tries again
            summaries = None
        self.app.call_from_thread(self._show_runs, summaries)

    def _show_runs(self, summaries: list[Any] | None) -> None:
        self._reading = False
        if summaries is None:
            return
        table = self.query_one("#train-runs", DataTable)
        chosen = self._key_at_cursor(table)
        self.summaries = summaries
        query = self.query_one("#train-filter", Input).value
        rows = [(str(s.path), run_row(s)) for s in summaries if mentions(query, s.name, s.status)]
        rows = fit_names(rows, table.scrollable_content_region.width)
        shown = [(key, tuple(str(cell) for cell in cells)) for key, cells in rows]
        if shown != self._shown_rows:  # unchanged rows are not redrawn: over SSH every frame costs
            self._shown_rows = shown
            table.clear(columns=True)  # columns too: their widths only ever grow, and names now fit the width
            table.add_columns(*COLUMNS)
            for key, cells in rows:
                table.add_row(*cells, key=key)
            if not summaries:
                table.add_row(Text("no runs yet: press n to start one", style="dim"), *[""] * (len(COLUMNS) - 1))
            elif not rows:
                table.add_row(Text("no run matches the filter: esc clears it", style="dim"), *[""] * (len(COLUMNS) - 1))
            if chosen is not None and chosen in {key for key, _cells in rows}:
                table.move_cursor(row=table.get_row_index(chosen), animate=False)
        view = self.query_one(TrainingView)
        newest = summaries[0].path if summaries else None
        if self._picked is not None and self._picked not in {s.path for s in summaries}:
            self._picked = None  # deleted: back to the newest
        # A run started elsewhere (tui-hf train, a script) is shown as it appears, unless the user chose one.
        if newest is not None and (view.follower is None or (self._picked is None and newest != self._newest)):
            self._follow(newest)
        self._newest = newest
        view.set_overlays([s.path for s in summaries])

    def on_key(self, event: events.Key) -> None:
        self.query_one("#train-filter", FilterInput).take(event)

    @on(Input.Changed, "#train-filter")
    def _filtered(self, event: Input.Changed) -> None:
        event.stop()
        self._shown_rows = None  # drawn again with the filter, at once
        self.refresh_runs()

    @staticmethod
    def _key_at_cursor(table: DataTable[Any]) -> str | None:
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None

    def _follow(self, run_dir: Path) -> None:
        self.query_one(TrainingView).follow(run_dir)

    @on(TrainingView.RunGone)
    def _run_gone(self, event: TrainingView.RunGone) -> None:
        """Read the list again now, not at the next tick: it drops the run, and the view shows the newest."""
        event.stop()
        self.refresh_runs()

    @on(DataTable.RowSelected, "#train-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key and Path(key) in {s.path for s in self.summaries}:
            newest = self.summaries[0].path
            self._picked = None if Path(key) == newest else Path(key)  # the newest row: follow the newest again
            self._follow(Path(key))

    @on(Button.Pressed, "#train-new")
    def action_new_job(self) -> None:
        from tui_hf.ui.training.job_form import NewJobScreen

        model = getattr(self.app.settings, "model", None) or "embedded"
        self.app.push_screen(NewJobScreen(self.runs_dir, model), self._started)

    def _started(self, run_dir: Path | None) -> None:
        if run_dir is None:
            return
        self.notify(
            f"Started {run_dir.name}: it keeps running if you close the app (tui-hf attach {run_dir}).", markup=False
        )
        self._follow(run_dir)
        self.refresh_runs()

    def action_xray(self) -> None:
        self.query_one(TrainingView).action_xray()

    def action_compare(self) -> None:
        """The run under the cursor against the one shown (with the cursor on the shown run: every run)."""
        from tui_hf.ui.training.cockpit import CompareRunsScreen

        view = self.query_one(TrainingView)
        table = self.query_one("#train-runs", DataTable)
        under = self._key_at_cursor(table)
        shown = view.follower.run_dir if view.follower else None
        known = [s.path for s in self.summaries]
        if under is None or shown is None or Path(under) not in known:
            self.notify("Pick a run in the list to compare with the one shown.", markup=False)
            return
        runs = [shown, Path(under)] if Path(under) != shown else known[:5]
        gone = [p for p in runs if not p.is_dir()]
        if gone:  # deleted since the list was read: it drops them at once
            self.notify(
                f"{', '.join(p.name for p in gone)} is gone (deleted or moved): nothing to compare.",
                title="Run gone",
                severity="warning",
                markup=False,
            )
            self.refresh_runs()
            return
        if len(runs) < 2:
            self.notify("Only one run: nothing to compare it with yet.", markup=False)
            return
        self.app.push_screen(CompareRunsScreen(runs))
