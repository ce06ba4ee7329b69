"""The tui-hf application: layout, key bindings, and the workers that call into tui_hf.core.

Nothing here imports torch or transformers at module level: the first frame paints while a worker
thread imports them and loads the model.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import (
    Footer,
    Header,
    Input,
    Label,
    OptionList,
    RichLog,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.widgets.text_area import Selection
from textual.worker import get_current_worker

from tui_hf.core.tasks.registry import TASKS, TaskSpec, get_task
from tui_hf.ui.messages import (
    CompareFinished,
    ExplainFinished,
    LibraryLogged,
    LoadFailed,
    LoadProgressed,
    ModelLoaded,
    Report,
    RunFailed,
    RunFinished,
    RunProgressed,
    TokenizerLoaded,
    TokensComputed,
)
from tui_hf.ui.panes.compare import ComparePane
from tui_hf.ui.panes.input import InputPane
from tui_hf.ui.panes.output import HoodPane, OutputPane
from tui_hf.ui.panes.status import StatusBar
from tui_hf.ui.panes.tasks import TaskList
from tui_hf.ui.panes.tokens import TokensPane, TokenTable, TokenTextView, wrap
from tui_hf.ui.panes.training import TrainingPane, TrainingView
from tui_hf.ui.screens import ConfirmScreen, HelpScreen, ModelPicker, SaveScreen

DEFAULT_TEXT = "Hugging Face transformers, tokenized live as you type!\nI've been waiting for a course like this."
BENCH_MARK_ENV = "TUI_HF_BENCH_MARKS"
LONG_LINE = 10_000  # characters on one input line beyond which the input box stops soft-wrapping  # bench/startup.py: a file to append "painted"/"ready" times to


@dataclass
class AppSettings:
    task: str = "feature-extraction"
    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    offline: bool = False
    trust_remote_code: bool = False
    allow_pickle: bool = False
    text: str = DEFAULT_TEXT
    log_path: Path | None = None
    runs_dir: Path | None = None  # default: ./runs or $TUI_HF_RUNS
    debounce: float = 0.06  # seconds of quiet typing before the breakdown recomputes


class TuiHfApp(App[int]):
    CSS_PATH = "app.tcss"
    # Small terminals (80x24 over SSH) get a narrower sidebar and a shorter input box.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    TITLE = "tui-hf"
    SUB_TITLE = "Hugging Face transformers in the terminal"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run", priority=True),
        Binding("ctrl+g", "cancel", "Cancel run", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+o", "pick_model", "Models", priority=True),
        Binding("ctrl+s", "save_model", "Save model", priority=True),
        Binding("ctrl+t", "focus_tasks", "Tasks", priority=True),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", priority=True),
        Binding("f2", "tab('tokens')", "Tokens", priority=True),
        Binding("f3", "tab('output')", "Output", priority=True),
        Binding("f4", "tab('hood')", "Under the hood", priority=True),
        Binding("f5", "tab('compare')", "Compare", priority=True),
        Binding("f6", "tab('training')", "Training", priority=True),
        Binding("f7", "tab('log')", "Log", priority=True),
        Binding("f8", "insert_mask", "Insert mask", priority=True),
        Binding("f9", "toggle_theme", "Theme", priority=True),
    ]

    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.task_spec: TaskSpec = get_task(self.settings.task)
        # None until resolved: with no --model, each task gets its default (see core.models.default_reference).
        self.model_reference: str | None = self.settings.model
        self.model_explicit = self.settings.model is not None
        self.tokenizer: Any = None
        self.tokenizer_reference: str | None = None
        self.loaded: Any = None
        self.breakdown: Any = None
        self.rows: list[int] = []  # TextArea row of each input of the breakdown
        self._generation = 0
        self._tok_timer: Timer | None = None
        self._cancel: threading.Event | None = None
        self._log_handler: Any = None
        self.last_load_error: str | None = None
        self.chat_history: list[dict[str, str]] = []
        self._pickle_ok: set[str] = set()  # references the user agreed to load from pickle this session

    async def _on_message(self, message: Message) -> None:
        if isinstance(message, Report) and not self.screen_stack:
            return  # a worker finished while the app was closing: nothing left to show it on
        await super()._on_message(message)

    @property
    def main(self) -> Any:
        """The main screen: workers report back while a modal (picker, help, confirm) is on top of it."""
        return self.screen_stack[0]

    # -- layout ---------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Label("Tasks  [dim]ctrl+t[/dim]", classes="section")
                yield TaskList(self.task_spec.name, id="tasks")
                yield Label("Model  [dim]ctrl+o picks[/dim]", classes="section")
                yield Input(self.model_reference or "", placeholder="default for the task | hub id | ./dir",
                            id="model")
                yield Static("", id="model-card")
            with Vertical(id="main"):
                yield InputPane(self.task_spec, self.settings.text, id="input")
                with TabbedContent(initial="tokens", id="tabs"):
                    with TabPane("Tokens", id="tokens"):
                        yield TokensPane()
                    with TabPane("Output", id="output"):
                        yield OutputPane()
                    with TabPane("Under the hood", id="hood"):
                        yield HoodPane()
                    with TabPane("Compare", id="compare"):
                        yield ComparePane()
                    with TabPane("Training", id="training"):
                        yield TrainingPane(self.settings.runs_dir)
                    with TabPane("Log", id="log"):
                        yield RichLog(id="log-view", wrap=True, markup=False, max_lines=5000)
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        from tui_hf.core.quiet import attach_sink, route_library_logs

        path = route_library_logs(self.settings.log_path)
        self._log_handler = attach_sink(lambda text, level: self.post_message(LibraryLogged(text, level)))
        self.main.query_one("#log-view", RichLog).write(f"library logs also go to {path}")
        self.main.query_one(StatusBar).progress("starting", 0.0)
        self.main.query_one(OutputPane).set_chat(self.task_spec.name == "conversational")
        area = self.main.query_one("#input-text", TextArea)
        area.focus()
        if any(len(line) > LONG_LINE for line in self.settings.text.split("\n")):
            area.soft_wrap = False
        self.call_after_refresh(self._bench_mark, "painted")
        self.load_model(self.model_reference, self.task_spec)

    def on_unmount(self) -> None:
        from tui_hf.core.quiet import detach_sink

        if self._log_handler is not None:
            detach_sink(self._log_handler)
        if self._cancel is not None:
            self._cancel.set()

    def _bench_mark(self, what: str) -> None:
        path = os.environ.get(BENCH_MARK_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"{what} {time.time():.6f}\n")
            if what == "ready":
                self.exit(0)

    # -- model loading --------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="load model")
    def load_model(self, reference: str | None, task: TaskSpec) -> None:
        from tui_hf.core.catalog import remember
        from tui_hf.core.errors import DeviceError, ModelLoadError, PickleOnlyError
        from tui_hf.core.hub import default_reference, parse_ref, resolve
        from tui_hf.core.models import load, load_tokenizer

        worker = get_current_worker()
        started = time.monotonic()

        def progress(stage: str, fraction: float) -> None:
            if not worker.is_cancelled:
                self.post_message(LoadProgressed(stage, fraction))

        try:
            if reference is None:
                progress("choosing the task's default model", 0.01)
                reference = default_reference(task, self.settings.offline)
            progress(f"resolving {reference}", 0.02)
            resolved = resolve(parse_ref(reference), offline=self.settings.offline)
            tokenizer = self.tokenizer if self.tokenizer_reference == reference else None
            if tokenizer is None:
                progress("importing transformers", 0.1)
                tokenizer = load_tokenizer(resolved, self.settings.trust_remote_code)
                if worker.is_cancelled:
                    return
                self.post_message(TokenizerLoaded(tokenizer, resolved.ref.title, reference))
            loaded = load(resolved, task, self.settings.device, self.settings.dtype, tokenizer=tokenizer,
                          trust_remote_code=self.settings.trust_remote_code,
                          allow_pickle=self.settings.allow_pickle or reference in self._pickle_ok,
                          progress=progress)
            remember(reference)
        except PickleOnlyError as exc:
            self.post_message(LoadFailed(str(reference), str(exc), time.monotonic() - started, pickle=True))
            return
        except (ModelLoadError, DeviceError) as exc:
            self.post_message(LoadFailed(str(reference), str(exc), time.monotonic() - started))
            return
        except Exception as exc:  # anything else still reaches the user as a message, not a crash
            self.post_message(LoadFailed(str(reference), f"{type(exc).__name__}: {exc}", time.monotonic() - started))
            return
        if not worker.is_cancelled:
            self.post_message(ModelLoaded(loaded))

    def on_load_progressed(self, message: LoadProgressed) -> None:
        self.main.query_one(StatusBar).progress(message.stage, message.fraction)

    def on_tokenizer_loaded(self, message: TokenizerLoaded) -> None:
        self.tokenizer, self.tokenizer_reference = message.tokenizer, message.reference
        if not self.model_explicit:
            self.main.query_one("#model", Input).value = message.reference
        self.request_tokens()

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.loaded = message.loaded
        info = self.loaded.info
        self.last_load_error = None
        status = self.main.query_one(StatusBar)
        status.model(info)
        status.progress("ready", 1.0)
        labels = ", ".join(list(info.labels.values())[:6])
        card = (f"[b]{escape(info.title)}[/b]\n{info.architecture}\n{info.parameters_text} params · {info.dtype}\n"
                f"vocab {info.vocab_size:,} · max pos {info.max_positions or '?'}\n"
                f"tokenizer {info.tokenizer_class}" + (f"\nlabels {escape(labels)}" if labels else ""))
        if self.settings.trust_remote_code:
            card += "\n[red]remote code allowed (--trust-remote-code)[/red]"
        if info.warnings:
            card += "\n[yellow]⚠ head not trained[/yellow]" if info.newly_initialized else "\n[yellow]⚠ see log[/yellow]"
            for warning in info.warnings:
                self.notify(warning, severity="warning", timeout=8)
        self.main.query_one("#model-card", Static).update(card)
        self._bench_mark("ready")

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.pickle and message.reference not in self._pickle_ok:
            def answer(yes: bool | None) -> None:
                if yes:
                    self._pickle_ok.add(message.reference)
                    self.load_model(message.reference, self.task_spec)
                else:
                    self._show_load_failure(message)

            self.push_screen(ConfirmScreen(
                f"[b]{escape(message.reference)}[/b] has only a pickle checkpoint (pytorch_model.bin).\n\n"
                "Unpickling can run arbitrary code. Load it only if you trust where it came from.\n\nLoad it?"),
                answer)
            return
        self._show_load_failure(message)

    def _show_load_failure(self, message: LoadFailed) -> None:
        self.last_load_error = message.error
        self.main.query_one(StatusBar).progress("load failed", 1.0)
        self.main.query_one(StatusBar).state("[red]load failed[/red]")
        self.main.query_one(OutputPane).show_message(f"[red b]Could not load {escape(message.reference)}[/red b]\n\n"
                                                f"{escape(message.error)}")
        self.notify(message.error, title="Model not loaded", severity="error", timeout=12)
        self.main.query_one("#log-view", RichLog).write(f"load failed after {message.seconds:.1f}s: {message.error}")

    @on(Input.Submitted, "#model")
    def model_submitted(self, event: Input.Submitted) -> None:
        reference = event.value.strip() or None
        self.model_reference = reference
        self.model_explicit = reference is not None
        self.loaded = None
        self.load_model(reference, self.task_spec)

    @on(OptionList.OptionSelected, "#tasks")
    async def task_selected(self, event: OptionList.OptionSelected) -> None:
        spec = get_task(event.option.id or self.task_spec.name)
        if spec.name == self.task_spec.name:
            return
        self.task_spec = spec
        await self.main.query_one(InputPane).set_task(spec)
        self.main.query_one(OutputPane).set_chat(spec.name == "conversational")
        self.main.query_one(OutputPane).show_message(f"[b]{spec.title}[/b]: {spec.summary}\n\nRun it with ctrl+r.")
        self.main.query_one(HoodPane).show_message("Run the task to see the explicit PyTorch path.")
        if self.loaded is None or self.loaded.info.task != spec.name or not self.model_explicit:
            self.load_model(self.model_reference if self.model_explicit else None, spec)
        self.request_tokens()

    # -- tokenizer breakdown --------------------------------------------------------------------------

    @on(TextArea.Changed, "#input-text")
    def input_changed(self, event: TextArea.Changed) -> None:
        area = event.text_area
        if area.soft_wrap and len(area.document.get_line(area.cursor_location[0])) > LONG_LINE:
            # TextArea re-wraps a whole line for every visible row it draws: past ~10k characters on one
            # line that costs a frame per key, so very long lines scroll sideways instead.
            area.soft_wrap = False
            self.notify("Very long line: soft wrap is off so typing stays fast.", timeout=4)
        if self._tok_timer is not None:
            self._tok_timer.stop()
        self._tok_timer = self.set_timer(self.settings.debounce, self.request_tokens)

    @on(TokensPane.SettingsChanged)
    def tokens_settings_changed(self) -> None:
        self.request_tokens()

    def request_tokens(self) -> None:
        if self.tokenizer is None:
            return
        pane = self.main.query_one(InputPane)
        self._generation += 1
        self.compute_tokens(self.tokenizer, pane.texts(), pane.line_map(), self.main.query_one(TokensPane).settings(),
                            self.main.query_one(TokensPane).text_width(), self._generation)

    @work(thread=True, exclusive=True, group="tokens", exit_on_error=False, description="tokenize")
    def compute_tokens(self, tokenizer: Any, texts: list[str], rows: list[int], settings: Any, width: int,
                       generation: int) -> None:
        from tui_hf.core.tokens import breakdown

        if not texts:
            self.post_message(TokensComputed(None, [], [], generation))
            return
        try:
            bd = breakdown(tokenizer, texts, settings)
        except Exception as exc:  # e.g. max_length larger than the model takes
            self.call_from_thread(self.notify, f"tokenizer: {exc}", severity="error")
            return
        lines = wrap(bd, width)
        if not get_current_worker().is_cancelled:
            self.post_message(TokensComputed(bd, lines, rows, generation))

    def on_tokens_computed(self, message: TokensComputed) -> None:
        if message.generation != self._generation:
            return  # a newer keystroke is already being tokenized
        self.breakdown, self.rows = message.breakdown, message.rows
        self.main.query_one(TokensPane).show(message.breakdown, message.lines)

    @on(TokenTable.CursorMoved)
    def token_selected(self, event: TokenTable.CursorMoved) -> None:
        self.main.query_one("#tok-text", TokenTextView).highlight(event.seq, event.index)
        bd = self.breakdown
        area = self.main.query_one("#input-text", TextArea)
        if bd is None or area.has_focus or event.seq >= len(self.rows):
            return
        seq = bd.sequences[event.seq]
        if seq.offsets is None or seq.special[event.index]:
            return
        start, end = seq.offsets[event.index]
        area.selection = Selection(self._location(event.seq, start), self._location(event.seq, end))

    def _location(self, seq: int, char: int) -> tuple[int, int]:
        """TextArea (row, column) of character `char` of input `seq`."""
        row = self.rows[seq]
        if self.task_spec.batch:
            return (row, char)
        lines = self.main.query_one("#input-text", TextArea).text.split("\n")
        for r, line in enumerate(lines):
            if char <= len(line):
                return (r, char)
            char -= len(line) + 1
        return (len(lines) - 1, len(lines[-1]))

    @on(TextArea.SelectionChanged, "#input-text")
    def text_cursor_moved(self, event: TextArea.SelectionChanged) -> None:
        bd = self.breakdown
        if bd is None or not event.text_area.has_focus:
            return
        row, col = event.selection.end
        if self.task_spec.batch:
            if row not in self.rows:
                return
            seq_no, char = self.rows.index(row), col
        else:
            lines = event.text_area.text.split("\n")
            seq_no, char = 0, sum(len(line) + 1 for line in lines[:row]) + col
        if seq_no >= len(bd.sequences):
            return
        seq = bd.sequences[seq_no]
        index = seq.token_at(char)
        if index is None and char > 0:
            index = seq.token_at(char - 1)  # the cursor just after a word belongs to that word
        if index is None:
            return
        self.main.query_one(TokenTable).move_to(seq_no, index)
        self.main.query_one("#tok-text", TokenTextView).highlight(seq_no, index)

    # -- tokenizer comparison -------------------------------------------------------------------------

    @on(ComparePane.CompareRequested)
    def compare_requested(self, event: ComparePane.CompareRequested) -> None:
        if self.tokenizer is None:
            self.notify("The current tokenizer is still loading.", severity="warning")
            return
        pane = self.main.query_one(ComparePane)
        pane.query_one("#compare-summary", Static).update(f"loading {escape(event.reference)}…")
        self.compare_tokenizers(event.reference, self.main.query_one(InputPane).texts(),
                                self.main.query_one(TokensPane).settings(), pane.view_width())

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="compare tokenizers")
    def compare_tokenizers(self, reference: str, texts: list[str], settings: Any, width: int) -> None:
        from tui_hf.core.errors import ModelLoadError
        from tui_hf.core.hub import parse_ref, resolve
        from tui_hf.core.models import load_tokenizer
        from tui_hf.core.tokens import compare

        try:
            other = load_tokenizer(resolve(parse_ref(reference), offline=self.settings.offline),
                                   self.settings.trust_remote_code)
            comparison = compare(self.tokenizer, other, texts or [""], settings)
        except ModelLoadError as exc:
            self.call_from_thread(self.main.query_one(ComparePane).show_error, str(exc))
            return
        self.post_message(CompareFinished(comparison, wrap(comparison.a, width), wrap(comparison.b, width)))

    def on_compare_finished(self, message: CompareFinished) -> None:
        self.main.query_one(ComparePane).show(message.comparison, message.lines_a, message.lines_b)

    # -- running tasks --------------------------------------------------------------------------------

    @on(InputPane.RunRequested)
    def action_run(self) -> None:
        if self.loaded is None:
            self.notify(self.last_load_error or "The model is still loading.",
                        severity="error" if self.last_load_error else "warning")
            return
        pane = self.main.query_one(InputPane)
        try:
            options = pane.options()
        except ValueError as exc:
            self.notify(str(exc), title="Check the task's settings", severity="error")
            return
        texts = pane.texts()
        if not texts:
            self.notify("Type some input first.", severity="warning")
            return
        if self.task_spec.name == "conversational":
            options["history"] = list(self.chat_history)
        if self._cancel is not None:
            self._cancel.set()
        self._cancel = threading.Event()
        pane.set_running(True)
        self.main.query_one(StatusBar).state(f"[yellow]running {self.task_spec.name}…[/yellow]")
        self.main.query_one("#tabs", TabbedContent).active = "output"
        self.run_task(self.loaded, self.task_spec, texts, options, self._cancel)

    @on(InputPane.CancelRequested)
    def action_cancel(self) -> None:
        if self._cancel is not None and not self._cancel.is_set():
            self._cancel.set()
            self.workers.cancel_group(self, "run")
            self.main.query_one(InputPane).set_running(False)
            self.main.query_one(StatusBar).state("[yellow]cancelled[/yellow]")

    @work(thread=True, exclusive=True, group="run", exit_on_error=False, description="run task")
    def run_task(self, loaded: Any, spec: TaskSpec, texts: list[str], options: dict[str, Any],
                 cancel: threading.Event) -> None:
        from tui_hf.core.errors import Cancelled, TaskInputError

        started = time.perf_counter()

        def emit(partial: Any) -> None:
            if not cancel.is_set():
                self.post_message(RunProgressed(spec.name, partial))

        try:
            result = spec.load_runner()(loaded, texts, options, cancel, emit, explain=True)
            if cancel.is_set():
                return
            self.post_message(RunFinished(spec.name, result, time.perf_counter() - started))
            self.post_message(ExplainFinished(getattr(result, "explanation", None)))
        except Cancelled:
            return
        except TaskInputError as exc:
            self.post_message(RunFailed(spec.name, str(exc)))
        except Exception as exc:
            self.post_message(RunFailed(spec.name, f"{type(exc).__name__}: {exc}"))

    def on_run_progressed(self, message: RunProgressed) -> None:
        if self._cancel is not None and not self._cancel.is_set():
            self.main.query_one(OutputPane).show_result(message.partial, f"[b]{message.task}[/b] · [yellow]streaming…[/yellow]")

    def on_run_finished(self, message: RunFinished) -> None:
        self.main.query_one(InputPane).set_running(False)
        if message.task == "conversational":
            self.chat_history = message.result.history
            self.main.query_one("#input-text", TextArea).text = ""
        self.main.query_one(StatusBar).state(f"[green]{message.task} done in {message.seconds * 1000:.0f} ms[/green]")
        info = self.loaded.info if self.loaded is not None else None
        meta = f"[b]{message.task}[/b] · {escape(info.title) if info else ''} · {message.seconds * 1000:.0f} ms"
        self.main.query_one(OutputPane).show_result(message.result, meta)

    def on_run_failed(self, message: RunFailed) -> None:
        self.main.query_one(InputPane).set_running(False)
        self.main.query_one(StatusBar).state("[red]run failed[/red]")
        self.main.query_one(OutputPane).show_message(f"[red b]{message.task} failed[/red b]\n\n{escape(message.error)}")
        self.notify(message.error, title=f"{message.task} failed", severity="error", timeout=10)

    def on_explain_finished(self, message: ExplainFinished) -> None:
        if message.explanation is None:
            self.main.query_one(HoodPane).show_message(
                f"{escape(self.task_spec.name)} has no explicit PyTorch path to show yet.")
        else:
            self.main.query_one(HoodPane).show(message.explanation)

    # -- misc -----------------------------------------------------------------------------------------

    def on_library_logged(self, message: LibraryLogged) -> None:
        self.main.query_one("#log-view", RichLog).write(message.text)

    @on(TrainingView.TryModel)
    async def try_trained_model(self, event: TrainingView.TryModel) -> None:
        """Load a finetuned run's final model into the inference panes, on the task it was trained for."""
        spec = get_task(event.task)
        self.model_reference = str(event.path)
        self.model_explicit = True
        self.main.query_one("#model", Input).value = self.model_reference
        self.task_spec = spec
        tasks = self.main.query_one("#tasks", TaskList)
        with tasks.prevent(OptionList.OptionSelected):
            tasks.highlighted = list(TASKS).index(spec.name)
        await self.main.query_one(InputPane).set_task(spec)
        self.loaded = None
        self.tokenizer_reference = None
        self.load_model(self.model_reference, spec)
        self.main.query_one("#tabs", TabbedContent).active = "output"
        self.notify(f"Loading the finetuned model from {event.path}")

    @on(OutputPane.ChatReset)
    def reset_chat(self) -> None:
        self.chat_history = []
        self.main.query_one(OutputPane).show_message("New chat: type a message and press ctrl+r.")

    def action_insert_mask(self) -> None:
        mask = getattr(self.tokenizer, "mask_token", None)
        if mask is None:
            self.notify("This tokenizer has no mask token.", severity="warning")
            return
        area = self.main.query_one("#input-text", TextArea)
        area.insert(mask)
        area.focus()

    @on(TabbedContent.TabActivated, "#tabs")
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Training and the log need the height; the input belongs to the inference tabs.
        self.main.query_one(InputPane).display = event.pane.id not in ("training", "log")

    def action_tab(self, tab: str) -> None:
        self.main.query_one("#tabs", TabbedContent).active = tab

    def action_pick_model(self) -> None:
        def chosen(reference: str | None) -> None:
            if reference:
                self.main.query_one("#model", Input).value = reference
                self.model_reference = reference
                self.model_explicit = True
                self.loaded = None
                self.load_model(reference, self.task_spec)

        self.push_screen(ModelPicker(self.task_spec.name, self.settings.runs_dir, self.settings.offline), chosen)

    def action_save_model(self) -> None:
        if self.loaded is None:
            self.notify("No model is loaded yet.", severity="warning")
            return
        name = Path(self.loaded.resolved.source).name or "model"

        def chosen(answer: tuple[str, bool] | None) -> None:
            if answer:
                self.save_model(self.loaded, *answer)

        self.push_screen(SaveScreen(f"./saved/{name}-{self.task_spec.name}"), chosen)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False, description="save model")
    def save_model(self, loaded: Any, directory: str, overwrite: bool) -> None:
        from tui_hf.core.errors import ModelLoadError
        from tui_hf.core.models import save

        try:
            out = save(loaded, directory, overwrite)
        except (ModelLoadError, OSError) as exc:
            self.call_from_thread(self.notify, str(exc), title="Not saved", severity="error", timeout=10)
            return
        self.call_from_thread(self.notify, f"Saved model and tokenizer to {out}; load it with --model {out}")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def get_system_commands(self, screen: Any) -> Any:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run task", "Run the selected task on the input (ctrl+r)", self.action_run)
        yield SystemCommand("Cancel run", "Stop the running task (ctrl+g)", self.action_cancel)
        yield SystemCommand("Pick model", "Embedded, finetuned runs, cache, recent, Hub (ctrl+o)",
                            self.action_pick_model)
        yield SystemCommand("Save model", "Save the loaded model and tokenizer (ctrl+s)", self.action_save_model)
        yield SystemCommand("Help", "Keys, panes and tasks (F1)", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "F9", self.action_toggle_theme)
        yield SystemCommand("Insert mask token", "For fill-mask (F8)", self.action_insert_mask)
        yield SystemCommand("New chat", "Forget the conversation", self.reset_chat)
        for tab, title in (("tokens", "Tokens"), ("output", "Output"), ("hood", "Under the hood"),
                           ("compare", "Compare tokenizers"), ("training", "Training"), ("log", "Log")):
            yield SystemCommand(f"Show {title}", f"Switch to the {title} tab", lambda t=tab: self.action_tab(t))
        for spec in TASKS.values():
            yield SystemCommand(f"Task: {spec.title}", spec.summary, lambda s=spec: self.call_later(self._switch_task, s))

    async def _switch_task(self, spec: TaskSpec) -> None:
        tasks = self.main.query_one("#tasks", TaskList)
        tasks.highlighted = list(TASKS).index(spec.name)
        tasks.action_select()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.main.query_one("#sidebar")
        sidebar.display = not sidebar.display

    def action_focus_tasks(self) -> None:
        self.main.query_one("#tasks", TaskList).focus()


def make_app(settings: AppSettings | None = None) -> TuiHfApp:
    """Build the app; tests and the screenshot script inject settings (tiny models, no log file)."""
    return TuiHfApp(settings)
