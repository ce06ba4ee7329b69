"""The model output pane (the result drawn, as raw JSON, or as the code that reproduces it) and the "under the
hood" pane."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

NO_CODE = "The code shows once the run finishes."


class OutputPane(Vertical):
    """The latest result of a run, drawn for its task, with a raw JSON view, a code view (the run as the Python
    that reproduces it: the pipeline call and the explicit path), copy and save."""

    class ChatReset(Message):
        pass

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: Any = None
        self.meta = ""
        self.raw = False
        self.code_view = False  # the run as Python instead of its result
        self.code_source: Callable[[], Any] | None = None  # makes the CodeView of the finished run shown
        self.code: Any = None  # that CodeView, once made
        self.no_code = NO_CODE  # what the code view says when there is no code
        self.cancelled = False  # the result is what a cancelled run streamed before it stopped

    def compose(self) -> ComposeResult:
        with Horizontal(id="output-bar"):
            yield Static("", id="output-meta")
            yield Button("New chat", id="output-new-chat", compact=True)
            yield Button("Raw JSON", id="output-raw", compact=True)
            yield Button(
                "Code",
                id="output-code",
                compact=True,
                tooltip="The run as Python: the pipeline call and the explicit path, with your settings",
            )
            yield Button("Copy", id="output-copy", compact=True)
            yield Button("Save", id="output-save", compact=True, tooltip="Save the code to a .py file")
        with VerticalScroll(id="output-scroll"):
            yield Static("Run the task (ctrl+r) to see the model's output here.", id="output-view")

    def on_mount(self) -> None:
        self.set_chat(False)
        self.query_one("#output-save", Button).display = False

    def set_chat(self, chat: bool) -> None:
        self.query_one("#output-new-chat", Button).display = chat

    def show_result(self, result: Any, meta: str, code: Callable[[], Any] | None = None) -> None:
        """`code` makes the run's CodeView (a finished run's; a streaming one has none yet)."""
        self.result = result
        if code is not self.code_source:
            self.code_source, self.code, self.no_code = code, None, NO_CODE
        self.cancelled = False
        self.meta = meta
        self.query_one("#output-meta", Static).update(meta)
        self._draw()

    def mark_cancelled(self) -> None:
        """A cancelled run keeps what it streamed so far, marked as cut short."""
        if self.result is not None:
            self.cancelled = True
            self._draw()
            self.query_one("#output-meta", Static).update(
                self.meta.replace(" · [yellow]streaming…[/yellow]", "") + " · [yellow]cancelled[/yellow]"
            )
        else:
            self.show_message("[yellow]Cancelled.[/yellow]")

    def show_message(self, markup: str) -> None:
        self.result = None
        self.code_source = self.code = None
        self.no_code = NO_CODE
        self.query_one("#output-meta", Static).update("")
        self.query_one("#output-view", Static).update(markup)
        self._show_trace(None)

    def _show_trace(self, result: Any) -> None:
        """Results recorded token by token (generation, chat, scoring) are shown in the token cursor view
        (ui/inference/trace.py), mounted the first time one comes; the rendered view stays up to date under it."""
        panels = self.query("TracePanel")
        if (
            result is None
            or self.raw
            or self.code_view
            or getattr(result, "traces", None) == []
            or not any(getattr(result, name, None) for name in ("traces", "trace"))
        ):
            if panels:
                panels.first().display = False
                panels.first().disabled = True  # out of the focus chain while hidden
            self.query_one("#output-scroll").display = True
            return
        self.query_one("#output-scroll").display = False
        if panels:
            panel = panels.first()
            panel.display, panel.disabled = True, False
            panel.show(result)  # type: ignore[attr-defined]
        else:
            from tui_hf.ui.inference.trace import TracePanel

            # First in the pane (the button bar is docked on top): switching to Output focuses the text.
            self.mount(TracePanel(result, id="output-trace"), before=0)

    def _draw(self) -> None:
        view = self.query_one("#output-view", Static)
        if self.result is None:
            return
        shown = self.result
        if self.cancelled and getattr(shown, "done", True) is False:
            shown = dataclasses.replace(shown, done=True)  # drawn as final: no cursor, nothing more comes
        if self.code_view:
            from rich.syntax import Syntax

            code = self.current_code()
            view.update(
                Syntax(code.text(), "python", theme="monokai", background_color="default", word_wrap=True)
                if code is not None
                else self.no_code
            )
        elif self.raw:
            from rich.syntax import Syntax

            from tui_hf.ui.inference.render import to_json

            view.update(
                Syntax(to_json(self.result), "json", theme="monokai", background_color="default", word_wrap=True)
            )  # a long value wraps rather than being cut at the pane's edge
        else:
            from tui_hf.ui.inference.render import render_result  # the task modules load with the first result

            view.update(render_result(shown))
        self._show_trace(None if self.raw or self.code_view else shown)

    def current_code(self) -> Any:
        """The shown run's CodeView, made on first use; None while there is none (streaming, cancelled)."""
        if self.code is None and self.code_source is not None:
            try:
                self.code = self.code_source()
            except Exception as exc:  # a model value the code cannot be written from: say so, keep the result
                from tui_hf.core.errors import TuiHfError

                if not isinstance(exc, TuiHfError):
                    from tui_hf.core.quiet import log_failure

                    log_failure("code view", exc)
                self.code_source = None
                self.no_code = f"No code for this run: {exc}"
        return self.code

    def _set_mode(self, raw: bool, code: bool) -> None:
        self.raw, self.code_view = raw, code
        self.query_one("#output-raw", Button).label = "Rendered" if raw else "Raw JSON"
        self.query_one("#output-code", Button).label = "Rendered" if code else "Code"
        self.query_one("#output-save", Button).display = code
        self._draw()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "output-new-chat":
            self.post_message(self.ChatReset())
        elif event.button.id == "output-raw":
            self._set_mode(not self.raw, False)
        elif event.button.id == "output-code":
            self._set_mode(False, not self.code_view)
        elif event.button.id == "output-copy" and self.code_view:
            code = self.current_code()
            if code is None:
                self.notify(self.no_code, severity="warning", timeout=4)
                return
            self.app.copy_to_clipboard(code.text())
            self.notify("Code copied: both scripts (terminal clipboard)", timeout=3)
        elif event.button.id == "output-copy" and self.result is not None:
            from tui_hf.ui.inference.render import to_json

            self.app.copy_to_clipboard(to_json(self.result))
            self.notify("Result copied as JSON (terminal clipboard)", timeout=3)
        elif event.button.id == "output-save":
            code = self.current_code()
            if code is None:
                self.notify(self.no_code, severity="warning", timeout=4)
                return
            self.app.push_screen(
                SaveCodeScreen(f"./{code.task.replace('-', '_')}.py"), lambda path: self._save(path, code.text())
            )

    def _save(self, path: str | None, text: str) -> None:
        if not path:
            return
        target = Path(path).expanduser()
        try:
            with open(target, "x", encoding="utf-8") as fh:  # never replaces a file
                fh.write(text)
        except FileExistsError:
            self.notify(f"{target} exists: choose another name", title="Not saved", severity="error", markup=False)
        except OSError as exc:
            self.notify(
                f"cannot write {target}: {exc.strerror or exc}", title="Not saved", severity="error", markup=False
            )
        else:
            self.notify(f"Saved the code to {target}; run it with: python {target}", markup=False, timeout=6)


