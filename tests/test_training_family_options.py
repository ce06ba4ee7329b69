"""Per-family options of the field's scripts (issue 19): run_ner.py's label_all_tokens, whole-word masking for a
masked LM, and causal-lm's texts cut into blocks as run_clm.py cuts them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import datasets_cache, run_job, tui_hf  # noqa: F401 (fixtures)
from tui_hf.core.training.events import read_state
from tui_hf.core.training.families import family
from tui_hf.core.training.spec import DataSpec, TrainSpec

pytest_plugins = ("tests.training_fixtures",)

WORDS = ["Sylvain", "lives", "in", "Brooklyn", "Heights"]
TAGS = ["B-PER", "O", "O", "B-LOC", "I-LOC"]


def ner_labels(tokenizer: Any, names: list[str], every: bool) -> list[int]:
    index = {name: i for i, name in enumerate(names)}
    data = DataSpec(train="x.jsonl", max_length=32, label_all_tokens=every)
    enc = family("token-classification").encode(tokenizer, {"tokens": [WORDS], "tags": [TAGS]}, index, data)
    return enc["labels"][0]


def test_label_all_tokens_gives_every_sub_token_its_words_tag_with_b_turned_into_i(bert_tokenizer: Any) -> None:
    enc = bert_tokenizer([WORDS], is_split_into_words=True)
    # The tokens these labels line up with: Sylvain is three pieces.
    assert enc.tokens(0) == ["[CLS]", "sy", "##lva", "##in", "lives", "in", "brooklyn", "heights", "[SEP]"]
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    # By hand: the first piece of each word its tag; the later pieces ignored (-100) ...
    assert ner_labels(bert_tokenizer, names, every=False) == [-100, 1, -100, -100, 0, 0, 3, 4, -100]
    # ... or, with label_all_tokens, I-PER (2) for the pieces after B-PER, as run_ner.py's b_to_i_label.
    assert ner_labels(bert_tokenizer, names, every=True) == [-100, 1, 2, 2, 0, 0, 3, 4, -100]
    # No I-PER among the labels: run_ner.py keeps B-PER for the later pieces.
    assert ner_labels(bert_tokenizer, ["O", "B-PER", "B-LOC", "I-LOC"], every=True) == [-100, 1, 1, 1, 0, 0, 2, 3, -100]


def test_label_all_tokens_and_whole_word_masking_are_flags_refused_for_another_task(tmp_path: Path) -> None:
    from tui_hf.data import SENTIMENT_CSV

    for flag, task in (("--label-all-tokens", "token-classification"), ("--whole-word-masking", "masked-lm")):
        runs = tmp_path / "runs"
        # A model that is not there: were the flag lost, the run would be refused for that, never trained.
        model = str(tmp_path / "no-model")
        proc = tui_hf("train", "--data", str(SENTIMENT_CSV), flag, "--model", model, "--runs-dir", str(runs))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"is for {task}, not text-classification" in proc.stderr and "Traceback" not in proc.stderr
        assert not runs.exists()


def original_words(tokens: list[str]) -> list[list[int]]:
    """Positions grouped by word, from WordPiece's own marks: a "##" piece continues the word before it."""
    words: list[list[int]] = []
    for i, token in enumerate(tokens):
        if token.startswith("##") and words:
            words[-1].append(i)
        else:
            words.append([i])
    return words


def test_whole_word_masking_masks_all_pieces_of_a_word_together(bert_tokenizer: Any) -> None:
    texts = [
        "Sylvain unbelievably photosynthesised the hippopotamus in Brooklyn Heights yesterday afternoon.",
        "Anticonstitutionally, the quizzaciously verbose lexicographer misremembered Mississippi.",
    ] * 4
    fam = family("masked-lm")
    counts = {True: [0, 0], False: [0, 0]}  # per setting: words with every piece masked, words partly masked
    for whole in (True, False):
        spec = TrainSpec(data=DataSpec(train="x.csv", max_length=16, whole_word_masking=whole), seed=3)
        blocks = fam.group(fam.encode(bert_tokenizer, {"text": texts}, {}, spec.data), spec.data)
        collate = fam.collator(bert_tokenizer, spec)
        for seed in range(12):
            collate.seed = seed
            batch = collate([{k: v[i] for k, v in blocks.items()} for i in range(len(blocks["input_ids"]))])
            for ids, labels in zip(blocks["input_ids"], batch["labels"].tolist()):
                tokens = bert_tokenizer.convert_ids_to_tokens(ids)
                for word in original_words(tokens):
                    if len(word) < 2 or word[0] == 0:
                        continue  # one piece, or a word cut by the block's start
                    masked = [labels[i] != -100 for i in word]
                    if all(masked):
                        counts[whole][0] += 1
                    elif any(masked):
                        counts[whole][1] += 1
    assert counts[True][0] > 5 and counts[True][1] == 0, counts  # whole words, never a part of one
    assert counts[False][1] > 0, counts  # token by token, pieces of words are masked alone


