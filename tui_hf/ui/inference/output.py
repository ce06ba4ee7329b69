"""The model output pane and the "under the hood" pane."""

from __future__ import annotations

import dataclasses
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Static


class OutputPane(Vertical):
    """The latest result of a run, drawn for its task, with a raw JSON view and copy."""

    class ChatReset(Message):
        pass

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: Any = None
        self.meta = ""
        self.raw = False
        self.cancelled = False  # the result is what a cancelled run streamed before it stopped

    def compose(self) -> ComposeResult:
        with Horizontal(id="output-bar"):
            yield Static("", id="output-meta")
            yield Button("New chat", id="output-new-chat", compact=True)
            yield Button("Raw JSON", id="output-raw", compact=True)
            yield Button("Copy", id="output-copy", compact=True)
        with VerticalScroll(id="output-scroll"):
            yield Static("Run the task (ctrl+r) to see the model's output here.", id="output-view")

    def on_mount(self) -> None:
        self.set_chat(False)

    def set_chat(self, chat: bool) -> None:
        self.query_one("#output-new-chat", Button).display = chat

    def show_result(self, result: Any, meta: str) -> None:
        self.result = result
        self.cancelled = False
        self.meta = meta
        self.query_one("#output-meta", Static).update(meta)
        self._draw()

    def mark_cancelled(self) -> None:
        """A cancelled run keeps what it streamed so far, marked as cut short."""
        if self.result is not None:
            self.cancelled = True
            self._draw()
            self.query_one("#output-meta", Static).update(self.meta.replace(" · [yellow]streaming…[/yellow]", "") +
                                                          " · [yellow]cancelled[/yellow]")
        else:
            self.show_message("[yellow]Cancelled.[/yellow]")

    def show_message(self, markup: str) -> None:
        self.result = None
        self.query_one("#output-meta", Static).update("")
        self.query_one("#output-view", Static).update(markup)
        self._show_trace(None)

    def _show_trace(self, result: Any) -> None:
        """Results recorded token by token (generation, chat, scoring) are shown in the token cursor view
        (ui/inference/trace.py), mounted the first time one comes; the rendered view stays up to date under it."""
        panels = self.query("TracePanel")
        if result is None or self.raw or getattr(result, "traces", None) == [] or \
                not any(getattr(result, name, None) for name in ("traces", "trace")):
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
        if self.raw:
            from rich.syntax import Syntax

            from tui_hf.ui.inference.render import to_json

            view.update(Syntax(to_json(self.result), "json", theme="monokai", background_color="default",
                               word_wrap=True))  # a long value wraps rather than being cut at the pane's edge
        else:
            from tui_hf.ui.inference.render import render_result  # the task modules load with the first result

            view.update(render_result(shown))
        self._show_trace(None if self.raw else shown)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "output-new-chat":
            self.post_message(self.ChatReset())
        elif event.button.id == "output-raw":
            self.raw = not self.raw
            event.button.label = "Rendered" if self.raw else "Raw JSON"
            self._draw()
        elif event.button.id == "output-copy" and self.result is not None:
            from tui_hf.ui.inference.render import to_json

            self.app.copy_to_clipboard(to_json(self.result))
            self.notify("Result copied as JSON (terminal clipboard)", timeout=3)


HOOD_EMPTY = ("Run the task to see the explicit PyTorch path: tokenizer → tensors → model → logits → softmax → "
              "labels.")


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
