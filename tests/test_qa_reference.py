"""Question answering against what transformers 4.57's pipeline answered (tests/reference/v4_qa.json).

The JSON and the tiny models beside it are made by scripts/v4_reference_qa.py in a transformers 4.57 venv.
Answer text and character spans must match exactly, scores to 1e-4 relative, windows in number.
"""

from __future__ import annotations

import json
import re
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
    return {
        name: load(resolve(parse_ref(str(REFERENCE / "models" / name))), spec, "cpu")
        for name in sorted({c["model"] for c in CASES})
    }


def answer(models: dict[str, Any], case: dict[str, Any], explain: bool = False) -> Any:
    from tui_hf.core.tasks import get_task

    loaded = models[case["model"]]
    side = loaded.tokenizer.padding_side
    loaded.tokenizer.padding_side = case["padding_side"]
    try:
        return get_task("question-answering").load_runner()(
            loaded, [case["question"]], {"context": case["context"], **case["settings"]}, explain=explain
        )
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


def case_named(name: str) -> dict[str, Any]:
    return next(c for c in CASES if c["name"] == name)


def test_under_the_hood_shows_the_window_of_the_best_answer(models: dict[str, Any]) -> None:
    case = case_named("long top_k 1")  # recorded because its answer lies beyond the first window
    result = answer(models, case, explain=True)
    same(result, case)
    steps = result.explanation.steps
    best = case["answers"][0]
    window = int(re.search(r"showing window (\d+) of", steps[0].note).group(1))
    assert window > 0
    # The window shown holds the answer: its offsets reach the answer's characters.
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(REFERENCE / "models" / case["model"])
    enc = tok(
        case["question"],
        case["context"],
        truncation="only_second",
        return_overflowing_tokens=True,
        max_length=case["settings"]["max_seq_len"],
        stride=case["settings"]["doc_stride"],
        return_offsets_mapping=True,
    )
    spans = [o for o, sid in zip(enc["offset_mapping"][window], enc.sequence_ids(window)) if sid == 1]
    assert spans[0][0] <= best["start"] and best["end"] <= spans[-1][1]
    assert ", ".join(map(str, enc["input_ids"][window][:6])) in re.sub(r"\s+", " ", steps[0].value)
    table = steps[2].value
    assert "masked" in table and "<- start" in table and "<- end" in table  # question masked; the chosen tokens
    assert f"context[{best['start']}:{best['end']}] = {best['answer']!r}" in steps[-1].value


def test_null_answer_explained(models: dict[str, Any]) -> None:
    case = case_named("handle_impossible_answer, null wins")
    result = answer(models, case, explain=True)
    same(result, case)
    assert f"the null answer wins: its score {case['answers'][0]['score']:.6f}" in result.explanation.steps[-1].value


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"top_k": 0}, "top_k must be at least 1"),
        ({"max_answer_len": 0}, "max_answer_len must be at least 1"),
        ({"max_seq_len": 64, "doc_stride": 65}, "larger than max_seq_len"),
        ({"max_seq_len": 64, "doc_stride": 60}, "doc_stride (60) must be less than"),
        ({"max_seq_len": 8}, "the question leaves no room"),
    ],
)
def test_settings_v4_refused_are_input_errors(models: dict[str, Any], settings: dict[str, Any], message: str) -> None:
    from tui_hf.core.errors import TaskInputError

    case = case_named("long top_k 1")
    with pytest.raises(TaskInputError, match=re.escape(message)):
        answer(models, {**case, "settings": settings})


def test_a_large_stride_is_fine_when_the_context_fits_one_window(models: dict[str, Any]) -> None:
    case = case_named("short top_k 3")  # v4 only cut (and checked the stride) when the pair did not fit
    same(answer(models, {**case, "settings": {**case["settings"], "doc_stride": 300}}), case)


def test_a_window_larger_than_the_model_is_cut_to_it_with_a_warning(models: dict[str, Any]) -> None:
    case = case_named("longer than 384, default windows, top_k 3")
    result = answer(models, {**case, "settings": {**case["settings"], "max_seq_len": 4096, "doc_stride": 128}})
    assert result.windows < case["windows"]
    assert any("max_seq_len 4096" in w and "512" in w for w in result.warnings)
