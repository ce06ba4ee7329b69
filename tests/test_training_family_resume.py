"""Resume continues exactly for the families whose resume had no test (issue 19): token classification with the
Trainer engine and causal-lm with the native loop; causal-lm's texts cut into full blocks (run_clm.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.test_training_families import check_family_run
from tests.training_fixtures import datasets_cache  # noqa: F401 (fixture)
from tui_hf.core.training.spec import DataSpec, TrainSpec

pytest_plugins = ("tests.training_fixtures",)


def test_token_classification_with_the_trainer_engine_resumes_exactly(tiny_ner_dir: Path, tmp_path: Path) -> None:
    rows = [
        {"tokens": ["Sylvain", "lives", "in", "Brooklyn"], "tags": ["B-PER", "O", "O", "B-LOC"]},
        {"tokens": ["Anna", "visited", "Paris", "today"], "tags": ["B-PER", "O", "B-LOC", "O"]},
        {"tokens": ["We", "met", "Omar", "Haddad", "in", "Rome"], "tags": ["O", "O", "B-PER", "I-PER", "O", "B-LOC"]},
    ] * 16
    data = tmp_path / "ner.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    spec = TrainSpec(
        data=DataSpec(train=str(data), text_column="tokens", label_column="tags", max_length=16),
        model=str(tiny_ner_dir),
        task="token-classification",
        engine="trainer",
        epochs=2,
        batch_size=4,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
        seed=1,
        replace_head=True,
    )
    state = check_family_run(spec, tmp_path)
    assert state.labels == ["B-LOC", "B-PER", "I-PER", "O"]
    assert state.evals[-1]["eval_f1"] > state.evals[0]["eval_f1"]  # seqeval's entity F1 grows as it learns


def test_causal_lm_with_the_native_engine_cuts_blocks_and_resumes_exactly(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from tui_hf.core.training.xray import xray
    from tui_hf.data import SENTIMENT_CSV

    lines = SENTIMENT_CSV.read_text(encoding="utf-8").splitlines()
    train, validation = tmp_path / "train.csv", tmp_path / "validation.csv"
    train.write_text("\n".join(lines[:241]) + "\n", encoding="utf-8")
    validation.write_text("\n".join(lines[:1] + lines[241:]) + "\n", encoding="utf-8")
    spec = TrainSpec(
        data=DataSpec(train=str(train), validation=str(validation), max_length=32),
        model=str(tiny_gpt2_dir),
        task="causal-lm",
        engine="native",
        epochs=1,
        batch_size=8,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
        seed=1,
    )
    state = check_family_run(spec, tmp_path)
    evals = state.evals
    assert all(e["eval_perplexity"] == pytest.approx(math.exp(e["eval_loss"])) for e in evals)
    assert evals[-1]["eval_perplexity"] < evals[0]["eval_perplexity"]
    # Blocks of max_length tokens, as run_clm.py's group_texts cuts them: every row full, reviews run across rows.
    x = xray(tmp_path / "reference", 1)
    assert x.matches and x.padded_length == 32 and all(row.length == 32 for row in x.rows)
    import csv

    with open(train, newline="", encoding="utf-8") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    tokens = sum(len(ids) for ids in AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))(texts)["input_ids"])
    assert state.total_steps == math.ceil((tokens // 32) / 8)  # 240 reviews joined: whole blocks, one epoch
