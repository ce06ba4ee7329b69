"""Text fitted to terminal cells: East Asian wide characters and most emoji take two, so a string's length is not
its width on screen (the token views wrap pieces by what fits, not by characters)."""

from __future__ import annotations

from rich.cells import cell_len


def fit_cells(text: str, cells: int) -> str:
    """The longest start of `text` that fits in `cells` columns ("" when not even its first character does;
    rich.cells.chop_cells would split a wide character's line differently and refuses a width of 0)."""
    if len(text) == cell_len(text):  # one cell per character: the common case, without a per-character walk
        return text[: max(cells, 0)]
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > cells:
            break
        out.append(ch)
        used += w
    return "".join(out)


def fit_fields(fields: list[str], cells: int, drop: list[int], keep: int = 2) -> list[str]:
    """The fields that fit in `cells` columns joined by " · ": all of them, else without those in `drop` (by
    index, least wanted first), one at a time, down to `keep` of them: a line that drops a field rather than
    being cut mid-word at 80 columns."""
    kept = list(range(len(fields)))
    for index in drop:
        if cell_len(" · ".join(fields[i] for i in kept)) <= cells or len(kept) <= keep:
            break
        kept.remove(index)
    return [fields[i] for i in kept]


def elide_middle(text: str, room: int) -> str:
    """`text` in `room` characters, its middle given up ("20261205-091416-embe…-native"): a run's name keeps
    the date stamp that tells runs apart and the engine at its end."""
    if len(text) <= room:
        return text
    head = room * 3 // 5
    return f"{text[:head]}…{text[len(text) - (room - head - 1) :]}"
