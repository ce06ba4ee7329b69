"""Two tokenizers side by side on the same text, kept current as the input or the model changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static
from textual.worker import get_current_worker

from tui_hf.core.tokens import TokenizeSettings
from tui_hf.ui.markup import escape
from tui_hf.ui.panes.tokens import TokenTextView, wrap


class ComparePane(Vertical):
    @dataclass
    class Compared(Message):
        comparison: Any
        lines_a: list[Any]
        lines_b: list[Any]
        other: Any  # the second tokenizer, kept for the next refresh
        reference: str

    @dataclass
    class Failed(Message):
        error: str

    def __init__(self, offline: bool = False, trust_remote_code: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.offline, self.trust_remote_code = offline, trust_remote_code
        self.tokenizer: Any = None  # the app's current tokenizer (side A)
        self.texts: list[str] = []
        self.settings = TokenizeSettings()
        self.other: Any = None  # side B, once loaded
        self.reference: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="compare-bar"):
            yield Label("Compare with", classes="field-label")
            yield Input(placeholder="hub id or model directory, e.g. ./my-model or openai-community/gpt2",
                        id="compare-ref", compact=True)
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

    def update_source(self, tokenizer: Any, texts: list[str], settings: TokenizeSettings) -> None:
        """The input, its settings or the app's tokenizer changed: compare again if there is a side B."""
        self.tokenizer, self.texts, self.settings = tokenizer, texts, settings
        if self.other is not None and self.tokenizer is not None:
            self._compare(self.reference or "", self.other)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._request()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._request()

    def _request(self) -> None:
        reference = self.query_one("#compare-ref", Input).value.strip()
        if not reference:
            return
        if self.tokenizer is None:
            self.notify("The current tokenizer is still loading.", severity="warning")
            return
        self.query_one("#compare-summary", Static).update(f"loading {escape(reference)}…")
        self._compare(reference, None)

    def _width(self) -> int:
        return self.query_one("#compare-a", TokenTextView)._width()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="compare tokenizers")
    def _compare(self, reference: str, other: Any) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.hub import parse_ref, resolve
        from tui_hf.core.models import load_tokenizer
        from tui_hf.core.tokens import compare

        try:
            if other is None:
                other = load_tokenizer(resolve(parse_ref(reference), offline=self.offline), self.trust_remote_code)
            comparison = compare(self.tokenizer, other, self.texts or [""], self.settings)
        except TuiHfError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        except Exception as exc:  # a tokenizer that fails on this text: say so, keep the pane usable
            self.post_message(self.Failed(f"{type(exc).__name__}: {exc}"))
            return
        width = self._width()
        if not get_current_worker().is_cancelled:
            self.post_message(self.Compared(comparison, wrap(comparison.a, width), wrap(comparison.b, width),
                                            other, reference))

    def on_compare_pane_compared(self, message: ComparePane.Compared) -> None:
        message.stop()
        self.other, self.reference = message.other, message.reference
        c = message.comparison
        ratio = c.total_b / max(c.total_a, 1)
        per_input = ""
        if len(c.counts_a) > 1:
            per_input = " · per input: " + ", ".join(f"{a}/{b}" for a, b in zip(c.counts_a, c.counts_b))
        self.query_one("#compare-summary", Static).update(
            f"[b]{c.total_a}[/b] vs [b]{c.total_b}[/b] tokens ({ratio:.2f}×){per_input}")
        self.query_one("#compare-title-a", Static).update(f"[b]A[/b] {escape(c.name_a)} · {c.total_a} tokens")
        self.query_one("#compare-title-b", Static).update(f"[b]B[/b] {escape(c.name_b)} · {c.total_b} tokens")
        self.query_one("#compare-a", TokenTextView).show(c.a, message.lines_a)
        self.query_one("#compare-b", TokenTextView).show(c.b, message.lines_b)

    def on_compare_pane_failed(self, message: ComparePane.Failed) -> None:
        message.stop()
        self.query_one("#compare-summary", Static).update(f"[red]{escape(message.error)}[/red]")
