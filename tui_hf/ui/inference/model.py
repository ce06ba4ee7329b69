"""The sidebar's model box: the reference to load, and a card of the model that is really loaded."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from tui_hf.ui.widgets.markup import escape


class ModelBox(Vertical):
    class Chosen(Message):
        """The user typed a reference and pressed Enter (None: each task's default)."""

        def __init__(self, reference: str | None) -> None:
            super().__init__()
            self.reference = reference

    def __init__(self, reference: str | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._reference = reference

    def compose(self) -> ComposeResult:
        yield Label("Model  [dim]ctrl+o picks[/dim]", classes="section")
        yield Input(self._reference or "", placeholder="default for the task | hub id | ./dir", id="model")
        yield Static("", id="model-card")

    def set_reference(self, reference: str) -> None:
        self.query_one("#model", Input).value = reference

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Chosen(event.value.strip() or None))

    def show_loaded(self, info: Any, remote_code: bool, note: str = "") -> None:
        """The card of the model in memory: what Run uses, whatever the last load attempt did."""
        labels = ", ".join(list(info.labels.values())[:6])
        card = (
            f"[b]{escape(info.title)}[/b]\n{info.architecture}\nfor [b]{info.task}[/b]\n"
            f"{info.parameters_text} params · {info.dtype}\n"
            f"vocab {info.vocab_size:,} · max pos {info.max_positions or '?'}\n"
            f"tokenizer {escape(info.tokenizer_class)}" + (f"\nlabels {escape(labels)}" if labels else "")
        )
        if info.adapter_on:
            card += f"\nLoRA adapter on {escape(info.adapter_on)}"
        if info.placement:
            card += f"\nlayers on {escape(info.placement)}"
        if info.memory_mb is not None:
            card += f"\nmemory {info.memory_mb:,.0f} MiB"
        if info.memory_plan.startswith("the memory estimate"):  # over the free memory: said before loading
            card += f"\n[yellow]⚠ {escape(info.memory_plan)}[/yellow]"
        if remote_code:
            card += "\n[red]remote code allowed (--trust-remote-code)[/red]"
        if info.newly_initialized:
            card += "\n[yellow]⚠ head not trained[/yellow]"
        elif info.warnings:
            card += "\n[yellow]⚠ see the log[/yellow]"
        if note:
            card += f"\n{note}"
        self.query_one("#model-card", Static).update(card)

    def show_nothing(self, note: str) -> None:
        self.query_one("#model-card", Static).update(note)
