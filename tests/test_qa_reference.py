"""Question answering against what transformers 4.57's pipeline answered (tests/reference/v4_qa.json).

The JSON and the tiny models beside it are made by scripts/v4_reference_qa.py in a transformers 4.57 venv.
Answer text and character spans must match exactly, scores to 1e-4 relative, windows in number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).parent / "reference"
CASES = json.loads((REFERENCE / "v4_qa.json").read_text())["cases"]


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.tasks import get_task

    spec = get_task("question-answering")
    return {name: load(resolve(parse_ref(str(REFERENCE / "models" / name))), spec, "cpu")
            for name in sorted({c["model"] for c in CASES})}


def answer(models: dict[str, Any], case: dict[str, Any], explain: bool = False) -> Any:
    from tui_hf.core.tasks import get_task

    loaded = models[case["model"]]
    side = loaded.tokenizer.padding_side
    loaded.tokenizer.padding_side = case["padding_side"]
    try:
        return get_task("question-answering").load_runner()(
            loaded, [case["question"]], {"context": case["context"], **case["settings"]}, explain=explain)
    finally:
        loaded.tokenizer.padding_side = side


def same(result: Any, case: dict[str, Any]) -> None:
    got = [(a.text, a.start, a.end) for a in result.answers]
    want = [(a["answer"], a["start"], a["end"]) for a in case["answers"]]
    assert got == want, f"{case['name']}: answers differ from v4"
    for a, b in zip(result.answers, case["answers"]):
        assert a.score == pytest.approx(b["score"], rel=1e-4), f"{case['name']}: score of {b['answer']!r}"
    assert result.windows == case["windows"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_answers_as_transformers_4_57(models: dict[str, Any], case: dict[str, Any]) -> None:
    same(answer(models, case), case)
