"""Reading what the app shows, as text."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def text_of(widget: Any, width: int = 140) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    content = widget.content if hasattr(widget, "content") else widget.render()
    console.print(content)
    return console.export_text()
