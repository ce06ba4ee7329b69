"""The New job dialog: every setting the job supports, the data previewed, the spec.json it will write shown.

Creating a run reads the whole data file (every row is checked before anything starts), so it happens in a
thread; a refusal stays in the dialog with the fields as typed, so nothing the user entered is lost. Warnings
about the data (labels that differ only in case, a class the validation split takes whole...) are shown in
the dialog before anything starts: Start again starts anyway, a change to any field asks again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Input, Label, Static
from textual.worker import get_current_worker

from tui_hf.core.training.families import FAMILIES
from tui_hf.core.training.spec import ENGINES, TRAIN_TASKS
from tui_hf.ui.widgets.choice import Choice
from tui_hf.ui.widgets.markup import escape

# Labels for what the job supports (core/training/spec.py): a task or engine added there without a label here
# fails at import, in every test that opens the dialog, instead of being left out of it.
TASKS = [(FAMILIES[task].title, task) for task in TRAIN_TASKS]
# Column names a task's data usually has: switching task swaps them unless the user typed their own.
COLUMNS = {task: FAMILIES[task].columns for task in TRAIN_TASKS}
ENGINE_LABELS = {"trainer": "Trainer + TrainingArguments", "native": "native PyTorch loop (AdamW + linear)"}
ENGINE_CHOICES = [(ENGINE_LABELS[engine], engine) for engine in ENGINES]


@dataclass
class JobFields:
    """What the dialog holds, as typed: turned into a spec only when it is complete."""

    task: str
    model: str
    train: str
    validation: str
    text_column: str
    label_column: str
    engine: str
    epochs: str
    max_steps: str
    batch_size: str
    learning_rate: str
    max_length: str
    name: str
    nproc: str
    pair_column: str = ""  # text classification of sentence pairs: the second text's column
    precision: str = "auto"
    grad_accum: str = "1"
    grad_checkpointing: bool = False
    hub_config: str = ""  # a hub dataset's configuration (mrpc for glue)
    lora: bool = False  # LoRA adapters with the spec's defaults (r 8, alpha 16, peft's target layers)

    def spec(self) -> Any:
        """The TrainSpec these fields describe. ValueError names the field that is not a number."""
        from tui_hf.core.training.spec import DataSpec, LoraSpec, TrainSpec

        spec = TrainSpec(
            data=DataSpec(
                train=self.train,
                validation=self.validation or None,
                text_column=self.text_column,
                text_pair_column=self.pair_column or None if self.task == "text-classification" else None,
                label_column=self.label_column if self.task != "seq2seq" else "label",
                target_column=self.label_column if self.task == "seq2seq" else None,  # what the decoder writes
                max_length=_number(self.max_length, "max length", int),
                hub_config=self.hub_config or None,
            ),
            model=self.model or "embedded",
            task=self.task,
            engine=self.engine,  # type: ignore[arg-type]
            epochs=_number(self.epochs, "epochs", float),
            max_steps=_number(self.max_steps or "-1", "max steps", int),
            batch_size=_number(self.batch_size, "batch", int),
            learning_rate=_number(self.learning_rate, "learning rate", float),
            precision=self.precision,
            grad_accum=_number(self.grad_accum or "1", "grad accum", int),
            grad_checkpointing=self.grad_checkpointing,
            lora=LoraSpec() if self.lora else None,
        )
        if self.task == "question-answering":  # the text, second text and label rows hold its three columns
            d = spec.data
            d.question_column, d.context_column, d.answers_column = (
                self.text_column,
                self.pair_column or "context",
                self.label_column,
            )
        return spec

    @property
    def processes(self) -> int:
        return _number(self.nproc or "1", "processes", int)


def _number(text: str, field: str, kind: type) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        raise ValueError(
            f"{field}: {text.strip() or 'empty'!r} is not a {'whole ' if kind is int else ''}number"
        ) from None


class NewJobScreen(ModalScreen[Path | None]):
    """Returns the run directory of the job it started, or None when closed."""

    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close"), Binding("ctrl+s", "start", "Start", priority=True)]

    def __init__(self, runs_dir: Path | None, model: str = "embedded") -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self._model = model
        self._timer: Timer | None = None
        self._busy = False
        self._warned: JobFields | None = None  # the fields whose warnings were shown: Start now starts anyway

    def compose(self) -> ComposeResult:
        from tui_hf.data import SENTIMENT_CSV

        with Vertical(id="job-dialog"):
            yield Label("New training job", id="job-title")
            with VerticalScroll(id="job-fields"):
                yield from _row(
                    "Task", Choice(TASKS, value="text-classification", allow_blank=False, id="job-task", compact=True)
                )
                yield from _row(
                    "Model",
                    Input(self._model, id="job-model", compact=True, placeholder="hub id, directory, or embedded"),
                )
                yield from _row(
                    "Train data",
                    Input(
                        str(SENTIMENT_CSV),
                        id="job-train",
                        compact=True,
                        placeholder="CSV, JSON or JSON Lines file, or a hub dataset",
                    ),
                )
                yield from _row(
                    "Validation",
                    Input(
                        "", id="job-validation", compact=True, placeholder="none: 20 % of the train data is held out"
                    ),
                )
                yield from _row(
                    "Hub config",
                    Input("", id="job-config", compact=True, placeholder="for a hub dataset: its configuration (mrpc)"),
                )
                yield from _row("Text column", Input("text", id="job-text", compact=True))
                yield from _row(
                    "Second text",
                    Input(
                        "", id="job-pair", compact=True, placeholder="none; for sentence pairs: its column (sentence2)"
                    ),
                )
                yield from _row("Label column", Input("label", id="job-label", compact=True))
                yield from _row(
                    "Engine", Choice(ENGINE_CHOICES, value="trainer", allow_blank=False, id="job-engine", compact=True)
                )
                with Horizontal(classes="job-numbers"):
                    for label, wid, value, kind, tip in (
                        ("Epochs", "job-epochs", "3", "number", "passes over the train data"),
                        (
                            "Max steps",
                            "job-max-steps",
                            "",
                            "integer",
                            "stop after this many steps (empty: every epoch)",
                        ),
                        ("Batch", "job-batch", "16", "integer", "examples per step and process"),
                        ("LR", "job-lr", "5e-5", "number", "peak learning rate"),
                        ("Max len", "job-max-length", "128", "integer", "tokens per example, longer is cut"),
                    ):
                        with Vertical():
                            yield Label(label, classes="job-label")
                            yield Input(
                                value,
                                id=wid,
                                type=kind,
                                compact=True,
                                tooltip=tip,
                                valid_empty=True,  # type: ignore[arg-type]
                                placeholder="all" if wid == "job-max-steps" else "",
                            )
                yield from _row(
                    "Run name", Input("", id="job-name", compact=True, placeholder="automatic: date-model-engine")
                )
                yield from _row(
                    "Processes",
                    Input(
                        "1",
                        id="job-nproc",
                        type="integer",
                        compact=True,
                        tooltip="more than 1 starts torchrun (one process per GPU)",
                    ),
                )
                yield Label("Data", classes="job-section")
                yield Static("", id="job-data")
                yield Static("", id="job-warnings")
                yield Label("Memory", classes="job-section")
                yield from _row(
                    "Precision",
                    Choice(
                        [
                            ("auto (bf16 on a GPU that has it)", "auto"),
                            ("fp32", "fp32"),
                            ("bf16", "bf16"),
                            ("fp16", "fp16"),
                        ],
                        value="auto",
                        allow_blank=False,
                        id="job-precision",
                        compact=True,
                    ),
                )
                yield from _row(
                    "Grad accum",
                    Input(
                        "1",
                        id="job-grad-accum",
                        type="integer",
                        compact=True,
                        tooltip="micro-batches per optimizer step: the effective batch is Batch × this",
                    ),
                )
                yield from _row(
                    "Checkpointing",
                    Checkbox("recompute activations (less memory, slower)", id="job-grad-checkpointing", compact=True),
                )
                yield from _row(
                    "LoRA",
                    Checkbox(
                        "train adapters only (r 8, alpha 16; the weights stay frozen)", id="job-lora", compact=True
                    ),
                )
                yield Static("", id="job-memory")
                yield Label("spec.json", classes="job-section")
                yield Static("", id="job-spec")
            yield Static("", id="job-error")
            with Horizontal(id="job-buttons"):
                yield Button("Start  ctrl+s", id="job-start", variant="primary", compact=True)
                yield Button("Cancel  esc", id="job-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#job-model", Input).focus()
        self._refresh()

    def fields(self) -> JobFields:
        value = lambda wid: self.query_one(f"#{wid}", Input).value.strip()  # noqa: E731
        return JobFields(
            task=str(self.query_one("#job-task", Choice).value),
            model=value("job-model"),
            train=value("job-train"),
            validation=value("job-validation"),
            text_column=value("job-text"),
            label_column=value("job-label"),
            pair_column=value("job-pair"),
            hub_config=value("job-config"),
            engine=str(self.query_one("#job-engine", Choice).value),
            epochs=value("job-epochs"),
            max_steps=value("job-max-steps"),
            batch_size=value("job-batch"),
            learning_rate=value("job-lr"),
            max_length=value("job-max-length"),
            name=value("job-name"),
            nproc=value("job-nproc"),
            precision=str(self.query_one("#job-precision", Choice).value),
            grad_accum=value("job-grad-accum"),
            grad_checkpointing=self.query_one("#job-grad-checkpointing", Checkbox).value,
            lora=self.query_one("#job-lora", Checkbox).value,
        )

    @on(Choice.Changed, "#job-task")
    def _task_changed(self, event: Choice.Changed) -> None:
        text_in, label_in = self.query_one("#job-text", Input), self.query_one("#job-label", Input)
        typical = {c for pair in COLUMNS.values() for c in pair}
        text, label = COLUMNS.get(str(event.value), ("text", "label"))
        if text_in.value in typical:
            text_in.value = text
        if label_in.value in typical:
            label_in.value = label
        label_in.disabled = not label  # a language model learns the text itself; seq2seq: the target column
        qa = event.value == "question-answering"  # question, context, answers: in the text, second, label rows
        pair_in = self.query_one("#job-pair", Input)
        pair_in.disabled = event.value != "text-classification" and not qa  # pairs are classified
        if qa and not pair_in.value:
            pair_in.value = "context"
        elif not qa and pair_in.value == "context":
            pair_in.value = ""
        self._changed()

    @on(Input.Changed)
    @on(Choice.Changed, "#job-engine")
    @on(Choice.Changed, "#job-precision")
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.3, self._refresh)

    def _refresh(self) -> None:
        fields = self.fields()
        if self._warned is not None and fields != self._warned:
            self._warned = None  # the warnings were about other settings: the next Start checks again
            self.query_one("#job-warnings", Static).update("")
            self.query_one("#job-error", Static).update("")
            self.query_one("#job-start", Button).label = "Start  ctrl+s"
        try:
            spec = fields.spec()
            fields.processes  # noqa: B018 (checked for its ValueError)
        except ValueError as exc:
            self.query_one("#job-spec", Static).update(f"[red]{escape(str(exc))}[/red]")
        else:
            problems = spec.problems()
            text = Text(spec.to_json())  # Text, not markup: the indentation and the paths stay as they are
            if problems:
                text.append("\n" + "; ".join(problems), style="red")
            self.query_one("#job-spec", Static).update(text)
            if not problems:
                self._memory(spec, fields.processes)
        self._preview(fields)

    @work(thread=True, exclusive=True, group="job-preview", exit_on_error=False)
    def _preview(self, fields: JobFields) -> None:
        text = data_preview(fields)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one("#job-data", Static).update, text)

    @work(thread=True, exclusive=True, group="job-memory", exit_on_error=False)
    def _memory(self, spec: Any, nproc: int) -> None:
        text = memory_preview(spec, nproc)  # reads the model's config: off the UI thread
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one("#job-memory", Static).update, text)

    @on(Button.Pressed, "#job-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#job-start")
    def action_start(self) -> None:
        if self._busy:
            return
        fields = self.fields()
        try:
            spec, nproc = fields.spec(), fields.processes
        except ValueError as exc:
            self._fail(str(exc))
            return
        self._busy = True
        self.query_one("#job-start", Button).disabled = True
        self.query_one("#job-error", Static).update("[cyan]checking the data and the model…[/cyan]")
        self._create(fields, spec, nproc, confirmed=fields == self._warned)

    @work(thread=True, group="job-create", exit_on_error=False)
    def _create(self, fields: JobFields, spec: Any, nproc: int, confirmed: bool) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.job import create_run, launch
        from tui_hf.core.training.preflight import check

        warnings: list[str] = []
        try:
            if not confirmed:
                # A second pass over the data when there is nothing to warn about: the price of showing the
                # warnings before a run exists rather than after it started.
                shown = check(spec, nproc).warnings
                if shown:
                    self.app.call_from_thread(self._warn, fields, shown)
                    return
            run_dir = create_run(spec, self.runs_dir, fields.name or None, nproc=nproc, warn=warnings.append)
            launch(run_dir, nproc)
        except TuiHfError as exc:
            self.app.call_from_thread(self._fail, str(exc))
            return
        for w in warnings if not confirmed else []:  # (confirmed: the user has read them in the dialog)
            self.app.call_from_thread(self.app.notify, w, title="Training", severity="warning", markup=False)
        self.app.call_from_thread(self.dismiss, run_dir)

    def _warn(self, fields: JobFields, warnings: list[str]) -> None:
        self._busy = False
        self._warned = fields
        start = self.query_one("#job-start", Button)
        start.disabled = False
        start.label = "Start anyway  ctrl+s"
        box = self.query_one("#job-warnings", Static)
        box.update("\n".join(f"[yellow]⚠ {escape(w)}[/yellow]" for w in warnings))
        box.scroll_visible()
        many = f"{len(warnings)} warnings" if len(warnings) > 1 else "a warning"
        self.query_one("#job-error", Static).update(
            f"[yellow]{many} about the data (under Data): Start again to train anyway, or change a setting[/yellow]"
        )

    def _fail(self, message: str) -> None:
        self._busy = False
        self._warned = None
        start = self.query_one("#job-start", Button)
        start.disabled = False
        start.label = "Start  ctrl+s"
        self.query_one("#job-error", Static).update(f"[red]{escape(message)}[/red]")
        self.notify(message, title="Cannot start training", severity="error", timeout=10, markup=False)


def _row(label: str, control: Any) -> ComposeResult:
    with Horizontal(classes="job-row"):
        yield Label(label, classes="job-label")
        yield control


def memory_preview(spec: Any, nproc: int = 1) -> str:
    """The memory plan `tui-hf train --dry-run` prints, for the dialog (the head sized for the model's labels:
    the data's are counted when the run is created)."""
    from tui_hf.core.errors import TuiHfError
    from tui_hf.core.training.plan import memory_estimate

    try:
        e = memory_estimate(spec)
    except (TuiHfError, OSError, ValueError) as exc:
        return f"[dim]no estimate: {escape(str(exc))}[/dim]"
    share = e.trainable / e.params if e.params else 0.0
    lines = [
        f"parameters {e.params:,} ({e.trainable:,} trainable, {share:.1%}) · effective batch "
        f"{spec.batch_size * spec.grad_accum * nproc}",
        escape(f"per device: {e.summary()}"),
    ]
    if e.warning():
        lines.append(f"[yellow]⚠ {escape(e.warning() or '')}[/yellow]")
    return "\n".join(lines)


def saved_preview(path: str) -> str:
    """A directory saved with save_to_disk: its splits, rows and columns (every row is checked at Start)."""
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.datafile import load_saved

    try:
        splits = load_saved(path)
    except SpecError as exc:
        return f"[red]{escape(str(exc))}[/red]"
    lines = [f"a saved dataset · splits {escape(', '.join(f'{k} ({len(v)} rows)' for k, v in splits.items()))}"]
    first = next(iter(splits.values()))
    lines.append(f"columns {escape(', '.join(first.column_names))}")
    lines += [f"[dim]• {escape(str(row)[:110])}[/dim]" for row in first.select(range(min(3, len(first))))]
    return "\n".join(lines)


def data_preview(fields: JobFields) -> str:
    """Columns, size, label counts and the first rows of the train file (the first rows only: the whole file
    is checked when the run is created)."""
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.data import is_file_ref, peek
    from tui_hf.core.training.datafile import is_saved_dataset

    path = fields.train
    if not path:
        return "[red]name a train data file[/red]"
    if is_saved_dataset(path):
        return saved_preview(path)
    if not is_file_ref(path):
        config = f" (configuration {fields.hub_config})" if fields.hub_config else ""
        return f"[dim]{escape(path + config)}: a hub dataset, loaded when the job starts[/dim]"
    try:
        p = peek(path)
    except SpecError as exc:
        return f"[red]{escape(str(exc))}[/red]"
    # A second column: the label, the target a seq2seq model writes, or a question's answers.
    labelled = FAMILIES[fields.task].labelled or fields.task == "seq2seq" if fields.task in FAMILIES else True
    qa = fields.task == "question-answering"
    pair = fields.pair_column if fields.task == "text-classification" or qa else ""
    needed = [fields.text_column] + ([pair] if pair else []) + ([fields.label_column] if labelled or qa else [])
    lines = [f"{len(p.rows)}{'+' if p.more else ''} rows · columns {escape(', '.join(p.columns))}"]
    lines += [f"[red]no column {escape(repr(c))}[/red]" for c in needed if c not in p.columns]
    label = fields.label_column
    if fields.task == "text-classification" and label in p.columns:
        counts = Counter(str(r[label]) for r in p.rows)
        lines.append("labels " + escape(", ".join(f"{k} ({v})" for k, v in sorted(counts.items())[:8])))
    if fields.text_column in p.columns:
        for row in p.rows[:3]:
            gold = f" → {row.get(label)}" if labelled and label in p.columns else ""
            second = f" ‖ {row.get(pair)}" if pair and pair in p.columns else ""
            lines.append(
                f"[dim]• {escape(str(row[fields.text_column])[:70])}{escape(second[:70])}{escape(str(gold)[:40])}[/dim]"
            )
    return "\n".join(lines)