class SaveCodeScreen(ModalScreen[str | None]):
    """Where to save the code view's scripts."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, suggestion: str) -> None:
        super().__init__()
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(id="save"):
            yield Label("Save the code (the pipeline call and the explicit path) to a new file:")
            yield Input(self.suggestion, id="save-code-path")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save-code-ok", variant="primary")
                yield Button("Cancel", id="save-code-cancel")

    @on(Button.Pressed, "#save-code-ok")
    @on(Input.Submitted, "#save-code-path")
    def _ok(self) -> None:
        path = self.query_one("#save-code-path", Input).value.strip()
        if path:
            self.dismiss(path)

    @on(Button.Pressed, "#save-code-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


HOOD_EMPTY = "Run the task to see the explicit PyTorch path: tokenizer → tensors → model → logits → softmax → labels."


class HoodPane(VerticalScroll):
    """The explicit PyTorch path of the last run: tensors, logits, softmax, argmax.

    Mounted when first shown; it starts from whatever the screen holds (`initial`).
    """

    def __init__(self, initial: Any = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = initial

    def compose(self) -> ComposeResult:
        yield Static(HOOD_EMPTY, id="hood-view")

    def on_mount(self) -> None:
        if self._initial is not None:
            self.show(self._initial)

    def show(self, explanation: Any) -> None:
        """An Explanation, or a plain message (markup) when there is none."""
        view = self.query_one("#hood-view", Static)
        if isinstance(explanation, str):
            view.update(explanation)
        else:
            from tui_hf.ui.inference.render import render_explanation

            view.update(render_explanation(explanation))
