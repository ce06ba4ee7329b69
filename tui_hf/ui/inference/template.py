"""The chat template view of the tokens pane: the conversation as the model reads it (rendered through the
template, special tokens and all), coloured token by token, with the tokens training would supervise (the
template's assistant mask) standing out and the others dimmed, and what is wrong with it.

Shown in the tokens pane because that pane answers "what does the model read?", and for a chat the answer is
the rendered conversation, not the message being typed; it follows the typing like the rest of that pane.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style

from tui_hf.ui.inference.token_text import Piece, TokenTextView
from tui_hf.ui.widgets.markup import escape

SUPERVISED = Style(underline=True, bold=True)
NOT_SUPERVISED = Style(color="#7a7a7a", bgcolor="#262626")


class TemplateTextView(TokenTextView):
    """The rendered conversation's tokens; with an assistant mask, supervised tokens are underlined and the
    rest dimmed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mask: list[int] | None = None

    def _style(self, p: Piece, widget: Style) -> Style:
        base = super()._style(p, widget)
        if self.mask is None or p.index is None or p.index >= len(self.mask) or p.kind == "header":
            return base
        if self.selected == (p.seq, p.index):
            return base
        return base + SUPERVISED if self.mask[p.index] else NOT_SUPERVISED


def template_summary(view: Any) -> str:
    """One line: tokens, what is supervised, what the generation prompt added."""
    if not view.available:
        return f"[yellow]{escape(view.reason)}[/yellow]"
    bd = view.breakdown
    n = bd.total_tokens if bd is not None else 0
    parts = [
        f"[b]{n}[/b] tokens in the rendered chat ({len(view.messages)} message{'s' if len(view.messages) != 1 else ''})"
    ]
    if view.assistant_mask is not None:
        parts.append(f"[b]{view.supervised}[/b] supervised [dim](underlined: assistant mask)[/dim]")
    else:
        parts.append("[dim]no assistant mask[/dim]")
    if view.add_generation_prompt and view.generation_prompt:
        parts.append(f"generation prompt [i]{escape(repr(view.generation_prompt))}[/i]")
    return " · ".join(parts)


def template_notes(view: Any) -> str:
    """The warnings (doubled BOS, no generation prompt), then the notes, one per line."""
    if not view.available:
        return ""
    lines = [f"[yellow]⚠ {escape(w)}[/yellow]" for w in view.warnings]
    lines += [f"[dim]{escape(n)}[/dim]" for n in view.notes]
    if not lines:
        lines.append("[green]✓[/green] [dim]one BOS, a generation prompt where one is needed[/dim]")
    return "\n".join(lines)
