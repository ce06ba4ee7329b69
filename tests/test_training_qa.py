"""Question answering finetunes (SQuAD style): windows over long contexts, SQuAD's EM / F1, both engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tui_hf.core.training.families import family
from tui_hf.core.training.spec import DataSpec, TrainSpec

pytest_plugins = ("tests.training_fixtures",)  # datasets_cache


def test_squad_exact_match_and_f1_on_a_hand_made_case() -> None:
    from tui_hf.core.training.families.question_answering import squad_scores

    predictions = ["the cat", "The Cat!", "", "Paris"]
    golds = [["a cat sat"], ["cat", "a dog"], [], []]
    got = squad_scores(predictions, golds)
    # By hand, after SQuAD's normalisation (lower case, no punctuation, no a/an/the):
    # 1. "cat" vs "cat sat": not exact; 1 common word, precision 1/1, recall 1/2 -> F1 2/3.
    # 2. "cat" vs "cat" (the best of the two gold answers): exact, F1 1.
    # 3. unanswerable, answered with nothing: exact, F1 1.  4. unanswerable but answered: 0, 0.
    assert got == pytest.approx(
        {
            "exact_match": 100 * 2 / 4,
            "f1": 100 * (2 / 3 + 1 + 1 + 0) / 4,
            "HasAns_exact_match": 100 * 1 / 2,
            "HasAns_f1": 100 * (2 / 3 + 1) / 2,
            "NoAns_exact_match": 50.0,
            "NoAns_f1": 50.0,
        }
    )
    # Only answerable questions (SQuAD v1): no HasAns / NoAns split.
    assert squad_scores(["an apple tree"], [["apple tree", "tree"]]) == {"exact_match": 100.0, "f1": 100.0}


def test_train_windows_put_start_and_end_on_the_answer_tokens(bert_tokenizer: Any) -> None:
    fam = family("question-answering")
    filler = " ".join(f"Sentence {w} talks about weather and bridges." for w in ("one", "two", "three", "four", "five"))
    answer = "Kalamata olives"
    context = f"{filler} The farmer in the valley grows {answer} near the coast. {filler}"
    row = {
        "question": ["What does the farmer grow?"],
        "context": [context],
        "answers": [json.dumps({"text": [answer], "answer_start": [context.index(answer)]})],
        "source_row": [7],
    }
    enc = fam.encode(bert_tokenizer, row, {}, DataSpec(train="x.jsonl", max_length=32, doc_stride=8))
    windows = len(enc["input_ids"])
    assert windows >= 4 and enc["source_row"] == [7] * windows
    holding = 0
    for w in range(windows):
        s, e = enc["start_positions"][w], enc["end_positions"][w]
        ids = enc["input_ids"][w]
        context_ids = [i for i, seq in zip(ids, enc.sequence_ids(w)) if seq == 1]
        if s == e == 0:
            # The window does not hold the answer whole: it trains towards [CLS].
            assert "kalamata olives" not in bert_tokenizer.decode(context_ids)
        else:
            holding += 1
            assert bert_tokenizer.decode(ids[s : e + 1]) == answer.lower()
            assert enc.sequence_ids(w)[s] == enc.sequence_ids(w)[e] == 1
    assert holding >= 1  # the stride repeats the answer's neighbourhood: one window or more holds it


def test_an_answer_start_that_misses_its_answer_is_refused_with_line_and_column(tmp_path: Path) -> None:
    from tests.training_fixtures import tui_hf

    context = "Ada lives in Oslo and works as a pilot."
    rows = [
        {"question": "Where does Ada live?", "context": context, "answers": {"text": ["Oslo"], "answer_start": [13]}},
        {"question": "What is Ada's job?", "context": context, "answers": {"text": ["a pilot"], "answer_start": [30]}},
    ]
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    runs = tmp_path / "runs"
    proc = tui_hf("train", "--data", str(data), "--task", "question-answering", "--runs-dir", str(runs))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{data}, line 2, column 'answers', answer 1: answer_start 30 points at " in proc.stderr
    assert "not at the answer 'a pilot'; set answer_start to 31" in proc.stderr
    assert not runs.exists()
    # Windows that would repeat half of themselves or more: refused before the data is read.
    qa = DataSpec(train=str(data), max_length=128, doc_stride=64)
    assert any("doc_stride" in p for p in TrainSpec(data=qa, task="question-answering").problems())
    qa.doc_stride = 63
    assert TrainSpec(data=qa, task="question-answering").problems() == []
    proc = tui_hf(
        "train", "--data", "qa-people", "--task", "question-answering", "--doc-stride", "64", "--runs-dir", str(runs)
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "doc_stride must be 0 or more and less than half of max_length (128), not 64" in proc.stderr
    assert not runs.exists()


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_question_answering_trains_scores_squad_and_the_native_engine_resumes_exactly(
    engine: str, tiny_qa_dir: Path, tmp_path: Path
) -> None:
    """Both engines train and score; the stop-and-resume (two more job starts) runs on the native engine only,
    whose batch skipping is this project's code: the Trainer's resume is proven per engine in
    tests/test_training_families.py."""
    from tests.test_training_families import check_family_run
    from tui_hf.core.training.job import inference_task
    from tui_hf.core.training.xray import format_xray, xray
    from tui_hf.data import QA_JSONL

    spec = TrainSpec(
        data=DataSpec(train=str(QA_JSONL), max_length=64, doc_stride=16),
        model=str(tiny_qa_dir),
        task="question-answering",
        engine=engine,
        epochs=1,
        batch_size=16,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
        seed=1,
    )
    state = check_family_run(spec, tmp_path, resume=engine == "native")
    # The shipped questions include unanswerable ones: scored as SQuAD v2, with HasAns / NoAns.
    assert all({"eval_HasAns_f1", "eval_NoAns_f1"} <= set(e) for e in state.evals)
    assert all(0 <= e["eval_exact_match"] <= e["eval_f1"] <= 100 for e in state.evals)
    assert state.evals[-1]["eval_loss"] < state.evals[0]["eval_loss"]  # it learns where answers are
    assert inference_task(tmp_path / "reference") == "question-answering"  # Try model opens question answering
    assert state.predictions and all(set(i) >= {"text", "gold", "prediction"} for i in state.predictions["items"])
    # The X-ray marks the tokens each window trains towards: the answer's, or [CLS] when it is not inside.
    x = xray(tmp_path / "reference", 1)
    assert x.matches
    lines = QA_JSONL.read_text().splitlines()
    for row in x.rows:
        gold = json.loads(lines[row.source_row - 1])["answers"]["text"]
        marked = [t for t, m in zip(row.tokens, row.labels) if m == "ANSWER"]
        assert marked == ["[CLS]"] or " ".join(marked).replace(" ##", "") == " ".join(gold).lower(), (marked, gold)
    assert "token/ANSWER" in format_xray(x)


def test_an_evaluation_answers_from_the_best_window_and_the_null_answer_competes_in_v2() -> None:
    from tui_hf.core.spans import best_answer

    context = "Alpha Bravo Charlie Delta"
    # Two windows of one question: [CLS], a question token, three context tokens, [SEP] (None: not context).
    first = [None, None, [0, 5], [6, 11], [12, 19], None]
    second = [None, None, [6, 11], [12, 19], [20, 25], None]
    start, end = [0.0, 0, 0, 6, 0, 0], [0.0, 0, 0, 0, 6, 0]  # window 1: "Bravo Charlie", confidently
    weak_start, weak_end = [0.0, 0, 0, 0, 2, 0], [0.0, 0, 0, 0, 2, 0]  # window 2: "Delta", less so
    answer = best_answer(context, [(start, end, first), (weak_start, weak_end, second)])
    assert answer.text == "Bravo Charlie" and (answer.start, answer.end) == (6, 19)
    # Padding past a window's tokens (as batches are padded) is cut off; a span longer than the limit is not taken.
    assert best_answer(context, [(start + [9, 9], end + [9, 9], first)]).text == "Bravo Charlie"
    assert best_answer(context, [(start, end, first)], max_answer_len=1).text in ("Bravo", "Charlie")
    # [CLS] confident in every window: with unanswerable questions allowed the empty answer wins, else a span.
    cls_start, cls_end = [9.0, 0, 0, 1, 0, 0], [9.0, 0, 0, 1, 0, 0]
    assert best_answer(context, [(cls_start, cls_end, first)], allow_null=True).text == ""
    assert best_answer(context, [(cls_start, cls_end, first)], allow_null=False).text == "Bravo"


def test_try_model_answers_as_the_evaluation_does(tiny_qa_dir: Path) -> None:
    """The app's question answering (Try model) and a finetune's evaluation pick answers with one
    implementation: on the same model, windows and answer length they give the same answer."""
    from datasets import Dataset

    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.tasks import get_task
    from tui_hf.core.tasks.qa import run
    from tui_hf.data import QA_JSONL

    loaded = load(resolve(parse_ref(str(tiny_qa_dir))), get_task("question-answering"), "cpu")
    spec = TrainSpec(data=DataSpec(train=str(QA_JSONL), max_length=48, doc_stride=16), task="question-answering")
    rows = [json.loads(line) for line in QA_JSONL.read_text().splitlines()[:6]]
    rows = [r for r in rows if r["answers"]["text"]][:3]  # answerable: the app's default has no null answer
    options = {"context": "", "max_seq_len": 48, "doc_stride": 16, "max_answer_len": 30, "top_k": 1}
    options |= {"align_to_words": False, "handle_impossible_answer": False}
    for row in rows:
        raw = Dataset.from_list([{**row, "answers": json.dumps(row["answers"])}])
        trained = family("question-answering").predict(loaded.model, loaded.tokenizer, raw, [], "cpu", spec)[0]
        app = run(loaded, [row["question"]], {**options, "context": row["context"]})
        assert app.windows > 1  # a context over several windows
        assert trained["prediction"] == app.answers[0].text, row["question"]
        assert trained["confidence"] == pytest.approx(app.answers[0].score, abs=6e-5)  # rounded to 4 places


def test_a_question_too_long_for_its_windows_is_refused_before_a_run_exists(tmp_path: Path, tiny_qa_dir: Path) -> None:
    from tests.training_fixtures import tui_hf

    context = "Ada lives in Oslo and works as a pilot."
    long_question = "Where, after all these years of travelling and " + "moving around " * 12 + "does Ada live?"
    rows = [
        {"question": "Where does Ada live?", "context": context, "answers": {"text": ["Oslo"], "answer_start": [13]}},
        {"question": long_question, "context": context, "answers": {"text": ["Oslo"], "answer_start": [13]}},
    ]
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    runs = tmp_path / "runs"
    argv = ["train", "--data", str(data), "--task", "question-answering", "--model", str(tiny_qa_dir)]
    proc = tui_hf(*argv, "--max-length", "48", "--doc-stride", "16", "--runs-dir", str(runs))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{data}, line 2: the question is " in proc.stderr
    assert "window of max_length 48 for the context, not more than doc_stride 16" in proc.stderr
    assert not runs.exists()
