"""The main screen: sidebar, input, the tabbed panes and the status bar, and the flow between them.

Panes own their state and workers; the screen owns the two controllers (model, run) and passes what one
pane reports to the panes that show it ("attributes down, messages up"). Panes that are not visible at
start (Output, Under the hood, Compare, Training, Log) are mounted when first shown, so the first frame is cheap;
Output and Tokens right after the first frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, OptionList, TabbedContent, TabPane, Tabs

from tui_hf.core.errors import TaskInputError
from tui_hf.core.tasks.registry import TASKS, TaskSpec, get_task
from tui_hf.ui.inference.input import InputPane
from tui_hf.ui.inference.model import ModelBox
from tui_hf.ui.inference.model_controller import ModelController
from tui_hf.ui.inference.output import HOOD_EMPTY, OutputPane
from tui_hf.ui.inference.run_controller import RunController
from tui_hf.ui.inference.tasks import TaskList
from tui_hf.ui.messages import (
    LibraryLogged,
    LoadFailed,
    LoadProgressed,
    ModelLoaded,
    ModelSaved,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunProgressed,
    TokenizerLoaded,
)
from tui_hf.ui.widgets.lists import FilterInput
from tui_hf.ui.widgets.markup import escape
from tui_hf.ui.widgets.status import StatusBar

if TYPE_CHECKING:
    from tui_hf.ui.settings import AppSettings

# (tab id, title, key): the order of the tabs, their F-keys and the palette's "Show …" commands.
TABS = (
    ("tokens", "Tokens", "f2"),
    ("output", "Output", "f3"),
    ("hood", "Under the hood", "f4"),
    ("compare", "Compare", "f5"),
    ("training", "Training", "f6"),
    ("log", "Log", "f7"),
)
FULL_HEIGHT_TABS = ("training", "log")  # they need the rows the input would take
# Where a tab's key puts the cursor: on the content (the token table, the result), not on the first control of
# the tab's settings row. The first of these that is shown wins; other tabs get their first focusable widget.
CONTENT = {
    "tokens": ("tok-table",),
    "output": ("output-trace", "output-scroll"),
    "hood": ("hood-pane",),
    "training": ("train-runs",),
    "log": ("log-pane",),
}
NARROW = 100  # columns under which the sidebar starts hidden (ctrl+b shows it)
LOG_LINES = 5000
IMMEDIATE_CHARS = 2000  # inputs shorter than this are tokenized on every key; longer ones after a pause


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "run", "Run", priority=True),
        Binding("ctrl+g", "cancel", "Cancel", priority=True),
        Binding("ctrl+o", "pick_model", "Model", priority=True),
        Binding("ctrl+t", "focus_tasks", "Tasks", priority=True),
        Binding("ctrl+s", "save_model", "Save model", priority=True, show=False),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", priority=True, show=False),
        Binding("alt+a", "select_all", "Select all input", priority=True, show=False),
        Binding("ctrl+l", "clear_input", "Clear input", priority=True, show=False),
        Binding("f8", "insert_mask", "Insert mask", priority=True, show=False),
        # The tab bar shows each tab's key ("F2 Tokens"): the footer keeps room for the actions.
        *(Binding(key, f"tab('{tab}')", title, priority=True, show=False) for tab, title, key in TABS),
    ]

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.settings = settings
        self.task_spec: TaskSpec = get_task(settings.task)
        self.model = ModelController(self, settings)
        self.runs = RunController(self, settings.log_path)
        self.log_lines: deque[str] = deque(maxlen=LOG_LINES)  # kept for the log pane, mounted when first shown
        self.explanation: Any = HOOD_EMPTY  # what Under the hood shows (kept while that pane is not mounted)
        self._debounce: Timer | None = None
        self._sidebar_choice: bool | None = None  # None until the user toggles it: then it is theirs
        self._resumed = False  # until the first ScreenResume (see on_screen_resume)

    # -- layout -----------------------------------------------------------------------------------------

    def _breakpoint_classes(self) -> list[str]:
        """The classes Textual's breakpoints will give this screen at the app's size.

        Set before the first layout, so the first resize finds nothing to change: adding them afterwards
        restyles every widget once more, a large share of the first frame's cost.
        """
        width, height = self.app.size
        classes = []
        for dimension, breakpoints in (
            (width, self.app.HORIZONTAL_BREAKPOINTS),
            (height, self.app.VERTICAL_BREAKPOINTS),
        ):
            chosen = [name for limit, name in sorted(breakpoints or []) if dimension >= limit]
            classes += chosen[-1:]
        return classes

    def compose(self) -> ComposeResult:
        self.add_class(*self._breakpoint_classes())
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Label("Tasks  [dim]ctrl+t[/dim]", classes="section")
                yield FilterInput("tasks", "filter tasks", id="tasks-filter")
                yield TaskList(self.task_spec.name, id="tasks")
                yield ModelBox(self.model.reference, id="model-box")
            with Vertical(id="main"):
                yield InputPane(self.task_spec, self.settings.text, id="input")
                with TabbedContent(initial="tokens", id="tabs"):
                    for tab, title, key in TABS:
                        yield TabPane(f"{key.upper()} {title}", id=tab)
        yield StatusBar(id="status")
        yield Footer(compact=True)

    def _make_pane(self, tab: str) -> Widget:
        """The pane of a tab that is mounted on first use (imports included: they cost start-up time).

        The tokens and output panes too: they mount right after the first frame, long before a tokenizer or a
        model can arrive (the output pane's ten widgets cost the first frame ~15 ms, hidden as they are)."""
        if tab == "tokens":
            from tui_hf.ui.inference.tokens import TokensPane

            return TokensPane(id="tokens-pane")
        if tab == "output":
            return OutputPane(id="output-pane")
        if tab == "hood":
            from tui_hf.ui.inference.output import HoodPane

            return HoodPane(self.explanation, id="hood-pane")
        if tab == "compare":
            from tui_hf.ui.inference.compare import ComparePane

            pane = ComparePane(self.settings.offline, self.settings.trust_remote_code, id="compare-pane")
            pane.tokenizer = self.model.tokenizer
            pane.texts = self.query_one(InputPane).texts()
            pane.settings = self.tokens.settings()
            return pane
        if tab == "training":
            from tui_hf.ui.training.training import TrainingPane

            return TrainingPane(self.settings.runs_dir, id="training-pane")
        from tui_hf.ui.widgets.log import LogPane

        return LogPane(self.log_lines, id="log-pane")

    def pane(self, tab: str) -> Widget | None:
        """The pane of `tab` if it is mounted."""
        container = self.query_one(f"TabPane#{tab}", TabPane)
        return container.children[0] if container.children else None

    async def ensure_pane(self, tab: str) -> Widget:
        found = self.pane(tab)
        if found is None:
            found = self._make_pane(tab)
            await self.query_one(f"TabPane#{tab}", TabPane).mount(found)
        return found

    def on_mount(self) -> None:
        from tui_hf.core.quiet import attach_sink, route_library_logs

        path = route_library_logs(self.settings.log_path)
        self.log_lines.append(f"library logs also go to {path}")
        self._log_handler = attach_sink(lambda text, level: self.post_message(LibraryLogged(text, level)))
        self.query_one(StatusBar).progress("starting", 0.0)
        self.query_one(InputPane).area.focus()
        self._fit_sidebar()
        self.call_after_refresh(self._after_first_frame)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """The first resume paints the first frame without restyling every widget again.

        Textual restyles the whole screen on each resume (runs before Screen's own handler, which reads the
        flag). On the first one every widget was styled as it mounted, a moment ago: the same styles again
        (checked by tests/test_app.py) for ~15 ms of the first frame. Later resumes (a modal closed, a theme
        changed under it) restyle as usual."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    async def _after_first_frame(self) -> None:
        await self.ensure_pane("tokens")
        output = await self.ensure_pane("output")  # before the model loads: its messages fill this pane
        output.set_chat(self.task_spec.name == "conversational")  # type: ignore[attr-defined]
        self._tokenize_now()  # remembered by the tokens pane until the tokenizer arrives
        # Only now: the loading thread imports torch and transformers, and while it holds the GIL the first
        # paint would wait for it (about half a second here).
        self.model.load(self.task_spec)

    @property
    def tokens(self) -> Any:
        """The tokens pane (mounted right after the first frame)."""
        return self.query_one("#tokens-pane")

    def on_unmount(self) -> None:
        from tui_hf.core.quiet import detach_sink

        detach_sink(self._log_handler)
        self.runs.cancel()

    def on_resize(self) -> None:
        self._fit_sidebar()

    def _fit_sidebar(self) -> None:
        show = self._sidebar_choice if self._sidebar_choice is not None else self.size.width >= NARROW
        self.query_one("#sidebar").display = show

    # -- tabs and focus ---------------------------------------------------------------------------------

    async def action_tab(self, tab: str) -> None:
        """Switch tab and move focus into it: TabbedContent goes back to the pane that holds focus otherwise."""
        pane = await self.ensure_pane(tab)
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = tab
        widgets = [pane, *pane.query("*")]
        content = [w for wid in CONTENT.get(tab, ()) for w in widgets if w.id == wid and w.display]
        target = next((f for w in content for f in [w, *w.query("*")] if f.focusable and f.display), None)
        if target is None:
            target = next((w for w in widgets if w.focusable and w.display), None)
        (target or tabs.query_one(Tabs)).focus()

    @on(TabbedContent.TabActivated, "#tabs")
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id or ""
        self.query_one(InputPane).display = tab not in FULL_HEIGHT_TABS
        pane = await self.ensure_pane(tab)
        if tab == "compare":
            self._refresh_compare(pane)

    # -- model ------------------------------------------------------------------------------------------

    @on(ModelBox.Chosen)
    def _model_chosen(self, event: ModelBox.Chosen) -> None:
        self.model.choose(event.reference)
        self.model.load(self.task_spec)

    def on_load_progressed(self, message: LoadProgressed) -> None:
        self.query_one(StatusBar).progress(message.stage, message.fraction)

    def on_tokenizer_loaded(self, message: TokenizerLoaded) -> None:
        self.model.accept_tokenizer(message)
        if not self.model.explicit:
            self.query_one(ModelBox).set_reference(message.reference)
        self.tokens.set_tokenizer(message.tokenizer)
        compare = self.pane("compare")
        if compare is not None:
            self._refresh_compare(compare)

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.model.accept(message)
        info = message.loaded.info
        self.query_one(StatusBar).model(info)
        self.query_one(StatusBar).progress("ready", 1.0)
        self.query_one(ModelBox).show_loaded(info, self.settings.trust_remote_code)
        if info.task == self.task_spec.name:
            self._show_model_values()
        for warning in info.warnings:
            self.notify(warning, severity="warning", timeout=8, markup=False)
        self.app.bench_mark("ready")  # type: ignore[attr-defined]

    def _show_model_values(self) -> None:
        """The model's own generation settings in the form, where the task takes them from the model."""
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.tasks.forms import task_settings

        try:
            settings = task_settings(self.task_spec, self.model.loaded)
        except TuiHfError as exc:  # e.g. a translation model whose languages cannot be read: the run will say
            self.log_line(f"model settings for the form: {exc}")
            return
        self.query_one(InputPane).show_model_values(settings)

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.pickle and message.reference not in self.model.pickle_ok:
            from tui_hf.ui.screens import ConfirmScreen

            def answer(yes: bool | None) -> None:
                if yes:
                    self.model.pickle_ok.add(message.reference)
                    self.model.load(self.task_spec, message.reference)
                else:
                    self._show_load_failure(message)

            self.app.push_screen(
                ConfirmScreen(
                    f"[b]{escape(message.reference)}[/b] has only a pickle checkpoint (pytorch_model.bin).\n\n"
                    "Unpickling can run arbitrary code. Load it only if you trust where it came from.\n\nLoad it?"
                ),
                answer,
            )
            return
        self._show_load_failure(message)

    def _show_load_failure(self, message: LoadFailed) -> None:
        self.model.reject(message)
        self.query_one(StatusBar).state("[red]load failed[/red]")
        loaded = self.model.loaded
        if loaded is not None:  # the old model is still in memory: say what it is and what it serves
            self.query_one(ModelBox).show_loaded(
                loaded.info, self.settings.trust_remote_code, note=f"[red]{escape(message.reference)} not loaded[/red]"
            )
        else:
            self.query_one(ModelBox).show_nothing(f"[red]{escape(message.reference)} not loaded[/red]")
        self.query_one(OutputPane).show_message(
            f"[red b]Could not load {escape(message.reference)}[/red b]\n\n{escape(message.error)}"
        )
        self.notify(message.error, title="Model not loaded", severity="error", timeout=12, markup=False)
        self.log_line(f"load failed after {message.seconds:.1f}s: {message.error}")

    def action_pick_model(self) -> None:
        from tui_hf.ui.screens import ModelPicker

        def chosen(reference: str | None) -> None:
            if reference:
                self.query_one(ModelBox).set_reference(reference)
                self.model.choose(reference)
                self.model.load(self.task_spec)

        self.app.push_screen(ModelPicker(self.task_spec.name, self.settings.runs_dir, self.settings.offline), chosen)

    def action_save_model(self) -> None:
        from tui_hf.ui.screens import SaveScreen

        loaded = self.model.loaded
        if loaded is None:
            self.notify("No model is loaded yet.", severity="warning")
            return
        name = Path(loaded.resolved.source).name or "model"

        def chosen(answer: tuple[str, bool] | None) -> None:
            if answer:
                self.model.save(*answer)

        self.app.push_screen(SaveScreen(f"./saved/{name}-{loaded.info.task}"), chosen)

    def on_model_saved(self, message: ModelSaved) -> None:
        if message.error:
            self.notify(message.error, title="Not saved", severity="error", timeout=10, markup=False)
        else:
            self.notify(
                f"Saved model and tokenizer to {message.path}; load it with --model {message.path}", markup=False
            )

    # -- tasks ------------------------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#tasks")
    async def _task_selected(self, event: OptionList.OptionSelected) -> None:
        await self.choose_task(get_task(event.option.id or self.task_spec.name))

    async def choose_task(self, spec: TaskSpec) -> None:
        """The user's choice of task, from the sidebar or the palette alike."""
        await self.switch_task(spec)
        if self._sidebar_choice is None and self.size.width < NARROW:
            self.query_one("#sidebar").display = False  # a drawer on small screens: back to the input
            self.query_one(InputPane).area.focus()

    async def switch_task(self, spec: TaskSpec, reference: str | None = None) -> None:
        """Show `spec`'s form and load a model that serves it (the same model with another head, the given
        reference, or the task's default)."""
        if spec.name == self.task_spec.name and reference is None:
            return
        self.task_spec = spec
        tasks = self.query_one("#tasks", TaskList)
        with tasks.prevent(OptionList.OptionSelected):
            tasks.show_task(spec.name)
        await self.query_one(InputPane).set_task(spec)
        output: Any = await self.ensure_pane("output")  # a task chosen within the first frames: not mounted yet
        output.set_chat(spec.name == "conversational")
        output.show_message(f"[b]{escape(spec.title)}[/b]: {escape(spec.summary)}\n\nRun it with ctrl+r.")
        self.show_explanation(HOOD_EMPTY)
        if reference is not None:
            self.query_one(ModelBox).set_reference(reference)
            self.model.choose(reference)
        if not self.model.serves(spec.name) or reference is not None or not self.model.explicit:
            self.model.load(spec)
        elif self.model.serves(spec.name):
            self._show_model_values()
        self._tokenize_now()

    @on(Input.Changed, "#tasks-filter")
    def _tasks_filtered(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one("#tasks", TaskList).filter(event.value)

    def action_focus_tasks(self) -> None:
        self.query_one("#sidebar").display = True
        self.query_one("#tasks", TaskList).focus()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        self._sidebar_choice = not sidebar.display
        sidebar.display = self._sidebar_choice

    # -- input and tokens -------------------------------------------------------------------------------

    @on(InputPane.Edited)
    def _input_edited(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        # Tokenizing a short text takes well under a millisecond: a key shows its tokens in the next frame.
        # Only a long text waits for a pause in the typing, so a paste or a held key does not queue work.
        if sum(len(t) for t in self.query_one(InputPane).texts()) < IMMEDIATE_CHARS:
            self._tokenize_now()
        else:
            self._debounce = self.set_timer(self.settings.debounce, self._tokenize_now)

    def _tokenize_now(self) -> None:
        texts = self.query_one(InputPane).texts()
        tokens = self.pane("tokens")
        if tokens is not None:
            tokens.set_conversation(self._conversation(texts))  # type: ignore[attr-defined]
            tokens.tokenize(texts)  # type: ignore[attr-defined]
        compare = self.pane("compare")
        if compare is not None and self.query_one("#tabs", TabbedContent).active == "compare":
            self._refresh_compare(compare)

    def _conversation(self, texts: list[str]) -> list[dict[str, str]] | None:
        """A chat's messages as the next run would send them (for the chat template view); None otherwise."""
        if self.task_spec.name != "conversational":
            return None
        from tui_hf.core.tasks.chat import conversation

        try:
            system = str(self.query_one(InputPane).options().get("system") or "")
        except TaskInputError:  # a field that does not parse yet: the run will say so
            system = ""
        return conversation(self.runs.chat_history, system, texts, score=False)

    def _refresh_compare(self, pane: Any) -> None:
        pane.update_source(self.model.tokenizer, self.query_one(InputPane).texts(), self.tokens.settings())

    @on(InputPane.CursorMoved)
    def _input_cursor_moved(self, event: InputPane.CursorMoved) -> None:
        self.tokens.follow_cursor(event.seq, event.char)

    def on_tokens_pane_token_picked(self, event: Any) -> None:
        self.query_one(InputPane).select_chars(event.seq, event.start, event.end)

    def action_select_all(self) -> None:
        self.query_one(InputPane).select_all()

    def action_clear_input(self) -> None:
        self.query_one(InputPane).clear()

    def action_insert_mask(self) -> None:
        mask = getattr(self.model.tokenizer, "mask_token", None)
        if mask is None:
            self.notify("This tokenizer has no mask token.", severity="warning")
            return
        self.query_one(InputPane).insert(mask)

    # -- running ----------------------------------------------------------------------------------------

    @on(InputPane.RunRequested)
    async def action_run(self) -> None:
        spec = self.task_spec
        if not self.model.serves(spec.name):
            self.notify(
                self._why_not_runnable(),
                title=f"Cannot run {spec.name}",
                markup=False,
                severity="warning" if self.model.loading else "error",
                timeout=10,
            )
            return
        pane = self.query_one(InputPane)
        try:
            options = pane.options()
        except TaskInputError as exc:
            self.notify(str(exc), title="Check the task's settings", severity="error", markup=False)
            return
        texts = pane.texts()
        if not texts:
            self.notify("Type some input first.", severity="warning")
            return
        pane.set_running(True)
        self.query_one(StatusBar).state(f"[yellow]running {spec.name}…[/yellow]")
        await self.action_tab("output")
        pane.area.focus()  # keep typing where the user was; the output shows itself
        self.runs.start(self.model.loaded, spec, texts, options)

    def _why_not_runnable(self) -> str:
        spec, model = self.task_spec, self.model
        if model.loading is not None and model.loading[1] == spec.name:
            return f"The model for {spec.name} is still loading."
        needs = f"{spec.name} needs a model with a {spec.model_class.removeprefix('AutoModelFor') or 'base'} head"
        if model.loaded is not None:
            info = model.loaded.info
            what = f"The loaded model, {info.title} ({info.architecture}), serves {info.task}. {needs}"
        else:
            what = f"No model is loaded. {needs}"
        failed = f" The last load failed: {model.last_error}" if model.last_error else ""
        return f"{what}: pick one with ctrl+o (e.g. {spec.default_model}).{failed}"

    @on(InputPane.CancelRequested)
    def action_cancel(self) -> None:
        self.runs.cancel()
        for panel in self.query("TracePanel"):  # a branch growing from a chosen alternative stops too
            panel.cancel()  # type: ignore[attr-defined]

    def on_run_cancelled(self, message: RunCancelled) -> None:
        self.query_one(InputPane).set_running(False)
        self.query_one(StatusBar).state("[yellow]cancelled[/yellow]")
        self.query_one(OutputPane).mark_cancelled()
        self.show_explanation("[yellow]The run was cancelled: nothing to show.[/yellow]")

    def on_run_progressed(self, message: RunProgressed) -> None:
        if self.runs.running:
            self.query_one(OutputPane).show_result(
                message.partial, f"[b]{message.task}[/b] · [yellow]streaming…[/yellow]"
            )

    def on_run_finished(self, message: RunFinished) -> None:
        self.runs.finished(message)
        self.query_one(InputPane).set_running(False)
        if message.task == "conversational":
            self.query_one(InputPane).area.text = ""
        ms = message.seconds * 1000
        self.query_one(StatusBar).state(f"[green]{message.task} done in {ms:.0f} ms[/green]")
        info = self.model.loaded.info if self.model.loaded is not None else None
        meta = f"[b]{message.task}[/b] · {escape(info.title) if info else ''} · {ms:.0f} ms"
        self.query_one(OutputPane).show_result(
            message.result, meta, self.runs.code_source(self.settings.trust_remote_code)
        )
        explanation = getattr(message.result, "explanation", None)
        self.show_explanation(
            explanation if explanation is not None else f"{escape(message.task)} shows no explicit PyTorch path."
        )

    def on_run_failed(self, message: RunFailed) -> None:
        mask = getattr(self.model.tokenizer, "mask_token", None)
        if message.task == "fill-mask" and mask and any(mask not in t for t in self.query_one(InputPane).texts()):
            message.error += f" F8 inserts {mask} at the cursor."
        self.runs.finished_without_result()
        self.query_one(InputPane).set_running(False)
        self.query_one(StatusBar).state("[red]run failed[/red]")
        self.query_one(OutputPane).show_message(
            f"[red b]{escape(message.task)} failed[/red b]\n\n{escape(message.error)}"
        )
        self.show_explanation(f"[red]{escape(message.task)} failed: nothing to show.[/red]")
        self.notify(message.error, title=f"{message.task} failed", severity="error", timeout=10, markup=False)

    def show_explanation(self, explanation: Any) -> None:
        self.explanation = explanation
        hood = self.pane("hood")
        if hood is not None:
            hood.show(explanation)  # type: ignore[attr-defined]

    @on(OutputPane.ChatReset)
    def _reset_chat(self) -> None:
        self.runs.reset_chat()
        self.query_one(OutputPane).show_message("New chat: type a message and press ctrl+r.")
        self._tokenize_now()  # the chat template view loses the old turns

    def on_trace_panel_branch_switched(self, message: Any) -> None:
        """A chat keeps the reply shown: choosing another branch of it changes what the next turn follows.

        (Handled by name: the token cursor view is imported with the first result.)"""
        if (
            message.column == 0
            and message.result is self.query_one(OutputPane).result
            and getattr(message.result, "messages", None)
            and self.runs.chat_history
        ):
            self.runs.chat_history[-1]["content"] = message.result.messages[-1].content
            self._tokenize_now()

    # -- training and log -------------------------------------------------------------------------------

    async def on_training_view_try_model(self, message: Any) -> None:
        """Load a finetuned run's final model into the inference panes, on the task it was trained for.

        (Handled by name: importing the training pane's class here would load it at start-up.)"""
        await self.switch_task(get_task(message.task), str(message.path))
        inputs = dict(getattr(message, "inputs", {}))
        if inputs:
            self.query_one(InputPane).fill(inputs.pop("text", None), inputs)
        await self.action_tab("output")
        self.notify(f"Loading the finetuned model from {message.path}", markup=False)
        if inputs.get("text_pair") == "":  # a pairs run whose data cannot be read here: say what to fill
            self.notify(
                "This model was finetuned on sentence pairs: give the second text in Second text.",
                markup=False,
                timeout=8,
            )

    def on_library_logged(self, message: LibraryLogged) -> None:
        self.log_line(message.text)

    def log_line(self, text: str) -> None:
        self.log_lines.append(text)
        log = self.pane("log")
        if log is not None:
            log.write(text)  # type: ignore[attr-defined]

    # -- the command palette ----------------------------------------------------------------------------

    def system_commands(self) -> Iterator[SystemCommand]:
        run: Callable[[], Any] = self.action_run
        yield SystemCommand("Run task", "Run the selected task on the input (ctrl+r)", run)
        yield SystemCommand("Cancel run", "Stop the running task (ctrl+g)", self.action_cancel)
        yield SystemCommand(
            "Pick model", "Embedded, finetuned runs, cache, recent, Hub (ctrl+o)", self.action_pick_model
        )
        yield SystemCommand("Save model", "Save the loaded model and tokenizer (ctrl+s)", self.action_save_model)
        yield SystemCommand("Insert mask token", "For fill-mask (F8)", self.action_insert_mask)
        yield SystemCommand("Select all input", "alt+a", self.action_select_all)
        yield SystemCommand("Clear input", "ctrl+l (ctrl+z brings it back)", self.action_clear_input)
        yield SystemCommand("New chat", "Forget the conversation", self._reset_chat)
        yield SystemCommand("Toggle sidebar", "ctrl+b", self.action_toggle_sidebar)
        yield SystemCommand(
            "Tokens: split, stages or chat template",
            "The coloured split, the tokenizer's "
            "stages, or (chat) the conversation through the model's template (v in the tokens pane)",
            lambda: self.tokens.action_toggle_view(),
        )
        yield SystemCommand(
            "Output: token cursor",
            "Probabilities, rank and top alternatives of each generated token; 1-9 branches, [ ] switches branch (F3)",
            lambda: self.run_worker(self.action_tab("output")),
        )
        yield SystemCommand(
            "Compare tokenizers",
            "Any number of tokenizers on the same text (F5)",
            lambda: self.run_worker(self.action_tab("compare")),
        )
        yield SystemCommand(
            "Tokens: vocabulary or readable pieces",
            "The vocabulary's strings, or spaces as · and newlines as ↵ (r in the tokens pane)",
            lambda: self.tokens.action_toggle_readable(),
        )
        yield SystemCommand("Task list", "Choose a task, / filters (ctrl+t)", self.action_focus_tasks)
        yield SystemCommand(
            "Output: raw JSON or rendered",
            "The result as JSON, or drawn for its task (F3)",
            lambda: self.query_one("#output-raw").press(),
        )
        yield SystemCommand(
            "Output: copy result",
            "The result as JSON, to the terminal's clipboard",
            lambda: self.query_one("#output-copy").press(),
        )
        for tab, title, key in TABS:
            yield SystemCommand(
                f"Show {title}", f"Switch to the {title} tab ({key})", lambda t=tab: self.run_worker(self.action_tab(t))
            )
        yield from self._training_commands()
        for spec in TASKS.values():
            yield SystemCommand(
                f"Task: {spec.title}", spec.summary, lambda s=spec: self.run_worker(self.choose_task(s))
            )

    def _training_commands(self) -> Iterator[SystemCommand]:
        """The Training tab's actions, by name: each opens the tab and acts on the run it shows."""
        from tui_hf.ui.training.run_view import RUN_COMMANDS  # loads with the palette, not at start-up

        for title, help_text, action in (
            ("New job", "Set up and start a finetuning job (n in Training)", "new_job"),
            ("Compare runs", "The run under the cursor against the one shown (d in Training)", "compare"),
            *RUN_COMMANDS,
            ("Try model", "Load the finetuned model of the run shown into the inference panes", "run-try"),
        ):
            yield SystemCommand(
                f"Training: {title}", help_text, lambda a=action: self.run_worker(self._training_action(a))
            )

    async def _training_action(self, action: str) -> None:
        await self.action_tab("training")
        pane = self.pane("training")
        if action.startswith("run-"):
            pane.query_one("#train-view").press(action)  # type: ignore[union-attr]
        else:
            await pane.run_action(action)  # type: ignore[union-attr]
