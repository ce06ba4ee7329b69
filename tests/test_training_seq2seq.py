"""The seq2seq training family (translation, summarization, text2text): scored as the field scores it, by
sacrebleu and rouge-score on generated text, with both engines, resuming exactly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_training_families import check_family_run
from tui_hf.core.training.events import EventReader
from tui_hf.core.training.families.seq2seq import bleu, decode_generated, rouge, text_scores
from tui_hf.core.training.spec import DataSpec, TrainSpec
from tui_hf.data import HEADLINES_JSONL

pytest_plugins = ("tests.training_fixtures",)  # datasets_cache


def test_bleu_is_sacrebleus_corpus_bleu_on_its_readme_example() -> None:
    # sacrebleu's README: two reference streams, three system sentences -> "BLEU = 48.53 82.4/50.0/45.5/37.5".
    refs = [
        ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
    ]
    hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    per_sentence = [list(r) for r in zip(*refs)]  # our function takes each prediction's own references
    assert round(bleu(hyps, per_sentence), 2) == 48.53


def test_rouge_is_rouge_scores_f_measure_on_its_readme_example() -> None:
    # rouge-score's README pair. By hand, stemmed ("jumps" -> "jump"): 6 of the prediction's 8 unigrams are in
    # the target's 9; 2 of its 7 bigrams in the target's 8; the longest common subsequence is 5 tokens
    # ("the quick brown jumps the").
    got = rouge(["The quick brown dog jumps on the log."], ["The quick brown fox jumps over the lazy dog"])
    f = lambda p, r: 100 * 2 * p * r / (p + r)  # noqa: E731
    assert got["rouge1"] == pytest.approx(f(6 / 8, 6 / 9))
    assert got["rouge2"] == pytest.approx(f(2 / 7, 2 / 8))
    assert got["rougeL"] == pytest.approx(f(5 / 8, 5 / 9))


def test_generated_ids_are_decoded_without_padding_and_their_length_counted(tiny_t5_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    pad = tok.pad_token_id
    a, b = tok("the cat sat on the old mat")["input_ids"], tok("a dog ran home")["input_ids"]
    # As Trainer hands them over: rows padded with pad by generate, batches joined with -100.
    preds = [np.array([[pad, *a], [pad, *b, pad] + [-100] * (len(a) - len(b) - 1)])]
    labels = [np.array([a, b + [-100] * (len(a) - len(b))])]
    texts, golds, lengths = decode_generated(tok, preds, labels)
    assert texts == golds == ["the cat sat on the old mat", "a dog ran home"]
    assert lengths == [len(a), len(b)]
    scores = text_scores(texts, golds, lengths)
    assert scores["bleu"] == pytest.approx(100) and scores["rougeL"] == pytest.approx(100)
    assert scores["gen_len"] == pytest.approx((len(a) + len(b)) / 2)


def headline_spec(model: Path, engine: str) -> TrainSpec:
    return TrainSpec(
        data=DataSpec(train=str(HEADLINES_JSONL), text_column="source", target_column="target", max_length=32),
        model=str(model),
        task="seq2seq",
        engine=engine,
        epochs=2,
        batch_size=16,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
        seed=1,
        predictions=2,
    )


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_seq2seq_learns_the_headlines_scores_generations_and_resumes_exactly(
    engine: str, tiny_t5_dir: Path, tmp_path: Path
) -> None:
    from tui_hf.core.training.job import inference_task
    from tui_hf.core.training.xray import xray

    # The resume runs on the Trainer engine: Seq2SeqTrainer is a Trainer code path no other resume test takes,
    # while the native loop's batch skipping is the same for every family (resumed in several other files).
    state = check_family_run(headline_spec(tiny_t5_dir, engine), tmp_path, resume=engine == "trainer")
    evals = state.evals
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]  # it learns to write the headlines
    for e in evals:
        assert 0 <= e["eval_bleu"] <= 100 and 0 <= e["eval_rougeL"] <= 100
        assert 1 <= e["eval_gen_len"] <= 32  # generated up to the data's max_length
    run = tmp_path / "reference"
    # Predictions: each validation source, the text the model generated, and the reference headline.
    rows = {json.loads(line)["source"]: json.loads(line)["target"] for line in HEADLINES_JSONL.read_text().splitlines()}
    predictions = [e for e in EventReader(run).read() if e["event"] == "predictions"]
    assert predictions and len(predictions[-1]["items"]) == 2
    for item in predictions[-1]["items"]:
        assert item["gold"] == rows[item["text"]] and isinstance(item["prediction"], str)
    assert inference_task(run) == "summarization"  # Try model opens summarization
    # X-ray: the source with T5's summarization prefix from the model's config, and the decoder labels, the
    # target's own tokens.
    x = xray(run, 1)
    assert x.matches
    lines = HEADLINES_JSONL.read_text().splitlines()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    for row in x.rows:
        record = json.loads(lines[row.source_row - 1])
        source = tok.convert_tokens_to_string(row.tokens[: row.length])
        # The prefix and as much of the source as max_length (32 tokens) holds.
        assert source.startswith("summarize: ") and ("summarize: " + record["source"]).startswith(source)
        assert tok.convert_tokens_to_string(row.decoder) == record["target"]
    assert x.supervised == sum(len(row.decoder) for row in x.rows)


@pytest.fixture(scope="module")
def bart_with_wordpiece_dir(tmp_path_factory: pytest.TempPathFactory, bert_tokenizer: object) -> Path:
    """An encoder-decoder whose tokenizer is BERT's (as fnlp/bart-base-chinese ships it): its encodings carry
    token_type_ids, which no encoder-decoder's generate takes."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    from tests.conftest import _seq2seq_dims

    tok: Any = bert_tokenizer
    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.cls_token_id,
        forced_eos_token_id=None,
        **_seq2seq_dims(),
    )
    path = tmp_path_factory.mktemp("bart-wordpiece")
    BartForConditionalGeneration(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_a_model_with_a_bert_tokenizer_trains_and_generates_its_evaluations(
    engine: str, bart_with_wordpiece_dir: Path, tmp_path: Path
) -> None:
    from tests.training_fixtures import run_job
    from tui_hf.core.training.job import create_run

    spec = dataclasses.replace(headline_spec(bart_with_wordpiece_dir, engine), max_steps=2, predictions=1)
    run = create_run(spec, tmp_path / "runs")
    done = run_job(run)
    assert done.returncode == 0, done.stderr[-2000:]
    events = EventReader(run).read()
    assert [e for e in events if e["event"] == "eval"][-1]["eval_gen_len"] >= 1  # evaluation generated
    assert [e for e in events if e["event"] == "predictions"][-1]["items"][0]["prediction"] is not None


def test_an_empty_target_is_refused_with_its_line_and_column_and_nothing_is_made(tmp_path: Path) -> None:
    from tests.training_fixtures import tui_hf

    data = tmp_path / "pairs.jsonl"
    rows = [
        {"src": "On Friday, David fixed the bicycle.", "tgt": "David fixed the bicycle."},
        {"src": "After lunch, Mira baked a cake.", "tgt": "Mira baked a cake."},
        {"src": "Last week, Omar sold the car.", "tgt": "  "},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    runs = tmp_path / "runs"
    args = ["train", "--data", str(data), "--task", "seq2seq", "--text-column", "src", "--runs-dir", str(runs)]
    proc = tui_hf(*args, "--target-column", "tgt")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{data}, line 3, column 'tgt': the target is empty" in proc.stderr
    assert not runs.exists()
    proc = tui_hf(*args)  # the default target column, which this file does not have
    assert proc.returncode == 2 and f"{data}, line 1: no column 'target'" in proc.stderr
    assert "target_column" in proc.stderr and not runs.exists()
    proc = tui_hf("train", "--data", str(data), "--target-column", "tgt", "--runs-dir", str(runs))  # not seq2seq
    assert proc.returncode == 2 and "target_column is for seq2seq" in proc.stderr
    assert not runs.exists()


def test_the_dialog_asks_for_the_source_and_target_columns_and_previews_them(tiny_t5_dir: Path) -> None:
    from tui_hf.data import SENTIMENT_CSV
    from tui_hf.ui.training.job_form import JobFields, data_preview

    values = dict(
        task="seq2seq",
        model=str(tiny_t5_dir),
        train=str(HEADLINES_JSONL),
        validation="",
        text_column="source",
        label_column="target",
        engine="native",
        epochs="1",
        max_steps="",
        batch_size="8",
        learning_rate="5e-5",
        max_length="32",
        name="",
        nproc="1",
    )
    spec = JobFields(**values).spec()
    assert spec.task == "seq2seq" and spec.data.target_column == "target" and spec.problems() == []
    first = json.loads(HEADLINES_JSONL.read_text().splitlines()[0])
    shown = data_preview(JobFields(**values))
    assert f"{first['source'][:70]} → {first['target']}" in shown  # a row's source and its target
    shown = data_preview(JobFields(**{**values, "train": str(SENTIMENT_CSV)}))
    assert "no column 'source'" in shown and "no column 'target'" in shown


def test_translation_languages_are_the_models_codes_checked_before_a_run_exists(
    tiny_mbart50_dir: Path, tmp_path: Path
) -> None:
    from tests.training_fixtures import tui_hf
    from tui_hf.core.training.families import family
    from tui_hf.core.training.families.seq2seq import FAMILY

    runs = tmp_path / "runs"
    args = ["train", "--data", "headlines", "--task", "seq2seq", "--text-column", "source", "--model"]
    proc = tui_hf(
        *args, str(tiny_mbart50_dir), "--source-lang", "en", "--target-lang", "fr_XX", "--runs-dir", str(runs)
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "source_lang 'en' is not one of this model's language codes (ar_AR" in proc.stderr
    assert not runs.exists()
    # With its codes: the source starts with the source language's token, the target with the target's, and
    # generation is forced to start in the target language (run_translation.py's forced_bos_token_id).
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    spec = TrainSpec(
        data=DataSpec(train=str(HEADLINES_JSONL), text_column="source", source_lang="en_XX", target_lang="fr_XX"),
        model=str(tiny_mbart50_dir),
        task="seq2seq",
    )
    tok = AutoTokenizer.from_pretrained(tiny_mbart50_dir)
    data = FAMILY.encoding_data(spec, tok)
    enc = FAMILY.encode(tok, {"text": ["a cat"], "target": ["un chat"]}, {}, data)
    assert tok.convert_ids_to_tokens(enc["input_ids"][0])[0] == "en_XX"
    assert tok.convert_ids_to_tokens(enc["labels"][0])[0] == "fr_XX"
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_mbart50_dir)
    FAMILY.prepare_model(model, tok, spec)
    assert model.generation_config.forced_bos_token_id == tok.convert_tokens_to_ids("fr_XX")
    assert family("seq2seq").inference_task_for(spec) == "translation"  # Try model opens translation


def test_t5_sources_get_the_prefix_its_config_names_for_the_task(tiny_t5_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    from tui_hf.core.training.families.seq2seq import source_prefix

    config, tok = AutoConfig.from_pretrained(tiny_t5_dir), AutoTokenizer.from_pretrained(tiny_t5_dir)
    assert source_prefix(config, DataSpec(train="x"), tok) == "summarize: "
    pair = DataSpec(train="x", source_lang="en", target_lang="de")
    assert source_prefix(config, pair, tok) == "translate English to German: "
    assert source_prefix(config, DataSpec(train="x", source_prefix=""), tok) == ""  # text2text: none asked


# opus_books-like rows: each pair in one `translation` column, as the course's translation datasets hold them.
BOOK_PAIRS = [
    ("The cat sleeps.", "Le chat dort."),
    ("The dog runs.", "Le chien court."),
    ("I read a book.", "Je lis un livre."),
    ("She sings well.", "Elle chante bien."),
    ("We eat bread.", "Nous mangeons du pain."),
    ("The sun is hot.", "Le soleil est chaud."),
    ("He opens the door.", "Il ouvre la porte."),
    ("They walk home.", "Ils rentrent à pied."),
    ("The sea is blue.", "La mer est bleue."),
    ("You drink water.", "Tu bois de l'eau."),
]


def book_rows() -> list[dict[str, object]]:
    return [{"id": str(i), "translation": {"en": en, "fr": fr}} for i, (en, fr) in enumerate(BOOK_PAIRS)]


def train_nested(tmp_path: Path, data: Path, model: Path, name: str, cli: bool = True) -> object:
    """Two steps on the nested translation columns, from the command line (`cli`) or as a spec the job runs
    (the same run: the command line builds that spec)."""
    from tests.training_fixtures import run_job, tui_hf
    from tui_hf.core.training.events import read_state
    from tui_hf.core.training.job import create_run

    runs = tmp_path / "runs"
    if not cli:
        data_spec = DataSpec(
            train=str(data), text_column="translation.en", target_column="translation.fr", max_length=16
        )
        spec = TrainSpec(data=data_spec, model=str(model), task="seq2seq", device="cpu", max_steps=2, batch_size=4)
        proc = run_job(create_run(spec, runs, name=name))
        assert proc.returncode == 0, proc.stderr[-3000:]
        return read_state(runs / name)
    args = ["train", "--data", str(data), "--task", "seq2seq", "--model", str(model), "--device", "cpu"]
    proc = tui_hf(
        *args,
        "--text-column",
        "translation.en",
        "--target-column",
        "translation.fr",
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--max-length",
        "16",
        "--runs-dir",
        str(runs),
        "--name",
        name,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return read_state(runs / name)


def test_a_translation_column_of_objects_trains_from_a_jsonl_file_by_its_language_keys(
    tiny_t5_dir: Path, tmp_path: Path
) -> None:
    from tests.training_fixtures import tui_hf

    data = tmp_path / "books.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in book_rows()) + "\n", encoding="utf-8")
    state = train_nested(tmp_path, data, tiny_t5_dir, "books")
    assert state.status == "finished" and state.step == 2
    # The predictions pair each English source with its French reference: the keys were read, not the objects.
    french = dict(BOOK_PAIRS)
    items = state.predictions["items"] if state.predictions else []
    assert items and all(item["gold"] == french[item["text"]] for item in items), items
    # A key the column does not have: its file, line and column, the keys there; nothing made.
    rows = book_rows()
    rows[3]["translation"] = {"en": "She sings well.", "de": "Sie singt gut."}
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    runs = tmp_path / "refused"
    proc = tui_hf(
        "train", "--data", str(data), "--task", "seq2seq", "--text-column", "translation.en",
        "--target-column", "translation.fr", "--runs-dir", str(runs),
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{data}, line 4, column 'translation': no key 'fr' (its keys are 'en', 'de')" in proc.stderr
    assert "target_column" in proc.stderr and not runs.exists()


def test_a_saved_translation_dataset_trains_by_its_language_keys_and_a_wrong_key_is_refused_up_front(
    tiny_marian_dir: Path, tmp_path: Path
) -> None:
    import datasets

    from tests.training_fixtures import tui_hf

    datasets.disable_progress_bars()
    features = datasets.Features({"id": datasets.Value("string"), "translation": datasets.Translation(["en", "fr"])})
    data = tmp_path / "books-saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(book_rows(), features=features)}).save_to_disk(data)
    state = train_nested(tmp_path, data, tiny_marian_dir, "saved", cli=False)
    assert state.status == "finished" and state.step == 2
    french = dict(BOOK_PAIRS)
    items = state.predictions["items"] if state.predictions else []
    assert items and all(item["gold"] == french[item["text"]] for item in items), items
    runs = tmp_path / "refused"
    proc = tui_hf(
        "train", "--data", str(data), "--task", "seq2seq", "--text-column", "translation.en",
        "--target-column", "translation.de", "--runs-dir", str(runs),
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{data}, split 'train', column 'translation': no key 'de' (its keys are 'en', 'fr')" in proc.stderr
    assert not runs.exists()


def test_inference_reads_the_configs_prefixes_through_the_one_implementation_training_uses() -> None:
    from types import SimpleNamespace

    from tui_hf.core.tasks.defaults import task_params
    from tui_hf.core.tasks.seq2seq import _config_prefix

    def loaded(**config: object) -> object:
        return SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(**config)))

    t5 = loaded(prefix="x: ", task_specific_params={"summarization": {"prefix": "summarize: ", "num_beams": 2}})
    assert _config_prefix(t5) == "x: "  # the model-wide prefix the transformers 4 pipelines put first
    assert task_params(t5, "summarization") == {"prefix": "summarize: ", "num_beams": 2}
    assert task_params(t5, "text2text-generation") == {}
    bare = loaded(prefix=None, task_specific_params=None)
    assert _config_prefix(bare) == "" and task_params(bare, "summarization") == {}
