"""Bad training input is refused before anything starts: exit 2, a message naming the file, line, column
and what to do, and no run directory. The data checks read the whole file in one pass with bounded memory."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tui_hf.core.errors import DataError, RunRefused, SpecError
from tui_hf.core.training.datafile import peek, records, validate_file
from tui_hf.core.training.job import create_run
from tui_hf.core.training.preflight import DataPlan, check, reconcile_labels
from tui_hf.core.training.spec import DataSpec, TrainSpec

ROWS = [("a fine film", "pos"), ("a dull film", "neg")] * 10


def write_csv(path: Path, rows: list[Any], header: tuple[str, ...] = ("text", "label"), bom: bool = False) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def fake_model(path: Path, **config: Any) -> Path:
    """A model directory as its files describe it (preflight reads files only; no weights are loaded): a
    config, a weight file (a whole safetensors header, or `_weights`' name holding a byte) and a tokenizer file."""
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    weights = config.pop("_weights", None)
    base = {"model_type": "bert", "architectures": ["BertModel"], "max_position_embeddings": 128}
    (path / "config.json").write_text(json.dumps({**base, **config}))
    if weights:
        (path / weights).write_bytes(b"x")
    else:
        save_file({"w": np.zeros(2, dtype=np.float32)}, str(path / "model.safetensors"))
    (path / "tokenizer.json").write_text("{}")
    return path


def spec(train: Path | str, model: Path | str, **overrides: Any) -> TrainSpec:
    data = {k: overrides.pop(k) for k in list(overrides) if k in {f for f in DataSpec.__dataclass_fields__}}
    overrides.setdefault("device", "cpu")
    return TrainSpec(data=DataSpec(train=str(train), **data), model=str(model), **overrides)


def refused(s: TrainSpec, tmp_path: Path) -> str:
    """The one message a refused run gets; and nothing was created."""
    runs = tmp_path / "runs"
    with pytest.raises(SpecError) as info:
        create_run(s, runs)
    assert not runs.exists() or not any(runs.iterdir())
    return str(info.value)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return fake_model(tmp_path / "model")


# -- data files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, where, what",
    [
        # a non-UTF-8 byte far beyond any preview sample
        (lambda p: write_csv(p / "d.csv", ROWS * 200).open("ab").write(b"ok \xff,pos\n"), "line 4002", "not UTF-8"),
        # malformed JSON Lines: the real line, not "line 1"
        (
            lambda p: (p / "d.jsonl").write_text('{"text": "a", "label": "x"}\n' * 7 + '{"text": "b", "label": }\n'),
            "line 8",
            "not valid JSON",
        ),
        # one array of objects, malformed deep inside
        (
            lambda p: (p / "d.json").write_text(
                "[\n" + '{"text": "a", "label": "x"},\n' * 30 + '{"text": "b" "label": 1}\n]'
            ),
            "line 32",
            "not valid JSON",
        ),
        # a ragged CSV row: pandas would shift the columns and train on garbage
        (lambda p: write_csv(p / "d.csv", ROWS + [("an unquoted, comma", "pos", "x")]), "line 22", "3 fields"),
        (lambda p: write_csv(p / "d.csv", ROWS + [("", "pos")]), "line 22, column 'text'", "empty"),
        (lambda p: write_csv(p / "d.csv", ROWS + [("fine", "")]), "line 22, column 'label'", "empty"),
        (lambda p: write_csv(p / "d.csv", ROWS + [("fine", "NaN")]), "line 22, column 'label'", "empty"),
        (lambda p: write_csv(p / "d.csv", ROWS + [("None", "pos")]), "line 22, column 'text'", "empty"),
        (
            lambda p: write_jsonl(p / "d.jsonl", [{"text": "a", "label": "x"}, {"text": None, "label": "y"}]),
            "line 2, column 'text'",
            "empty",
        ),
        (
            lambda p: write_jsonl(p / "d.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 0.5}]),
            "line 2, column 'label'",
            "real number",
        ),
        (
            lambda p: write_jsonl(p / "d.jsonl", [{"text": "a", "label": 1}, {"text": 3, "label": 0}]),
            "line 2, column 'text'",
            "must be a string",
        ),
        (
            lambda p: write_jsonl(p / "d.jsonl", [{"text": "a", "label": 1}, {"txt": "b", "label": 0}]),
            "line 2",
            "no column 'text'",
        ),
        (lambda p: write_csv(p / "d.csv", [("only", "one")] * 5), "d.csv", "only one label"),
        (lambda p: write_csv(p / "d.csv", []), "d.csv", "no rows"),
    ],
)
def test_bad_data_is_refused_with_file_line_and_column(
    make: Any, where: str, what: str, tmp_path: Path, model: Path
) -> None:
    make(tmp_path)
    [data] = [p for p in tmp_path.iterdir() if p.name.startswith("d.")]
    message = refused(spec(data, model), tmp_path)
    assert f"{data.name}, {where}" in message or (where == data.name and data.name in message), message
    assert what in message


NER_ROWS = [{"tokens": ["Anna", "visited", "Paris"], "tags": ["B-PER", "O", "B-LOC"]}] * 12


@pytest.mark.parametrize(
    "tag, what",
    [
        (None, "the label is empty"),
        ("", "the label is empty"),
        ("   ", "the label is empty"),
        (2.5, "is a real number"),
        ({"tag": "O"}, "a label must be a class name or an integer"),
    ],
    ids=["null", "empty", "blank", "real-number", "object"],
)
def test_a_bad_token_tag_is_refused_with_its_line_and_position(
    tag: Any, what: str, tmp_path: Path, model: Path
) -> None:
    """Not only the count of tags is checked: each tag must be a class (a name or an integer id)."""
    bad = {"tokens": ["Bob", "left", "Rome"], "tags": ["B-PER", tag, "B-LOC"]}
    data = write_jsonl(tmp_path / "ner.jsonl", NER_ROWS + [bad] + NER_ROWS)
    message = refused(
        spec(data, model, task="token-classification", text_column="tokens", label_column="tags"), tmp_path
    )
    assert "ner.jsonl, line 13, column 'tags', tag 2" in message and what in message, message


def test_a_utf8_bom_is_accepted(tmp_path: Path, model: Path) -> None:
    data = write_csv(tmp_path / "excel.csv", ROWS, bom=True)
    plan = check(spec(data, model))
    assert plan.labels == ["neg", "pos"] and plan.reports[0].rows == 20


def test_integer_labels_far_apart_are_classes_not_a_million_outputs(tmp_path: Path, model: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": f"t{i}", "label": [0, 1, 999999][i % 3]} for i in range(30)])
    assert check(spec(data, model)).labels == ["0", "1", "999999"]  # three classes, in numeric order
    dense = write_csv(tmp_path / "dense.csv", [(f"t{i}", i % 11) for i in range(44)])
    assert check(spec(dense, model)).labels == [str(i) for i in range(11)]  # 0..n-1 keep their ids


def test_thousands_of_labels_warn(tmp_path: Path, model: Path) -> None:
    data = write_csv(tmp_path / "d.csv", [(f"text {i}", f"class {i}") for i in range(1500)])
    warnings: list[str] = []
    create_run(spec(data, model, validation_fraction=0.0), tmp_path / "runs", warn=warnings.append)
    assert len(warnings) == 1 and "1,500 distinct labels" in warnings[0]


def test_a_validation_file_is_checked_too(tmp_path: Path, model: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ROWS)
    other = write_csv(tmp_path / "val.csv", [("x", "pos")], header=("review", "label"))
    assert "val.csv, line 2" in refused(spec(train, model, validation=str(other)), tmp_path)
    unseen = write_csv(tmp_path / "val2.csv", [("x", "pos"), ("y", "meh")])
    assert "label 'meh' never occurs" in refused(spec(train, model, validation=str(unseen)), tmp_path)


def test_the_whole_file_is_checked_with_bounded_memory(tmp_path: Path) -> None:
    data = tmp_path / "big.jsonl"
    row = json.dumps({"text": "a review " * 20, "label": "pos"}) + "\n"
    with open(data, "w") as fh:
        for i in range(60_000):
            fh.write(row if i % 2 else row.replace("pos", "neg"))
    size = data.stat().st_size
    tracemalloc.start()
    try:
        report = validate_file(str(data), "text-classification", "text", "label")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.rows == 60_000 and report.label_counts == {"pos": 30_000, "neg": 30_000}
    assert size > 10 * 2**20 and peak < size / 20  # streaming: a fraction of the file, not the file


def test_the_preview_reads_a_bounded_sample(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", ROWS * 300)
    sample = peek(str(data), limit=50)
    assert len(sample.rows) == 50 and sample.more and sample.columns == ["text", "label"]


def test_line_numbers_follow_multiline_csv_fields(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text('text,label\n"two\nlines",a\nnext,\n')
    with pytest.raises(DataError, match=r"d.csv, line 4, column 'label'"):
        validate_file(str(data), "text-classification", "text", "label")
    assert [n for n, _ in records(data) if True][:1] == [2]


def test_token_classification_rows_are_checked(tmp_path: Path, model: Path) -> None:
    rows = [{"tokens": ["a", "b"], "tags": ["O", "B"]}] * 4 + [{"tokens": ["a", "b"], "tags": ["O"]}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    message = refused(
        spec(data, model, task="token-classification", text_column="tokens", label_column="tags"), tmp_path
    )
    assert "d.jsonl, line 5" in message and "2 words but 1 tags" in message


# -- the spec ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, what",
    [
        ({"data": {"train": "x.csv"}, "epochs": "three"}, 'epochs must be a number, not a string "three"'),
        ({"data": {"train": "x.csv"}, "batch_size": "16"}, "batch_size must be a whole number"),
        ({"data": {"train": "x.csv"}, "learning_rate": None}, "learning_rate must be a number, not null"),
        ({"data": None}, "data must be an object"),
        ({"data": ["x.csv"]}, "data must be an object ({...}), not a list"),
        ({"data": {"train": "x.csv", "max_length": "64"}}, "data.max_length must be a whole number"),
        ({"data": {}}, "data.train is missing"),
        ([{"data": {"train": "x.csv"}}], "must be a JSON object"),
        ({"data": {"train": "x.csv"}, "replace_head": "yes"}, "replace_head must be true or false"),
        ({"data": {"train": "x.csv"}, "extra": []}, "extra is not read by tui-hf (it never was): remove it"),
    ],
)
def test_wrong_types_in_spec_json_are_one_message(raw: Any, what: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SpecError) as info:
        TrainSpec.load(path)
    assert what in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    "overrides, what",
    [
        ({"logging_steps": 0}, "logging_steps must be at least 1"),
        ({"max_grad_norm": -1.0}, "max_grad_norm must be 0 (no clipping) or more"),
        ({"max_steps": 0}, "max_steps must be above 0"),
        ({"max_length": 512}, "max_length 512 is more than"),
        ({"device": "tpu"}, "device must be one of"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    overrides: dict[str, Any], what: str, tmp_path: Path, model: Path
) -> None:
    assert what in refused(spec(write_csv(tmp_path / "d.csv", ROWS), model, **overrides), tmp_path)


def test_nproc_below_one_is_refused(tmp_path: Path, model: Path) -> None:
    with pytest.raises(RunRefused, match="nproc must be 1 or more"):
        create_run(spec(write_csv(tmp_path / "d.csv", ROWS), model), tmp_path / "runs", nproc=0)


def test_a_cuda_device_that_does_not_exist_is_refused(tmp_path: Path, model: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    message = refused(spec(write_csv(tmp_path / "d.csv", ROWS), model, device="cuda"), tmp_path)
    assert "device 'cuda' is not available here" in message


# -- the model, from its files ----------------------------------------------------------------------------


def test_model_problems_are_refused_up_front(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", ROWS)
    assert "no model directory at" in refused(spec(data, tmp_path / "nowhere"), tmp_path)
    assert "not in the local Hugging Face cache" in refused(
        spec(data, "someone/uncached-model", offline=True), tmp_path
    )
    remote = fake_model(tmp_path / "remote", auto_map={"AutoModel": "modeling_x.XModel"})
    message = refused(spec(data, remote), tmp_path)
    assert "needs its own Python code" in message and "trust_remote_code" in message
    assert check(spec(data, remote, trust_remote_code=True)).labels == ["neg", "pos"]
    pickled = tmp_path / "pickled"
    fake_model(pickled, _weights="pytorch_model.bin")
    message = refused(spec(data, pickled), tmp_path)
    assert "only pickle weights" in message and "allow_pickle" in message
    assert check(spec(data, pickled, allow_pickle=True)).labels == ["neg", "pos"]


def test_a_trained_head_with_other_label_names_is_refused_unless_replaced(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", [("a cat", "cat"), ("a dog", "dog")] * 5)
    head = fake_model(
        tmp_path / "sentiment",
        architectures=["BertForSequenceClassification"],
        id2label={"0": "negative", "1": "positive"},
    )
    message = refused(spec(data, head), tmp_path)
    assert "trained SequenceClassification head" in message and "negative, positive" in message
    assert "replace_head" in message
    assert check(spec(data, head, replace_head=True)).labels == ["cat", "dog"]
    # The same names (any case, any order) keep the head's ids.
    same = write_csv(tmp_path / "same.csv", [("good", "Positive"), ("bad", "Negative")] * 5)
    assert check(spec(same, head)).labels == ["Negative", "Positive"]


def test_label_reconciliation() -> None:
    assert reconcile_labels(["POSITIVE", "NEGATIVE"], ["negative", "positive"]) == ["positive", "negative"]
    assert reconcile_labels(["a", "b", "c"], ["a", "c"]) == ["a", "b", "c"]  # a subset keeps the head
    assert reconcile_labels(["LABEL_0", "LABEL_1"], ["0", "1"]) == ["0", "1"]
    assert reconcile_labels(["LABEL_0", "LABEL_1"], ["cat", "dog"]) is None
    assert reconcile_labels(["positive", "negative"], ["cat", "dog"]) is None


# -- run names and the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", ".hidden", "/abs", "x" * 101])
def test_run_names_cannot_leave_the_runs_directory(name: str, tmp_path: Path, model: Path) -> None:
    with pytest.raises(SpecError, match="run name"):
        create_run(spec(write_csv(tmp_path / "d.csv", ROWS), model), tmp_path / "runs", name=name)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "runs").exists()


def test_the_cli_refuses_bad_input_with_exit_2_and_no_run_directory(tmp_path: Path, model: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\nfine,pos\nalso fine,neg\nan unquoted, comma,pos\n")
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_hf",
            "train",
            "--data",
            str(data),
            "--model",
            str(model),
            "--runs-dir",
            str(runs),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "d.csv, line 4: 3 fields where the header has 2" in proc.stderr
    assert not runs.exists() or not any(runs.iterdir())
    remote = fake_model(tmp_path / "remote", auto_map={"AutoModel": "m.X"})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_hf",
            "train",
            "--data",
            str(write_csv(tmp_path / "ok.csv", ROWS)),
            "--model",
            str(remote),
            "--runs-dir",
            str(runs),
            "--name",
            "../x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "run name '../x'" in proc.stderr and not (tmp_path / "x").exists()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_hf",
            "train",
            "--data",
            str(tmp_path / "ok.csv"),
            "--model",
            str(remote),
            "--runs-dir",
            str(runs),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "(--trust-remote-code)" in proc.stderr  # the CLI names its flag


def test_the_data_plan_notices_a_changed_file(tmp_path: Path, model: Path) -> None:
    data = write_csv(tmp_path / "d.csv", ROWS)
    run_dir = create_run(spec(data, model), tmp_path / "runs")
    plan = DataPlan.load(run_dir / "data.json")
    assert plan is not None and plan.unchanged() and plan.labels == ["neg", "pos"]
    with open(data, "a") as fh:
        fh.write("another,pos\n")
    os.utime(data, ns=(1, 1))
    assert not plan.unchanged()
