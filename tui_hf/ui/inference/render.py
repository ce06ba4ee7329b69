"""Rich renderables for task results: each result type is read the way that task is best read."""

from __future__ import annotations

import json
from functools import singledispatch
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tui_hf.core.generation.scoring import ScoreResult
from tui_hf.core.tasks.chat import ChatResult
from tui_hf.core.tasks.classification import ClassificationResult
from tui_hf.core.tasks.common import Explanation, to_jsonable
from tui_hf.core.tasks.embedding import EmbeddingResult
from tui_hf.core.tasks.fill_mask import FillMaskResult
from tui_hf.core.tasks.generation import GenerationResult
from tui_hf.core.tasks.qa import QAResult
from tui_hf.core.tasks.seq2seq import Seq2SeqResult
from tui_hf.core.tasks.token_classification import TokenClassificationResult
from tui_hf.core.tasks.zero_shot import ZeroShotResult

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
        # a sentence pair shows both texts, as the model read them together
        second = getattr(item, "text_pair", None)
        shown = f"“{item.text}” ‖ “{second}”" if second else f"“{item.text}”"
        parts += [Text(shown, style="italic"), table, Text("")]
    return Group(*parts)


def render_embedding(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    rows, dim = result.shape
    parts.append(
        Text.from_markup(
            f"[b]pooled shape[/b] ({rows}, {dim}) · {result.pooling} pooling"
            f"{' · L2-normalised' if result.normalized else ''}"
        )
    )
    # One block per input (text first, then numbers): it stays readable from 60 columns up, where a wide
    # table would squeeze the text column to nothing.
    for i, item in enumerate(result.items):
        preview = "[" + ", ".join(f"{v:+.3f}" for v in item.preview[:6]) + ", …]"
        head = Text(f"{i + 1} ", style="bold")
        head.append(item.text if len(item.text) <= 200 else item.text[:200] + "…")
        # The norm is the pooled vector's before normalising: after it every norm is 1, which says nothing.
        norm = f"norm {item.norm:.3f} before normalising" if result.normalized else f"norm {item.norm:.3f}"
        parts += [head, Text(f"  {item.tokens} tokens · {norm}", style="dim"), Text(f"  {preview}", style="dim")]
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
    if explanation.note:
        parts.append(Text(explanation.note, style="yellow"))
    for step in explanation.steps:
        # Wrapped, not cropped: at 80 columns a crop ate the end of a call (its closing bracket, its comment).
        parts.append(Syntax(step.code, "python", theme="monokai", background_color="default", word_wrap=True))
        if step.note:
            parts.append(Text("# " + step.note, style="dim italic"))
        parts.append(Text(step.value))
        parts.append(Text(""))
    return Group(*parts)


ENTITY_COLOURS = ("#5f87ff", "#ff875f", "#5fd75f", "#d75fd7", "#d7d75f", "#5fd7d7", "#ff5f87")


def _entity_style(kind: str, kinds: list[str]) -> str:
    return f"bold #000000 on {ENTITY_COLOURS[kinds.index(kind) % len(ENTITY_COLOURS)]}"


def render_token_classification(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    kinds = sorted({e.type for item in result.items for e in item.entities})
    if kinds:
        legend = Text("types: ")
        for kind in kinds:
            legend.append(f" {kind} ", style=_entity_style(kind, kinds))
            legend.append(" ")
        parts.append(legend)
    for item in result.items:
        text = Text(item.text)
        for e in item.entities:
            if 0 <= e.start < e.end:
                text.stylize(_entity_style(e.type, kinds), e.start, e.end)
        parts += [text]
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("word", "type", "score", "span"):
            table.add_column(col, justify="right" if col in ("score", "span") else "left")
        for e in item.entities:
            table.add_row(
                escape(e.word), Text(e.type, style=_entity_style(e.type, kinds)), f"{e.score:.3f}", f"{e.start}:{e.end}"
            )
        parts += [table if item.entities else Text("no entities found", style="dim"), Text("")]
    return Group(*parts)


def render_qa(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    parts.append(Text.from_markup(f"[b]Q:[/b] {escape(result.question)}"))
    if not result.answers:
        parts.append(Text("no answer span found in the context", style="yellow"))
        return Group(*parts)
    best = result.answers[0]
    parts.append(
        Text.from_markup(
            f"[b]A:[/b] [b green]{escape(best.text)}[/b green]  score {best.score:.4f} · "
            f"chars {best.start}:{best.end} · {result.windows} window"
            f"{'s' if result.windows > 1 else ''}"
        )
    )
    lo, hi = max(0, best.start - 400), min(len(result.context), best.end + 400)
    context = Text(("…" if lo else "") + result.context[lo:hi] + ("…" if hi < len(result.context) else ""))
    shift = 1 if lo else 0
    for k, answer in enumerate(result.answers):
        if lo <= answer.start and answer.end <= hi:
            style = "bold #000000 on #5fd75f" if k == 0 else "underline #d7d75f"
            context.stylize(style, answer.start - lo + shift, answer.end - lo + shift)
    parts += [Text(""), context]
    if len(result.answers) > 1:
        table = Table(box=None, header_style="bold", title="top answers", title_justify="left")
        for col in ("#", "answer", "score", "", "span"):
            table.add_column(col)
        for k, a in enumerate(result.answers):
            table.add_row(
                str(k + 1), escape(a.text), f"{a.score:.4f}", f"[blue]{bar(a.score, 20)}[/blue]", f"{a.start}:{a.end}"
            )
        parts += [Text(""), table]
    return Group(*parts)


def render_fill_mask(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    for item in result.items:
        parts.append(Text.from_markup(f"[dim]{escape(item.text)}[/dim]"))
        parts.append(Text.from_markup(f"[b]→[/b] [b green]{escape(item.filled)}[/b green]"))
        for m, candidates in enumerate(item.masks):
            table = Table.grid(padding=(0, 1))
            table.add_column(no_wrap=True, style="bold")
            table.add_column(no_wrap=True)
            table.add_column(justify="right")
            top = candidates[0].score if candidates else 1.0
            for c in candidates:
                table.add_row(escape(c.token), f"[blue]{bar(c.score / max(top, 1e-9), 24)}[/blue]", f"{c.score:.4f}")
            if len(item.masks) > 1:
                parts.append(Text(f"mask {m + 1}", style="dim"))
            parts.append(table)
        parts.append(Text(""))
    return Group(*parts)


def settings_line(settings: dict[str, Any], sources: dict[str, str]) -> Text:
    """Generation values as `name value`, each with where it came from (model, task_specific_params...)
    when that is not the user."""
    line = Text(style="dim")
    for k, (name, value) in enumerate(settings.items()):
        if k:
            line.append(" · ")
        line.append(f"{name} {value}")
        source = sources.get(name, "")
        if source and source != "given":
            line.append(f" ({source})", style="italic")
    return line


def render_seq2seq(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    if getattr(result, "src_lang", "") or getattr(result, "tgt_lang", ""):
        languages = Text(f"{result.src_lang} → {result.tgt_lang}", style="bold")
        if result.forced_token:
            languages.append(f" · target token {result.forced_token} forced first", style="dim")
        parts.append(languages)
    if result.prefix:
        parts.append(Text(f"prefix {result.prefix!r}", style="dim"))
    parts.append(settings_line(result.settings, getattr(result, "sources", {})))
    for item in result.items:
        parts += [Text(item.input, style="dim italic"), Text.from_markup(f"[b]→[/b] {escape(item.output)}"), Text("")]
    return Group(*parts)


def traced_text(tokens: list[Any]) -> Text:
    """Tokens coloured by their probability (context tokens dim), as the token cursor view shows them."""
    from tui_hf.ui.inference.probability import probability_style

    text = Text()
    for k, t in enumerate(tokens):
        text.append(
            t.text if t.text or t.probability is None else t.shown, probability_style(t.probability, k, t.special)
        )
    return text


def _beside(result: Any, render: Any) -> list[RenderableType]:
    """A second model's result under a rule with its name (the interactive view puts it side by side)."""
    other = getattr(result, "beside", None)
    if other is None:
        return []
    from rich.rule import Rule

    return [Rule(f"beside: {other.model}", align="left", style="dim"), render(other)]


def render_generation(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    if getattr(result, "beside", None) is not None and result.model:
        parts.append(Text(result.model, style="bold"))
    parts.append(settings_line(result.settings, getattr(result, "sources", {})))
    for k, seq in enumerate(result.sequences):
        text = Text(result.prompt, style="dim")
        text.append(seq, style="bold")
        if not result.done and k == len(result.sequences) - 1:
            text.append("▌", style="blink")
        if len(result.sequences) > 1 or not result.done:
            parts.append(Text(f"sequence {k + 1}", style="underline"))
        parts += [text, Text("")]
    return Group(*parts, *_beside(result, render_generation))


def render_chat(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    for k, m in enumerate(result.messages):
        style = {"user": "bold cyan", "assistant": "bold green", "system": "bold magenta"}.get(m.role, "bold")
        body = Text(m.content)
        if not result.done and k == len(result.messages) - 1:
            body.append("▌", style="blink")
        parts += [Text(m.role, style=style), body, Text("")]
    return Group(*parts, *_beside(result, render_chat))


def score_summary(result: Any) -> list[RenderableType]:
    """Perplexity and mean negative log-likelihood, in all and per reply of a chat."""
    line = Text()
    line.append(f"perplexity {result.perplexity:.3f}", style="bold")
    line.append(
        f" · mean NLL {result.nll:.4f} nats · {result.tokens} tokens scored · log p {result.total_logprob:.2f} in all",
        style="dim",
    )
    out: list[RenderableType] = [line]
    for turn in result.turns:
        preview = turn.content if len(turn.content) <= 40 else turn.content[:40] + "…"
        out.append(
            Text(
                f"  reply {turn.message + 1} {preview!r}: perplexity {turn.perplexity:.3f} over {turn.tokens} tokens",
                style="dim",
            )
        )
    return out


def render_score(result: Any) -> RenderableType:
    parts: list[RenderableType] = warnings_block(result.warnings)
    parts += score_summary(result)
    parts.append(traced_text(result.trace.current.tokens))
    return Group(*parts)


def to_json(result: Any) -> str:
    return json.dumps(to_jsonable(result), indent=2, ensure_ascii=False)


@singledispatch
def render_result(result: Any) -> RenderableType:
    """A result drawn the way its task is best read; registered per result class below.

    The base case draws JSON so a user always sees something, but every task's result class must have its
    own renderer: tests/test_render.py fails for one that falls through to here.
    """
    return Text(to_json(result))


render_result.register(ClassificationResult, render_classification)
render_result.register(ZeroShotResult, render_classification)
render_result.register(EmbeddingResult, render_embedding)
render_result.register(TokenClassificationResult, render_token_classification)
render_result.register(QAResult, render_qa)
render_result.register(FillMaskResult, render_fill_mask)
render_result.register(Seq2SeqResult, render_seq2seq)
render_result.register(GenerationResult, render_generation)
render_result.register(ChatResult, render_chat)
render_result.register(ScoreResult, render_score)
