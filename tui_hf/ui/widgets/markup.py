"""Escaping text for Textual's markup (what `Static.update(str)`, labels and notifications parse).

Textual reads any `[word]` as a tag, upper case too, so a tokenizer's `[UNK]` or `[MASK]` vanishes from an
f-string unless escaped; `rich.markup.escape` only escapes what Rich would read as a tag (lower case), and
Rich renderables (ui/inference/render.py) keep using it.
"""

from __future__ import annotations

ZERO_WIDTH = "\u200b"


def escape(text: str) -> str:
    """`text` shown as is inside Textual markup.

    Textual opens a tag at any `[` not preceded by a backslash, and has no escape for the backslash itself:
    so every `[` gets one, and a trailing backslash gets a zero-width space after it, or it would disable the
    tag that closes the markup around `text`.
    """
    text = text.replace("[", "\\[")
    return text + ZERO_WIDTH if text.endswith("\\") else text
