"""Training families: each scored the way its field scores it, against the field's own libraries."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tui_hf.core.training.events import read_state
from tui_hf.core.training.families import FAMILIES, family
from tui_hf.core.training.spec import DataSpec, TrainSpec

NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def ids(tags: list[str]) -> list[int]:
    return [NER.index(t) for t in tags]


def test_ner_is_scored_by_entity_as_seqeval_scores_it() -> None:
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    gold = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
    pred = ["B-PER", "I-PER", "O", "B-LOC", "O", "O"]  # the person right, the place's boundary wrong
    # As the model sees them: CLS, a word split in two (its second piece -100), SEP, padding.
    labels = np.array([[-100] + ids(gold[:1]) + [-100] + ids(gold[1:]) + [-100, -100]])
    preds = np.array([[0] + ids(pred[:1]) + [2] + ids(pred[1:]) + [0, 0]])
    got = family("token-classification").score([preds], [labels], NER)
    # Two gold entities, two predicted, one of them matching: P = R = F1 = 1/2; five of six tags right.
    assert got == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 5 / 6})
    assert got["f1"] == pytest.approx(f1_score([gold], [pred]))
    assert got["precision"] == pytest.approx(precision_score([gold], [pred]))
    assert got["recall"] == pytest.approx(recall_score([gold], [pred]))
    assert got["accuracy"] == pytest.approx(accuracy_score([gold], [pred]))


def test_ner_rows_from_several_batches_of_other_widths_are_scored_together() -> None:
    from seqeval.metrics import f1_score

    gold = [["B-LOC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["B-LOC", "O"], ["B-PER", "O", "O"]]
    batches = [(np.array([ids(p)]), np.array([ids(g)])) for p, g in zip(pred, gold)]
    got = family("token-classification").score([p for p, _ in batches], [g for _, g in batches], NER)
    assert got["f1"] == pytest.approx(f1_score(gold, pred)) == pytest.approx(0.5)


def test_two_classes_report_the_f1_of_class_1_as_glue_mrpc_does_more_report_macro_f1() -> None:
    from sklearn.metrics import f1_score

    fam = family("text-classification")
    labels, preds = np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0])
    got = fam.score([preds], [labels], ["not_equivalent", "equivalent"])
    assert got["accuracy"] == pytest.approx(0.75)
    assert got["f1"] == pytest.approx(0.8) == pytest.approx(f1_score(labels, preds))  # 2 TP, 1 FN
    three = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1])
    got = fam.score([three[1]], [three[0]], ["contradiction", "neutral", "entailment"])
    assert got["f1"] == pytest.approx(f1_score(three[0], three[1], average="macro"))


def test_language_models_report_perplexity_from_the_loss() -> None:
    for task in ("causal-lm", "masked-lm"):
        metrics = {"eval_loss": 2.5}
        FAMILIES[task].from_loss(metrics)
        assert metrics["eval_perplexity"] == pytest.approx(math.exp(2.5))
        assert "eval_perplexity" in FAMILIES[task].metrics


@pytest.mark.parametrize("task", sorted(FAMILIES))
def test_every_family_names_what_the_app_needs(task: str) -> None:
    import transformers

    fam: Any = FAMILIES[task]
    assert fam.task == task and fam.metrics[0] == "eval_loss"
    assert hasattr(transformers, "AutoModelFor" + fam.head)


# -- jobs per family and engine: trains, reports the family's metrics, resumes exactly ---------------------

pytest_plugins = ("tests.training_fixtures",)  # datasets_cache

STOP_AT = 7  # mid first epoch: a resume must skip the batches already trained


def stopped_then_resumed(spec: Any, root: Path, name: str) -> Path:
    """A run asked to stop (SIGINT, as ctrl+c) right after step STOP_AT, then resumed as `tui-hf resume` does
    (the plan it prints, then the job again; the command itself is run in test_training_faults.py and README)."""
    from tests.training_fixtures import run_job
    from tui_hf.core.training.job import create_run, resume_plan

    run_dir = create_run(spec, root, name=name)
    proc = run_job(run_dir, stop_after=STOP_AT)
    state = read_state(run_dir)
    # Trainer logs a step after it ended: the stop lands on the step after.
    assert state.status == "stopped" and STOP_AT <= state.step <= STOP_AT + 1, proc.stderr[-3000:]
    assert f"(step {state.step})" in resume_plan(run_dir, False).describe()
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def finished(spec: Any, root: Path, name: str) -> Path:
    from tests.training_fixtures import run_job
    from tui_hf.core.training.job import create_run

    run_dir = create_run(spec, root, name=name)
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def check_family_run(spec: Any, tmp_path: Path, resume: bool = True) -> Any:
    """An uninterrupted run and a stopped-and-resumed one: the family's metrics in every evaluation, the same
    losses step by step. Returns the uninterrupted run's state. `resume=False` skips the stop and resume (two
    job starts) where another engine's run of the same test proves it."""
    from tests.training_fixtures import assert_same_training

    reference = finished(spec, tmp_path, "reference")
    state = read_state(reference)
    assert state.status == "finished", state
    wanted = set(FAMILIES[spec.task].metrics)
    assert state.evals and all(wanted <= set(e) for e in state.evals), (wanted, state.evals[-1])
    assert state.evals[0]["step"] == 0  # the baseline
    if not resume:
        return state
    resumed = stopped_then_resumed(spec, tmp_path, "resumed")
    assert_same_training(resumed, reference)
    got = [(e["step"], e["eval_loss"]) for e in read_state(resumed).evals]
    want = [(e["step"], e["eval_loss"]) for e in state.evals if e["step"] > STOP_AT + 1]
    assert [s for s, _ in got if s > STOP_AT + 1] == [s for s, _ in want]
    assert [v for s, v in got if s > STOP_AT + 1] == pytest.approx([v for _, v in want], rel=1e-4)
    return state


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_sentence_pairs_train_as_pairs_and_resume_exactly(engine: str, tiny_mlm_dir: Path, tmp_path: Path) -> None:
    """Both engines train pairs; the resume runs on the native engine (its batch skipping is this project's
    code), the Trainer's resume of a pair dataset is the same as of any other (masked LM below, both engines)."""
    from tui_hf.core.training.xray import xray
    from tui_hf.data import PARAPHRASE_CSV

    spec = TrainSpec(
        data=DataSpec(train=str(PARAPHRASE_CSV), text_column="sentence1", text_pair_column="sentence2", max_length=48),
        model=str(tiny_mlm_dir),
        engine=engine,
        epochs=2,
        batch_size=16,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
        seed=1,
    )
    state = check_family_run(spec, tmp_path, resume=engine == "native")
    assert state.labels == ["0", "1"]
    # The model saw each pair as the tokenizer pairs it: [CLS] first [SEP] second [SEP], segment ids 0 then 1.
    x = xray(tmp_path / "reference", 1)
    assert x.matches
    lines = PARAPHRASE_CSV.read_text().splitlines()
    import csv as _csv

    for row in x.rows:
        first, second, label = next(_csv.reader([lines[row.source_row - 1]]))
        tokens = row.tokens[: row.length]
        sep = tokens.index("[SEP]")
        assert " ".join(tokens[1:sep]).replace(" ##", "") == " ".join(_words(first))
        assert " ".join(tokens[sep + 1 : -1]).replace(" ##", "") == " ".join(_words(second))
        assert tokens[-1] == "[SEP]" and row.label == label


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"\w+|[^\w\s]", text.lower())


