"""The screenshot script drives the real app through each main view; each SVG shows its view."""

from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def svg_text(path: Path) -> str:
    """The characters an SVG screenshot shows, as one string (Textual writes one <text> per style run)."""
    raw = path.read_text(encoding="utf-8")
    runs = re.findall(r"<text[^>]*>(.*?)</text>", raw, flags=re.S)
    return html.unescape("".join(re.sub(r"<[^>]+>", "", r) for r in runs)).replace("\xa0", " ")


async def test_screenshots_show_each_view(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_screenshots", ROOT / "screenshots" / "make_screenshots.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shots = await module.capture(tmp_path)
    expected = {
        "tokens": ["chars/token", "batch of 2", "decode(ids)", "[CLS]", "mask"],
        "embeddings": ["pooled shape", "(3, 384)", "cosine similarity"],
        "under-the-hood": ["input_ids", "attention_mask", "model(**inputs).logits", "softmax"],
        "ner": ["word", "type", "score", "span"],
        "question-answering": ["Q:", "A:", "top answers"],
        "generation": ["In this course, we will teach you how to", "sequence 2"],
        "training": ["embedded-sentiment", "samples/s", "loss", "step", "evaluation"],
        "model-picker": ["Embedded", "Finetuned runs", "Hub", "offline", "tasks:"],
        "tokens-stages": ["normalizer", "pre-tokenizer", "WordPiece", "offsets in your text"],
        "tokens-80x24": ["F2 Tokens", "[CLS]", "pad to longest", "Cancel"],
        "training-80x24": ["embedded-sentiment", "running", "New job", "Stop", "loss"],
        "new-job": ["New training job", "Task", "Validation", "Max steps", "Processes", "320 rows"],
    }
    assert set(shots) == set(expected)
    for name, words in expected.items():
        text = svg_text(shots[name])
        for word in words:
            assert word in text, f"{name}: {word!r} not on screen"
