"""Two tokenizers side by side on the same text."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from tui_hf.ui.panes.tokens import TokenTextView


class ComparePane(Vertical):
    class CompareRequested(Message):
        def __init__(self, reference: str) -> None:
            super().__init__()
            self.reference = reference

    def compose(self) -> ComposeResult:
        with Horizontal(id="compare-bar"):
            yield Label("Compare with", classes="field-label")
            yield Input(placeholder="hub id or model directory, e.g. ./my-model or openai-community/gpt2",
                        id="compare-ref")
            yield Button("Load", id="compare-load", compact=True)
        yield Static("Load a second tokenizer to compare its split of the input with the current one.",
                     id="compare-summary")
        with Horizontal(id="compare-views"):
            with Vertical():
                yield Static("", id="compare-title-a", classes="compare-title")
                yield TokenTextView(id="compare-a")
            with Vertical():
                yield Static("", id="compare-title-b", classes="compare-title")
                yield TokenTextView(id="compare-b")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._request()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._request()

    def _request(self) -> None:
        ref = self.query_one("#compare-ref", Input).value.strip()
        if ref:
            self.post_message(self.CompareRequested(ref))

    def view_width(self) -> int:
        return self.query_one("#compare-a", TokenTextView)._width()

    def show(self, comparison: Any, lines_a: list[Any], lines_b: list[Any]) -> None:
        c = comparison
        ratio = c.total_b / max(c.total_a, 1)
        per_input = ""
        if len(c.counts_a) > 1:
            per_input = " · per input: " + ", ".join(f"{a}/{b}" for a, b in zip(c.counts_a, c.counts_b))
        self.query_one("#compare-summary", Static).update(
            f"[b]{c.total_a}[/b] vs [b]{c.total_b}[/b] tokens ({ratio:.2f}×){per_input}")
        self.query_one("#compare-title-a", Static).update(f"[b]A[/b] {c.name_a} · {c.total_a} tokens")
        self.query_one("#compare-title-b", Static).update(f"[b]B[/b] {c.name_b} · {c.total_b} tokens")
        self.query_one("#compare-a", TokenTextView).show(c.a, lines_a)
        self.query_one("#compare-b", TokenTextView).show(c.b, lines_b)

    def show_error(self, message: str) -> None:
        from rich.markup import escape

        self.query_one("#compare-summary", Static).update(f"[red]{escape(message)}[/red]")