def test_a_pair_column_missing_on_a_row_is_refused_with_its_line_and_nothing_is_made(tmp_path: Path) -> None:
    from tests.training_fixtures import tui_hf

    data = tmp_path / "pairs.jsonl"
    rows = [
        {"s1": "a cat", "s2": "a feline", "label": 1},
        {"s1": "a dog", "s2": "a car", "label": 0},
        {"s1": "a bird", "label": 1},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    runs = tmp_path / "runs"
    proc = tui_hf(
        "train", "--data", str(data), "--text-column", "s1", "--text-pair-column", "s2", "--runs-dir", str(runs)
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{data}, line 3: no column 's2'" in proc.stderr and "text_pair_column" in proc.stderr
    assert not runs.exists()
    proc = tui_hf(
        "train",
        "--data",
        str(data),
        "--task",
        "token-classification",
        "--text-pair-column",
        "s2",
        "--runs-dir",
        str(runs),
    )
    assert proc.returncode == 2 and "text_pair_column is for text-classification" in proc.stderr
    assert not runs.exists()


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_masked_lm_adapts_to_the_texts_in_blocks_and_resumes_exactly(
    engine: str, tiny_mlm_dir: Path, tmp_path: Path
) -> None:
    from tui_hf.core.training.job import inference_task
    from tui_hf.data import SENTIMENT_CSV

    spec = TrainSpec(
        data=DataSpec(train=str(SENTIMENT_CSV), max_length=32),
        model=str(tiny_mlm_dir),
        task="masked-lm",
        engine=engine,
        epochs=2,
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
    assert evals[-1]["eval_perplexity"] < evals[0]["eval_perplexity"]  # it learns the reviews' words
    assert inference_task(tmp_path / "reference") == "fill-mask"  # Try model opens fill mask
    # Blocks of max_length tokens, not one row per review: every block but the texts' end is full.
    from tui_hf.core.training.xray import xray

    x = xray(tmp_path / "reference", 1)
    assert x.matches  # the masks that trained are rebuilt: they come from the batch, not a global generator
    assert x.padded_length == 32 and all(row.length == 32 for row in x.rows)
    share = x.supervised / x.tokens
    assert 0.05 < share < 0.3  # about 15 % of the tokens are masked


def test_group_texts_cuts_joined_rows_into_full_blocks() -> None:
    from tui_hf.core.training.families.masked_lm import group_texts

    rows = {"input_ids": [[1, 2, 3], [4, 5], [6, 7, 8, 9]], "attention_mask": [[1] * 3, [1] * 2, [1] * 4]}
    assert group_texts(rows, 4) == {"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8]], "attention_mask": [[1] * 4] * 2}
    assert group_texts({"input_ids": [[1, 2]]}, 4) == {"input_ids": [[1, 2]]}  # all there is: kept