@pytest.fixture
def ner_jsonl(tmp_path: Path) -> Path:
    import json

    rows = [
        {"tokens": ["Sylvain", "lives", "in", "Brooklyn"], "tags": ["B-PER", "O", "O", "B-LOC"]},
        {"tokens": ["Anna", "visited", "Paris", "today"], "tags": ["B-PER", "O", "B-LOC", "O"]},
    ] * 16
    data = tmp_path / "ner.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    return data


def test_a_token_classification_run_with_label_all_tokens_trains_every_piece(
    tiny_ner_dir: Path, ner_jsonl: Path, tmp_path: Path
) -> None:
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.xray import xray

    spec = TrainSpec(
        data=DataSpec(
            train=str(ner_jsonl), text_column="tokens", label_column="tags", max_length=16, label_all_tokens=True
        ),
        model=str(tiny_ner_dir),
        task="token-classification",
        engine="native",
        max_steps=2,
        batch_size=4,
        device="cpu",
        replace_head=True,
    )
    run_dir = create_run(spec, tmp_path / "runs")
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    x = xray(run_dir, 1)
    assert x.matches
    for row in x.rows:
        tokens = row.tokens[: row.length]
        if tokens[1:4] == ["sy", "##lva", "##in"]:  # Sylvain: B-PER on each piece (no I-PER in this data)
            assert row.labels[1:4] == ["B-PER", "B-PER", "B-PER"] and all(row.trained[1:4])
        # Every real token but CLS and SEP is trained: no piece is left out.
        assert row.trained[: row.length] == [False] + [True] * (row.length - 2) + [False], tokens


def test_a_masked_lm_run_with_whole_word_masking_trains_on_whole_words(tiny_mlm_dir: Path, tmp_path: Path) -> None:
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.xray import xray

    data = tmp_path / "words.csv"
    # Words WordPiece cuts into several pieces, so that a masked word shows whether its pieces went together.
    data.write_text(
        "text\n" + "\n".join(f"{i} unbelievably photosynthesised hippopotamus lexicographer" for i in range(40))
    )
    spec = TrainSpec(
        data=DataSpec(train=str(data), max_length=32, whole_word_masking=True),
        model=str(tiny_mlm_dir),
        task="masked-lm",
        engine="trainer",
        max_steps=2,
        batch_size=8,
        device="cpu",
    )
    run_dir = create_run(spec, tmp_path / "runs")
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = read_state(run_dir)
    assert state.status == "finished"
    assert state.evals[-1]["eval_perplexity"] == pytest.approx(math.exp(state.evals[-1]["eval_loss"]))
    x = xray(run_dir, 1)
    assert x.matches and x.supervised > 0  # the masks that trained are rebuilt from the batch
    pieces = 0
    for row in x.rows:
        # What the block held: the target where a position was masked, the token itself elsewhere.
        tokens = [
            label if trained and label else token for token, label, trained in zip(row.tokens, row.labels, row.trained)
        ]
        for word in original_words(tokens[: row.length]):
            if word[0] > 0:
                assert len({row.trained[i] for i in word}) == 1, [tokens[i] for i in word]
                pieces += len(word) > 1 and row.trained[word[0]]
    assert pieces > 0  # some word of several pieces was masked


def test_causal_lm_joins_its_texts_and_cuts_them_into_full_blocks(bpe_tokenizer: Any) -> None:
    texts = ["the quick brown fox jumps over the lazy dog"] * 3 + ["tokenizers split text into tokens"]
    pieces = [bpe_tokenizer(t)["input_ids"] for t in texts]
    joined = [i for ids in pieces for i in ids]
    fam = family("causal-lm")
    data = DataSpec(train="x.csv", max_length=8)
    blocks = fam.group(fam.encode(bpe_tokenizer, {"text": texts}, {}, data), data)
    # run_clm.py's group_texts: the texts end to end, cut every 8 tokens, the short rest dropped.
    assert blocks["input_ids"] == [joined[i : i + 8] for i in range(0, len(joined) // 8 * 8, 8)]
    assert len(blocks["input_ids"]) == len(joined) // 8 >= 2


async def test_try_model_on_a_finished_masked_lm_run_opens_fill_mask_with_its_model(
    app_settings: Any, tiny_mlm_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from tests.conftest import wait_until
    from tests.test_no_crash import NEWER, finished_runs, shown_with_try
    from tui_hf.core.training.events import EventWriter
    from tui_hf.ui.app import make_app

    _, newer = finished_runs(tmp_path / "runs")
    (newer / "spec.json").write_text(json.dumps({"task": "masked-lm", "model": "tiny", "data": {"train": "t.csv"}}))
    shutil.rmtree(newer / "final")
    shutil.copytree(tiny_mlm_dir, newer / "final")  # what a masked-lm run saves: a model with its MLM head
    EventWriter(newer).final(step=10, path=str(newer / "final"))
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=(150, 48)) as pilot:
        await shown_with_try(pilot, app, NEWER)
        app.query_one("#run-try").press()
        await wait_until(
            pilot,
            lambda: (
                app.last_load_error is not None
                or app.loaded is not None
                and app.loaded.info.source == str(newer / "final")
            ),
        )
        assert app.last_load_error is None, app.last_load_error
        assert app.task_spec.name == "fill-mask"
