"""tui-hf's summarization, translation and text2text runners against what the transformers 4.57 pipelines
answered on the same tiny models (recorded by scripts/v4_reference_seq2seq.py): the text, exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).parent / "reference"
RECORD = json.loads((REFERENCE / "v4_seq2seq.json").read_text())
_LOADED: dict[tuple[str, str], Any] = {}


def loaded_for(model: str, task: str) -> Any:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.tasks import get_task

    key = (model, task)
    if key not in _LOADED:
        _LOADED[key] = load(resolve(parse_ref(str(REFERENCE / "seq2seq" / model))), get_task(task), "cpu")
    return _LOADED[key]


def _id(case: dict[str, Any]) -> str:
    options = ",".join(f"{k}={v}" for k, v in case["options"].items()) or "model defaults"
    return f"{case['model']}-{case['v4_task']}-{options}-{RECORD['cases'].index(case) % 3}"


@pytest.mark.parametrize("case", RECORD["cases"], ids=_id)
def test_output_matches_transformers_4(case: dict[str, Any]) -> None:
    from tui_hf.core.tasks import get_task

    loaded = loaded_for(case["model"], case["task"])
    result = get_task(case["task"]).load_runner()(loaded, [case["input"]], dict(case["options"]))
    assert result.items[0].output == case["output"]


def test_the_record_covers_every_task_greedy_and_with_model_defaults() -> None:
    seen = {(c["task"], "num_beams" in c["options"]) for c in RECORD["cases"]}
    for task in ("summarization", "translation", "text2text-generation"):
        assert (task, True) in seen and (task, False) in seen, task
    assert RECORD["transformers"].startswith("4.57")
