"""Breakdown latency: the app's tokenize path vs the bare tokenizer call, and typing into a huge input.

Part 1 (side by side, same tokenizer, same text): `tok(text)` with offsets and masks, vs the app's worker
path, `breakdown()` + `wrap()` (all the pane needs to draw), then the stages view at 1k and 10k characters
against the same bare call. Part 2 drives the real app headless with a
100k-character input and times keystrokes: key to edited text, and key to refreshed breakdown.
Usage: python bench/tokens.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

WORDS = (
    "Hugging Face transformers tokenize text into sub-word units; a tokenizer's vocabulary decides how "
    "many pieces each word becomes, and rarely-seen words like xylophonists split finely. "
).split()


def make_text(chars: int) -> str:
    out, n, i = [], 0, 0
    while n < chars:
        w = WORDS[i % len(WORDS)]
        out.append(w)
        n += len(w) + 1
        i += 1
    return " ".join(out)[:chars]


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def side_by_side() -> None:
    from transformers import AutoTokenizer

    from tui_hf.core.hub import embedded_model_dir
    from tui_hf.core.tokens import breakdown
    from tui_hf.ui.inference.tokens import wrap

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    print("breakdown latency, all-MiniLM-L6-v2 WordPiece (best of N, ms)")
    print(f"  {'chars':>7} {'tokens':>7} {'bare tok()':>11} {'app path':>9} {'added':>8}")
    for chars in (100, 1_000, 10_000, 100_000):
        text = make_text(chars)
        repeat = 30 if chars <= 10_000 else 5

        def bare(text: str = text) -> object:
            return tok(
                [text],
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                return_attention_mask=True,
                return_token_type_ids=True,
            )

        def app(text: str = text) -> object:
            return wrap(breakdown(tok, [text]), 120)

        bare(), app()  # warm up
        b, a = best_of(bare, repeat), best_of(app, repeat)
        n = breakdown(tok, [text]).total_tokens
        print(f"  {chars:>7} {n:>7} {b * 1e3:>11.2f} {a * 1e3:>9.2f} {(a - b) * 1e3:>+8.2f}")


def stage_view() -> None:
    """The stages view (normalizer, pre-tokenizer words, model pieces, post-processor) for one input, as the
    tokens pane computes it while it is shown, vs the bare tokenizer call on the same text."""
    from transformers import AutoTokenizer

    from tui_hf.core.hub import embedded_model_dir
    from tui_hf.core.tokenizer_stages import stages
    from tui_hf.ui.inference.stages import stage_lines

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    print("\nstages view, all-MiniLM-L6-v2 WordPiece (best of N, ms)")
    print(f"  {'chars':>7} {'bare tok()':>11} {'stages':>9} {'+ lines':>9} {'ratio':>7}")
    for chars in (1_000, 10_000):
        text = make_text(chars)

        def bare(text: str = text) -> object:
            return tok(
                [text],
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                return_attention_mask=True,
                return_token_type_ids=True,
            )

        def computed(text: str = text) -> object:
            return stages(tok, text)

        def drawn(text: str = text) -> object:
            return stage_lines(stages(tok, text))

        bare(), drawn()  # warm up
        b, c, d = best_of(bare, 20), best_of(computed, 20), best_of(drawn, 20)
        print(f"  {chars:>7} {b * 1e3:>11.2f} {c * 1e3:>9.2f} {d * 1e3:>9.2f} {d / b:>6.1f}×")


async def typing_in_huge_input(text: str, label: str, keys: int = 15) -> None:
    """Key press to: the key event handled by the TextArea, and the breakdown refreshed for the new text."""
    from textual.widgets import TextArea

    from tui_hf.ui.app import AppSettings, make_app
    from tui_hf.ui.messages import TokensComputed

    seen: dict[str, float] = {}

    def hook(message: object) -> None:
        if isinstance(message, TextArea.Changed):
            seen.setdefault("edited", time.perf_counter())
        elif isinstance(message, TokensComputed):
            seen["tokens"] = time.perf_counter()

    app = make_app(AppSettings(text=text, log_path=None))
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        while app.breakdown is None:
            await pilot.pause(0.05)
        area = app.query_one("#input-text", TextArea)
        area.focus()
        area.move_cursor((area.document.line_count // 2, 10))
        await pilot.pause(0.3)
        edited, refreshed = [], []
        for _ in range(keys):
            seen.clear()
            before = app.breakdown
            t = time.perf_counter()
            await pilot.press("x")
            while app.breakdown is before:
                await asyncio.sleep(0.001)
            edited.append(seen["edited"] - t)
            refreshed.append(seen["tokens"] - t)
            await pilot.pause(0.2)  # a typist's pause between keys
    med = statistics.median
    print(
        f"  {label:<34} {med(edited) * 1e3:7.1f} {max(edited) * 1e3:7.1f}"
        f" {med(refreshed) * 1e3:9.1f} {max(refreshed) * 1e3:7.1f}"
    )


async def typing() -> None:
    print("\ntyping into a 100,000-character input (ms; the breakdown waits for a 60 ms typing pause)")
    print(f"  {'input':<34} {'key→edit':>7} {'max':>7} {'key→tokens':>9} {'max':>7}")
    paragraphs = "\n".join(make_text(2_000) for _ in range(50))  # a pasted document: 50 paragraphs
    await typing_in_huge_input(paragraphs, "50 paragraphs of 2,000 chars")
    await typing_in_huge_input(make_text(100_000), "one 100,000-char line")


if __name__ == "__main__":
    side_by_side()
    stage_view()
    asyncio.run(typing())
