"""The input pane: the text (one input per line where a task takes a batch) and the task's own fields.

It owns the text's geometry: which rows hold which inputs, and how a character of an input maps to a
row and column, so the tokens pane can talk in (input, character) and never about TextArea rows.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea
from textual.widgets.text_area import Selection

from tui_hf.core.tasks.registry import InputField, TaskSpec
from tui_hf.ui.widgets.choice import Choice
from tui_hf.ui.widgets.markup import escape

MODELS = "model"  # a three-state field's "the model's own value"
LONG_LINE = 10_000  # characters on one line beyond which the input stops soft-wrapping (see on_text_changed)


class InputPane(Vertical):
    class RunRequested(Message):
        pass

    class CancelRequested(Message):
        pass

    class Edited(Message):
        """The text changed (posted on every edit; whoever listens debounces)."""

    class CursorMoved(Message):
        def __init__(self, seq: int, char: int) -> None:
            super().__init__()
            self.seq, self.char = seq, char

    def __init__(self, task: TaskSpec, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = task
        self._initial_text = text
        self.model_values: dict[str, Any] = {}  # the loaded model's own values, shown where a field is empty

    def compose(self) -> ComposeResult:
        with Horizontal(id="input-head"):
            yield Static(id="input-title")
            yield Button("Run ^r", id="run", variant="primary", compact=True)
            yield Button("Cancel ^g", id="cancel", variant="error", disabled=True, compact=True)
        area = TextArea(
            self._initial_text, id="input-text", soft_wrap=True, show_line_numbers=True, tab_behavior="focus"
        )
        if any(len(line) > LONG_LINE for line in self._initial_text.split("\n")):
            area.soft_wrap = False
        yield area
        # The first task's fields are composed with the pane: mounting them afterwards lays out the screen twice.
        fields = Horizontal(*[self._field_widget(f) for f in self.spec.fields], id="input-fields")
        fields.display = bool(self.spec.fields)
        yield fields

    def on_mount(self) -> None:
        self._show_title(self.spec)
        self._cursor_to_end()

    def _cursor_to_end(self) -> None:
        """Typing goes after the text already there: a prompt is continued, a sentence extended (at the start,
        a first key went before the sample text)."""
        self.area.move_cursor(self.area.document.end)

    @property
    def area(self) -> TextArea:
        return self.query_one("#input-text", TextArea)

    async def set_task(self, task: TaskSpec) -> None:
        self.spec = task
        self.model_values = {}
        self._show_title(task)
        fields = self.query_one("#input-fields", Horizontal)
        await fields.remove_children()
        widgets = [self._field_widget(f) for f in task.fields]
        await fields.mount_all(widgets)
        fields.display = bool(widgets)

    def _show_title(self, task: TaskSpec) -> None:
        batch = "one input per line · " if task.batch else ""
        self.query_one("#input-title", Static).update(
            f"[b]{escape(task.title)}[/b] [dim]{task.name} · {batch}{escape(task.text_label.lower())}[/dim]"
        )

    def _field_widget(self, f: InputField) -> Vertical:
        wid = f"field-{f.name}"
        if f.kind == "bool" and f.default is None:
            # Three states: the model's value (shown once it loads), on, off.
            control: Any = Choice(
                [("model's", MODELS), ("on", "on"), ("off", "off")],
                value=MODELS,
                allow_blank=False,
                id=wid,
                compact=True,
                tooltip=f.help or None,
            )
        elif f.kind == "bool":
            control = Checkbox(f.label, bool(f.default), id=wid, tooltip=f.help or None, compact=True)
            return Vertical(control, classes="field field-bool")
        elif f.kind == "choice":
            control = Choice(
                [(c, c) for c in f.choices],
                value=f.default,
                allow_blank=False,
                id=wid,
                compact=True,
                tooltip=f.help or None,
            )
        elif f.multiline:
            control = TextArea(str(f.default or ""), id=wid, soft_wrap=True, classes="field-multiline")
        else:
            kind = {"int": "integer", "float": "number"}.get(f.kind, "text")
            control = Input(
                str(f.default) if f.default is not None else "",
                id=wid,
                type=kind,  # type: ignore[arg-type]
                placeholder="model's" if f.default is None else "",
                tooltip=f.help or None,
                compact=True,
            )
        classes = "field field-wide" if f.multiline or f.kind == "text" else "field"
        return Vertical(Label(f.label, classes="field-label"), control, classes=classes)

    def show_model_values(self, settings: dict[str, Any]) -> None:
        """Show the loaded model's own settings (core.tasks.defaults.Setting: value and source) where a field
        takes its value from the model: as the placeholder of an empty field, in the label of a three-state one."""
        self.model_values = dict(settings)
        for f in self.spec.fields:
            setting = settings.get(f.name)
            if f.default is not None or setting is None:
                continue
            for widget in self.query(f"#field-{f.name}"):
                value = setting.value
                if isinstance(widget, Input):
                    widget.placeholder = "" if value is None else str(value)
                    widget.tooltip = f"{f.help}\nEmpty: {setting.describe()}".strip()
                elif isinstance(widget, Select) and f.kind == "bool":
                    shown = "model's: on" if value else "model's: off"
                    widget.set_options([(shown, MODELS), ("on", "on"), ("off", "off")])
                    widget.value = MODELS if widget.value in (MODELS, Select.NULL) else widget.value

    def texts(self) -> list[str]:
        """The inputs: one per non-empty line for batch tasks, the whole text otherwise."""
        text = self.area.text
        if not self.spec.batch:
            return [text] if text.strip() else []
        return [line for line in text.split("\n") if line.strip()]

    def line_map(self) -> list[int]:
        """For each input of texts(), the TextArea row it starts on."""
        if not self.spec.batch:
            return [0]
        return [row for row, line in enumerate(self.area.text.split("\n")) if line.strip()]

    def options(self) -> dict[str, Any]:
        """The settings the user gave, typed; a field left empty is omitted (the runner uses the model's or the
        task's default). Raises TaskInputError naming the field at fault."""
        from tui_hf.core.tasks.forms import coerce  # forms loads the model modules: not before the first frame

        values: dict[str, Any] = {}
        for f in self.spec.fields:
            widget = self.query_one(f"#field-{f.name}")
            if isinstance(widget, Select) and f.kind == "bool":
                if widget.value == MODELS:
                    continue  # the model's own value: the runner fills it in
                raw: Any = widget.value == "on"
            elif isinstance(widget, (Checkbox, Select)):
                raw = widget.value
            elif isinstance(widget, TextArea):
                raw = widget.text
            else:
                raw = widget.value  # type: ignore[attr-defined]
                if raw.strip() == "" and (f.kind in ("int", "float") or f.default is None):
                    continue
            values[f.name] = coerce(f, raw)
        return values

    def fill(self, text: str | None, options: dict[str, str]) -> None:
        """Start the form with a text and text fields' values (Try model on a pairs run: its first pair)."""
        if text is not None:
            self.area.load_text(text)
            self._cursor_to_end()
        for name, value in options.items():
            for widget in self.query(f"#field-{name}"):
                if isinstance(widget, Input):
                    widget.value = value
                elif isinstance(widget, TextArea):
                    widget.load_text(value)

    def set_running(self, running: bool) -> None:
        self.query_one("#run", Button).disabled = running
        self.query_one("#cancel", Button).disabled = not running

    # -- the text and its geometry ----------------------------------------------------------------------

    def select_chars(self, seq: int, start: int, end: int) -> None:
        """Select characters start:end of input `seq` (a token's span), unless the user is typing there."""
        if self.area.has_focus:
            return
        rows = self.line_map()
        if seq >= len(rows):
            return
        self.area.selection = Selection(self._location(rows, seq, start), self._location(rows, seq, end))

    def _location(self, rows: list[int], seq: int, char: int) -> tuple[int, int]:
        if self.spec.batch:
            return (rows[seq], char)
        lines = self.area.text.split("\n")
        for r, line in enumerate(lines):
            if char <= len(line):
                return (r, char)
            char -= len(line) + 1
        return (len(lines) - 1, len(lines[-1]))

    def insert(self, text: str) -> None:
        self.area.insert(text)
        self.area.focus()

    def select_all(self) -> None:
        self.area.select_all()
        self.area.focus()

    def clear(self) -> None:
        self.area.clear()  # an edit like any other: ctrl+z brings the text back
        self.area.focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id != "input-text":
            return
        area = event.text_area
        if area.soft_wrap and len(area.document.get_line(area.cursor_location[0])) > LONG_LINE:
            # TextArea re-wraps a whole line for every visible row it draws: past ~10k characters on one
            # line that costs a frame per key, so very long lines scroll sideways instead.
            area.soft_wrap = False
            self.notify("Very long line: soft wrap is off so typing stays fast.", timeout=4)
        self.post_message(self.Edited())

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        area = event.text_area
        if area.id != "input-text" or not area.has_focus:
            return
        row, col = event.selection.end
        if self.spec.batch:
            rows = self.line_map()
            if row in rows:
                self.post_message(self.CursorMoved(rows.index(row), col))
        else:
            lines = area.text.split("\n")
            self.post_message(self.CursorMoved(0, sum(len(line) + 1 for line in lines[:row]) + col))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.RunRequested() if event.button.id == "run" else self.CancelRequested())
