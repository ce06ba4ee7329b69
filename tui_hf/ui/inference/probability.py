"""One colour scale for token probabilities, shared by the token cursor view and the static renderers."""

from __future__ import annotations

from rich.style import Style

# (lowest probability of the band, background for even tokens, for odd tokens): neighbours in one band
# alternate shades so that token boundaries stay visible.
BANDS = (
    (0.8, "#1f6f3a", "#2a7f46"),
    (0.5, "#4d7320", "#5a822a"),
    (0.2, "#7a6a1a", "#877626"),
    (0.05, "#8a4a1a", "#985626"),
    (0.0, "#8a2a2a", "#993636"),
)
CONTEXT = Style(color="#8a8a8a")
UNSCORED = Style(color="#c8c8c8", bgcolor="#3a3a3a")


def band(probability: float) -> int:
    return next(i for i, (low, _even, _odd) in enumerate(BANDS) if probability >= low)


def probability_style(probability: float | None, position: int = 0, special: bool = False) -> Style:
    if probability is None:
        return CONTEXT
    _low, even, odd = BANDS[band(probability)]
    return Style(color="#ffffff", bgcolor=odd if position % 2 else even, italic=special)


def legend() -> list[tuple[str, Style]]:
    """The scale as (label, style) pieces: 'p ≥.8 ≥.5 ≥.2 ≥.05 <.05'."""
    out: list[tuple[str, Style]] = [("p ", Style(dim=True))]
    for low, even, _odd in BANDS:
        label = f" ≥{str(low).lstrip('0')} " if low else " <.05 "
        out += [(label, Style(color="#ffffff", bgcolor=even)), (" ", Style())]
    return out
