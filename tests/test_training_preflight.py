"""What a run is refused for before it exists, and warned about before it starts (issue 16, items 2, 5, 8, 9).

A model with no tokenizer files or damaged weights, an encoder asked to be a causal LM, numbers no run can use,
a hub dataset while offline, a damaged batch record: one line, exit 2, no run directory. Labels that are
probably a mistake: a warning line, and the run goes on (the New job dialog shows them before it starts).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button

from tests.conftest import wait_until
from tests.helpers import text_of
from tests.test_training_data import ROWS, fake_model, refused, spec, write_csv, write_jsonl
from tests.training_fixtures import Jobs, datasets_cache, jobs, run_job, spec_for, tui_hf  # noqa: F401 (fixtures)
from tui_hf.core.errors import EXIT_LOAD
from tui_hf.core.training.data import load_raw
from tui_hf.core.training.datafile import records
from tui_hf.core.training.job import create_run, list_runs
from tui_hf.core.training.preflight import check, reconcile_labels
from tui_hf.data import SENTIMENT_CSV


def refused_by_cli(tmp_path: Path, *args: str, command: str = "train") -> str:
    """`tui-hf train ARGS` refused: exit 2, one line and no traceback, no run directory. Returns the line."""
    runs = tmp_path / "runs"
    extra = ["--runs-dir", str(runs), "--device", "cpu"] if command == "train" else []
    proc = tui_hf(command, *args, *extra)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("tui-hf: ") and "Traceback" not in proc.stderr, proc.stderr
    assert not runs.exists() or not any(runs.iterdir())
    return lines[0]


def weights_only(src: Path, dst: Path) -> Path:
    """A copy of a model directory with its config and weights but none of its tokenizer files."""
    dst.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(src / name, dst / name)
    return dst


# -- item 2: no tokenizer files ----------------------------------------------------------------------------


def test_a_model_without_tokenizer_files_is_refused_by_train_and_run(
    tmp_path: Path, tiny_bert_cls_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoTokenizer

    bare = weights_only(tiny_bert_cls_dir, tmp_path / "bare")
    # What the refusal spares the user: transformers builds a tokenizer of special tokens, every word unknown.
    tok = AutoTokenizer.from_pretrained(str(bare))
    assert set(tok("a fine film", add_special_tokens=False)["input_ids"]) == {tok.unk_token_id}
    line = refused_by_cli(tmp_path, "--data", str(SENTIMENT_CSV), "--model", str(bare))
    assert f"{bare} has no tokenizer files (vocab.txt, tokenizer.json)" in line
    from tui_hf.cli import main

    capsys.readouterr()
    assert main(["run", "text-classification", "--model", str(bare), "a fine film"]) == EXIT_LOAD
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no tokenizer files" in err and "Traceback" not in err, err


async def test_the_app_refuses_a_model_without_tokenizer_files(
    app_settings: Any, tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    from tui_hf.ui.app import make_app

    bare = weights_only(tiny_bert_cls_dir, tmp_path / "bare")
    app = make_app(app_settings(task="sentiment-analysis", model=str(bare)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.last_load_error is not None, timeout=60)
        assert app.loaded is None and "has no tokenizer files" in app.last_load_error


def test_a_tokenizer_from_its_vocabulary_alone_or_one_that_needs_no_files_is_accepted(
    tmp_path: Path, tiny_bert_cls_dir: Path, minilm_dir: Path
) -> None:
    from tui_hf.core.models import missing_tokenizer

    config = json.loads((tiny_bert_cls_dir / "config.json").read_text())
    vocab = weights_only(tiny_bert_cls_dir, tmp_path / "vocab")
    shutil.copy(minilm_dir / "vocab.txt", vocab / "vocab.txt")  # how BERT tokenizers were saved before tokenizer.json
    assert missing_tokenizer(vocab, config) is None
    byte_level = weights_only(tiny_bert_cls_dir, tmp_path / "bytes")  # ByT5 reads bytes: it declares no files
    (byte_level / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "ByT5Tokenizer"}))
    assert missing_tokenizer(byte_level, config) is None
    assert "no tokenizer files" in (missing_tokenizer(weights_only(tiny_bert_cls_dir, tmp_path / "bare"), config) or "")


# -- item 5: an encoder is not a causal LM ------------------------------------------------------------------


def sees_ahead(config: Any) -> bool:
    """Does the causal-LM class transformers builds for this config let position 0 see the tokens after it?"""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    other = ids.clone()
    other[0, -1] = 9
    with torch.no_grad():
        return not torch.allclose(model(input_ids=ids).logits[0, 0], model(input_ids=other).logits[0, 0])


def test_an_encoder_is_refused_as_a_causal_lm_unless_its_config_makes_it_a_decoder(
    tmp_path: Path, tiny_mlm_dir: Path, tiny_gpt2_dir: Path
) -> None:
    from transformers import AutoConfig

    texts = write_csv(tmp_path / "t.csv", [(f"a line of text number {i}",) for i in range(20)], header=("text",))
    encoder = AutoConfig.from_pretrained(str(tiny_mlm_dir))
    assert sees_ahead(encoder)  # the truth behind the refusal: as saved, it would train on the answers
    line = refused_by_cli(tmp_path, "--data", str(texts), "--model", str(tiny_mlm_dir), "--task", "causal-lm")
    assert "(BertForMaskedLM) is an encoder" in line and "BertLMHeadModel" in line and '"is_decoder": true' in line
    decoder = Path(shutil.copytree(tiny_mlm_dir, tmp_path / "decoder"))
    raw = json.loads((decoder / "config.json").read_text())
    (decoder / "config.json").write_text(json.dumps({**raw, "is_decoder": True}))
    assert not sees_ahead(AutoConfig.from_pretrained(str(decoder)))  # what the advice gives: it masks ahead
    check(spec(texts, decoder, task="causal-lm"))
    assert not sees_ahead(AutoConfig.from_pretrained(str(tiny_gpt2_dir)))
    check(spec(texts, tiny_gpt2_dir, task="causal-lm"))
    no_head = fake_model(tmp_path / "distil", model_type="distilbert", architectures=["DistilBertModel"])
    message = refused(spec(texts, no_head, task="causal-lm"), tmp_path)
    assert "(DistilBertModel) cannot be trained as causal-lm" in message and "distilbert" in message


# -- item 8: what used to fail late, or as "a bug" ----------------------------------------------------------


def test_absurd_numbers_are_refused_before_a_run_exists(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(
        json.dumps({"data": {"train": str(SENTIMENT_CSV)}, "model": str(tiny_bert_cls_dir), "epochs": 1e308})
    )
    assert "epochs must be a number up to 2,147,483,647, not 1e+308" in refused_by_cli(tmp_path, str(spec_file))
    line = refused_by_cli(tmp_path, "--data", str(SENTIMENT_CSV), "--model", str(tiny_bert_cls_dir), "--epochs", "nan")
    assert "epochs must be a number up to 2,147,483,647, not nan" in line


@pytest.mark.parametrize(
    "overrides, says",
    [
        ({"epochs": float("inf")}, "epochs must be a number up to 2,147,483,647, not inf"),
        ({"batch_size": 10**30}, "batch_size must be a number up to 2,147,483,647, not a number of 31 digits"),
        ({"warmup": float("nan")}, "warmup must be a number up to"),
        ({"max_length": 2**40}, "data.max_length must be a number up to"),
        ({"seed": -1}, "seed must be 0 or more"),
    ],
)
def test_numbers_no_run_can_use_are_refused(overrides: dict[str, Any], says: str, tmp_path: Path) -> None:
    model = fake_model(tmp_path / "model", max_position_embeddings=2**50)
    assert says in refused(spec(write_csv(tmp_path / "d.csv", ROWS), model, **overrides), tmp_path)


def test_damaged_weights_are_refused_before_a_run_exists(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    cut = Path(shutil.copytree(tiny_bert_cls_dir, tmp_path / "cut"))
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted copy
    line = refused_by_cli(tmp_path, "--data", str(SENTIMENT_CSV), "--model", str(cut))
    assert f"{weights} is damaged" in line
    sharded = fake_model(tmp_path / "sharded")
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model.safetensors", "b": "model-00002-of-00002.safetensors"}})
    )
    assert "lacks model-00002-of-00002.safetensors" in refused(
        spec(write_csv(tmp_path / "d.csv", ROWS), sharded), tmp_path
    )


def test_a_csv_with_cr_line_endings_reads_as_its_lf_twin(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "model")
    lf = write_csv(tmp_path / "lf.csv", ROWS + [("two\nlines", "pos"), ("last", "neg")])
    cr = tmp_path / "cr.csv"  # as old Mac programs and some spreadsheet exports save it
    cr.write_bytes(lf.read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r"))
    assert b"\n" not in cr.read_bytes()
    assert list(records(cr)) == list(records(lf))
    plan = check(spec(cr, model))
    assert plan.reports[0].rows == 22 and plan.reports[0].label_counts == {"pos": 11, "neg": 11}


def test_a_header_that_is_not_csv_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text('"text,label\nfine,pos\n')
    assert "d.csv, line 2: not valid CSV" in refused(spec(data, fake_model(tmp_path / "model")), tmp_path)


def test_a_hub_dataset_while_offline_is_refused_before_a_run_exists(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    line = refused_by_cli(tmp_path, "--data", "someone/reviews", "--model", str(tiny_bert_cls_dir), "--offline")
    assert "'someone/reviews' is not a local file and the Hugging Face Hub cannot be reached" in line
    assert "use a CSV / JSON / JSON Lines file, or go online" in line


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert_cls_dir: Path, datasets_cache: None) -> Path:  # noqa: F811  (the fixture)
    """A run that trained two steps and recorded their batches."""
    run_dir = create_run(
        spec_for(tiny_bert_cls_dir, "native", max_steps=2), tmp_path_factory.mktemp("trained"), name="r"
    )
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run_dir


def _damage(lines: list[str], rows: Any) -> list[str]:
    first = json.loads(lines[0])
    return [json.dumps({**first, "rows": rows})] + lines[1:]


@pytest.mark.parametrize(
    "damage, says",
    [
        (
            lambda lines: _damage(lines, ["x", 3]),
            'step 1 of r is damaged in batches.jsonl: its rows must be row numbers from 0, not ["x", 3]',
        ),
        (lambda lines: _damage(lines, [-5, 2]), "not [-5, 2]"),  # a negative index would pick rows from the end
        (lambda lines: _damage(lines, [None]), "not [null]"),
        (lambda lines: _damage(lines, []), "not []"),
        (lambda lines: ["\0\xff garbage", '{"step": "one"}'], "r's batches.jsonl holds no readable step record"),
    ],
)
def test_a_damaged_batch_record_is_one_line_exit_2(damage: Any, says: str, trained: Path, tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(trained, tmp_path / "r"))
    batches = run_dir / "batches.jsonl"
    batches.write_text("\n".join(damage(batches.read_text().splitlines())) + "\n")
    proc = tui_hf("batch", str(run_dir), "1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr


def test_an_undamaged_batch_record_still_rebuilds(trained: Path) -> None:
    from tui_hf.core.training.xray import xray

    assert xray(trained, 1).matches  # the checks above refuse damage, not a whole record


# -- item 9: data mistakes ----------------------------------------------------------------------------------


def test_the_text_column_as_the_label_column_is_refused(tmp_path: Path) -> None:
    message = refused(
        spec(write_csv(tmp_path / "d.csv", ROWS), fake_model(tmp_path / "m"), label_column="text"), tmp_path
    )
    assert "text_column and label_column are both 'text'" in message


SENTENCES = [(f"review {i}", f"This film was a joy to watch, number {i}") for i in range(30)]


@pytest.mark.parametrize(
    "make, task, says",
    [
        (
            lambda p: write_csv(p, [("good", "POSITIVE"), ("fine", "positive"), ("bad", "negative")] * 8),
            "text-classification",
            "labels that differ only in case are separate classes ('POSITIVE' and 'positive')",
        ),
        (
            lambda p: write_csv(p, [("good", "1"), ("bad", "0"), ("fine", "positive"), ("awful", "negative")] * 6),
            "text-classification",
            "labels mix numbers (0, 1) and names (negative, positive)",
        ),
        (
            lambda p: write_jsonl(
                p.with_suffix(".jsonl"),
                [{"tokens": ["Ann", "ran"], "tags": ["B-PER", "O"]}, {"tokens": ["Bob", "sat"], "tags": ["B-PER", "0"]}]
                * 6,
            ),
            "token-classification",
            "both '0' (zero, 6 times) and 'O' (the letter, 6 times) are labels",
        ),
        (
            lambda p: write_csv(p, SENTENCES),
            "text-classification",
            "30 of the 30 labels in 'label' look like text (e.g. 'This film was a joy to watch, number 0')",
        ),
    ],
)
def test_label_mistakes_warn_and_the_run_goes_on(make: Any, task: str, says: str, tmp_path: Path) -> None:
    data = make(tmp_path / "d.csv")
    columns = {"text_column": "tokens", "label_column": "tags"} if task == "token-classification" else {}
    warnings: list[str] = []
    run_dir = create_run(
        spec(data, fake_model(tmp_path / "m"), task=task, **columns), tmp_path / "runs", warn=warnings.append
    )
    assert run_dir.is_dir()
    assert len(warnings) == 1 and says in warnings[0], warnings


def test_clean_labels_get_no_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    create_run(spec(SENTIMENT_CSV, fake_model(tmp_path / "m")), tmp_path / "runs", warn=warnings.append)
    assert warnings == []


def test_labels_that_differ_only_in_case_do_not_share_a_trained_head(tmp_path: Path) -> None:
    # 'POSITIVE' and 'positive' cannot both keep the head's POSITIVE: one would have no output.
    assert reconcile_labels(["NEGATIVE", "POSITIVE"], ["POSITIVE", "negative", "positive"]) is None


def test_a_head_saved_with_default_label_names_is_label_0_and_label_1(tmp_path: Path) -> None:
    # transformers 5 leaves id2label out of config.json when it is the default (LABEL_0, LABEL_1).
    head = fake_model(tmp_path / "head", architectures=["BertForSequenceClassification"])
    ids = write_csv(tmp_path / "ids.csv", [("good", "1"), ("bad", "0")] * 5)
    assert check(spec(ids, head)).labels == ["0", "1"]  # the head's own ids: kept
    names = write_csv(tmp_path / "names.csv", ROWS)
    assert "a trained SequenceClassification head for 2 labels (LABEL_0, LABEL_1)" in refused(
        spec(names, head), tmp_path
    )


@pytest.mark.parametrize(
    "rows, rare",
    [
        ([(f"good {i}", "pos") for i in range(9)] + [("bad", "neg")], "neg"),  # the training part may keep one class
        (
            [(f"good {i}", "pos") for i in range(8)] + [(f"bad {i}", "neg") for i in range(8)] + [("so-so", "meh")],
            "meh",
        ),
    ],
)
def test_a_class_the_validation_split_takes_whole_is_warned_about(rows: list[Any], rare: str, tmp_path: Path) -> None:
    model = fake_model(tmp_path / "m")
    data = write_csv(tmp_path / "d.csv", rows)
    outcomes = set()
    for seed in range(1, 13):
        s = spec(data, model, seed=seed)
        plan = check(s)
        raw, _ = load_raw(s, plan)  # the split the job trains on: the independent truth
        trained_on = set(raw["train"]["label"])
        warned = [w for w in plan.warnings if f"takes every row of '{rare}' (1 row)" in w]
        assert bool(warned) == (rare not in trained_on), (seed, plan.warnings, trained_on)
        if warned and len(trained_on) == 1:
            assert f"the training part holds only {next(iter(trained_on))!r}" in warned[0]
        outcomes.add(bool(warned))
    assert outcomes == {True, False}  # both cases were seen


def test_the_cli_prints_the_warnings_and_starts(tmp_path: Path, tiny_mlm_dir: Path, jobs: Jobs) -> None:  # noqa: F811  (the fixture)
    data = write_csv(tmp_path / "d.csv", [("good", "POSITIVE"), ("fine", "positive"), ("bad", "negative")] * 8)
    runs = tmp_path / "runs"
    proc = tui_hf(
        "train",
        "--data",
        str(data),
        "--model",
        str(tiny_mlm_dir),
        "--runs-dir",
        str(runs),
        "--device",
        "cpu",
        "--max-steps",
        "1",
        "--detach",
    )
    started = re.search(r"started (\S+) \(pid", proc.stdout)
    if started:
        jobs.watch(Path(started.group(1)))
    assert proc.returncode == 0 and started, proc.stderr
    assert proc.stderr.startswith("tui-hf: warning: ") and proc.stderr.count("\n") == 1
    assert "labels that differ only in case" in proc.stderr


async def test_the_new_job_dialog_shows_the_warnings_before_anything_starts(
    app_settings: Any,
    tiny_mlm_dir: Path,
    tmp_path: Path,
    jobs: Jobs,  # noqa: F811
) -> None:
    from textual.widgets import Input

    from tui_hf.ui.app import make_app
    from tui_hf.ui.training.job_form import NewJobScreen

    data = write_csv(tmp_path / "d.csv", [("good", "POSITIVE"), ("fine", "positive"), ("bad", "negative")] * 8)
    runs = tmp_path / "runs"
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=(150, 48)) as pilot:
        await pilot.press("f6")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewJobScreen))
        dialog = app.screen
        for wid, value in (("model", str(tiny_mlm_dir)), ("train", str(data)), ("max-steps", "1")):
            dialog.query_one(f"#job-{wid}", Input).value = value
        start = dialog.query_one("#job-start", Button)
        await pilot.pause(0.5)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "differ only in case" in text_of(dialog.query_one("#job-warnings")), timeout=60)
        assert "Start again to train anyway" in text_of(dialog.query_one("#job-error"))
        assert str(start.label) == "Start anyway  ctrl+s" and app.screen is dialog
        assert not runs.exists() or not list_runs(runs)  # nothing started before the user saw them
        dialog.query_one("#job-epochs", Input).value = "2"  # another setting: the warnings are asked again
        await wait_until(pilot, lambda: str(start.label) == "Start  ctrl+s")
        assert text_of(dialog.query_one("#job-warnings")).strip() == ""
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: str(start.label) == "Start anyway  ctrl+s", timeout=60)
        assert not runs.exists() or not list_runs(runs)
        await pilot.press("ctrl+s")  # started anyway
        await wait_until(pilot, lambda: runs.exists() and len(list_runs(runs)) == 1, timeout=60)
        jobs.watch(list_runs(runs)[0].path)
        await wait_until(pilot, lambda: not isinstance(app.screen, NewJobScreen), timeout=30)


def test_a_validation_fraction_that_leaves_nothing_to_train_on_is_refused_up_front(
    tmp_path: Path, tiny_bert_cls_dir: Path
) -> None:
    """datasets' split would fail after the run exists (the probe's case: 0.999 of 320 rows)."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(
        json.dumps(
            {
                "data": {"train": str(SENTIMENT_CSV), "validation_fraction": 0.999},
                "model": str(tiny_bert_cls_dir),
                "max_steps": 2,
            }
        )
    )
    line = refused_by_cli(tmp_path, str(spec_file))
    assert "validation_fraction 0.999 of 320 row(s) leaves 0 to train on" in line
