"""Rich renderables for task results: each result type is read the way that task is best read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tui_hf.core.tasks.common import Explanation, to_jsonable

_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int = 30) -> str:
    """A horizontal bar `width` cells wide at full scale, with eighth-cell precision."""
    fraction = min(max(fraction, 0.0), 1.0)
    full, rest = divmod(round(fraction * width * 8), 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def warnings_block(warnings: list[str]) -> list[RenderableType]:
    return [Text.from_markup(f"[b yellow]⚠[/b yellow] [yellow]{escape(w)}[/yellow]") for w in warnings]


def render_classification(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    for item in result.items:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for k, ls in enumerate(item.labels):
            colour = "green" if k == 0 else "blue"
            table.add_row(escape(ls.label), f"[{colour}]{bar(ls.score)}[/{colour}]", f"{ls.score:.4f}")
        parts += [Text(f"“{item.text}”", style="italic"), table, Text("")]
    return Group(*parts)


def render_embedding(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    rows, dim = result.shape
    parts.append(Text.from_markup(
        f"[b]pooled shape[/b] ({rows}, {dim}) · {result.pooling} pooling"
        f"{' · L2-normalised' if result.normalized else ''}"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("#", "input", "tokens", "norm", "first values"):
        table.add_column(col, no_wrap=col != "input", overflow="ellipsis")
    for i, item in enumerate(result.items):
        preview = "[" + ", ".join(f"{v:+.3f}" for v in item.preview[:6]) + ", …]"
        table.add_row(str(i + 1), escape(item.text[:60]), str(item.tokens), f"{item.norm:.3f}", preview)
    parts.append(table)
    if rows > 1:
        sim = Table(title="cosine similarity", box=None, header_style="bold", title_justify="left")
        sim.add_column("")
        for j in range(rows):
            sim.add_column(str(j + 1), justify="right")
        for i, row in enumerate(result.similarity):
            sim.add_row(str(i + 1), *(_sim_cell(v, i == j) for j, v in enumerate(row)))
        parts.append(sim)
    return Group(*parts)


def _sim_cell(value: float, diagonal: bool) -> str:
    if diagonal:
        return f"[dim]{value:.3f}[/dim]"
    colour = "green" if value > 0.6 else "yellow" if value > 0.3 else "red"
    return f"[{colour}]{value:.3f}[/{colour}]"


def render_explanation(explanation: Explanation) -> RenderableType:
    from rich.syntax import Syntax

    parts: list[RenderableType] = [Text(explanation.title, style="bold underline")]
    for step in explanation.steps:
        parts.append(Syntax(step.code, "python", theme="monokai", background_color="default"))
        if step.note:
            parts.append(Text("# " + step.note, style="dim italic"))
        parts.append(Text(step.value))
        parts.append(Text(""))
    return Group(*parts)


RENDERERS: dict[str, Callable[[Any], RenderableType]] = {
    "ClassificationResult": render_classification,
    "EmbeddingResult": render_embedding,
}


def render_result(result: Any) -> RenderableType:
    renderer = RENDERERS.get(type(result).__name__)
    if renderer is None:
        return Text(to_json(result))
    return renderer(result)


def to_json(result: Any) -> str:
    return json.dumps(to_jsonable(result), indent=2, ensure_ascii=False)
