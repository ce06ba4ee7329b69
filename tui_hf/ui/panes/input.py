"""The input pane: the text (one input per line where a task takes a batch) and the task's own fields."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from tui_hf.core.tasks.forms import coerce
from tui_hf.core.tasks.registry import InputField, TaskSpec


class InputPane(Vertical):
    class RunRequested(Message):
        pass

    class CancelRequested(Message):
        pass

    def __init__(self, task: TaskSpec, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = task
        self._initial_text = text

    def compose(self) -> ComposeResult:
        yield Static(id="input-title")
        yield TextArea(self._initial_text, id="input-text", soft_wrap=True, show_line_numbers=True,
                       tab_behavior="focus")
        yield Horizontal(id="input-fields")
        with Horizontal(id="input-buttons"):
            yield Button("Run  ctrl+r", id="run", variant="primary", compact=True)
            yield Button("Cancel  ctrl+g", id="cancel", variant="error", disabled=True, compact=True)
            yield Static("", id="input-hint")

    async def on_mount(self) -> None:
        await self.set_task(self.spec)

    async def set_task(self, task: TaskSpec) -> None:
        self.spec = task
        batch = "one input per line · " if task.batch else ""
        self.query_one("#input-title", Static).update(
            f"[b]{task.title}[/b] [dim]{task.name}[/dim]  {task.summary}  [dim]{batch}{task.text_label.lower()}[/dim]")
        fields = self.query_one("#input-fields", Horizontal)
        await fields.remove_children()
        widgets = [self._field_widget(f) for f in task.fields]
        await fields.mount_all(widgets)
        fields.display = bool(widgets)

    def _field_widget(self, f: InputField) -> Vertical:
        wid = f"field-{f.name}"
        if f.kind == "bool":
            control: Any = Checkbox(f.label, bool(f.default), id=wid, tooltip=f.help or None, compact=True)
            return Vertical(control, classes="field field-bool")
        if f.kind == "choice":
            control = Select([(c, c) for c in f.choices], value=f.default, allow_blank=False, id=wid, compact=True)
        elif f.multiline:
            control = TextArea(str(f.default or ""), id=wid, soft_wrap=True, classes="field-multiline")
        else:
            kind = {"int": "integer", "float": "number"}.get(f.kind, "text")
            control = Input(str(f.default) if f.default is not None else "", id=wid, type=kind,  # type: ignore[arg-type]
                            tooltip=f.help or None, compact=True)
        classes = "field field-wide" if f.multiline or f.kind == "text" else "field"
        return Vertical(Label(f.label, classes="field-label"), control, classes=classes)

    def texts(self) -> list[str]:
        """The inputs: one per non-empty line for batch tasks, the whole text otherwise."""
        text = self.query_one("#input-text", TextArea).text
        if not self.spec.batch:
            return [text] if text.strip() else []
        return [line for line in text.split("\n") if line.strip()]

    def line_map(self) -> list[int]:
        """For each input of texts(), the TextArea row it starts on."""
        text = self.query_one("#input-text", TextArea).text
        if not self.spec.batch:
            return [0]
        return [row for row, line in enumerate(text.split("\n")) if line.strip()]

    def options(self) -> dict[str, Any]:
        """The task's settings, typed; raises ValueError naming the field at fault."""
        values: dict[str, Any] = {}
        for f in self.spec.fields:
            widget = self.query_one(f"#field-{f.name}")
            if isinstance(widget, Checkbox):
                raw: Any = widget.value
            elif isinstance(widget, Select):
                raw = widget.value
            elif isinstance(widget, TextArea):
                raw = widget.text
            else:
                raw = widget.value  # type: ignore[attr-defined]
                if raw.strip() == "" and f.kind in ("int", "float"):
                    raw = f.default
            values[f.name] = coerce(f, raw)
        return values

    def set_running(self, running: bool) -> None:
        self.query_one("#run", Button).disabled = running
        self.query_one("#cancel", Button).disabled = not running

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.RunRequested() if event.button.id == "run" else self.CancelRequested())
