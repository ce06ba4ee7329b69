"""Data sources beyond a file (issue 19): a `datasets` directory saved with save_to_disk, and a hub dataset with
a config and split (`--data glue --data-config mrpc`), checked up front as a file is."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import datasets_cache, tui_hf  # noqa: F401 (fixtures)
from tui_hf.core.training.events import read_state
from tui_hf.data import PARAPHRASE_CSV, SENTIMENT_CSV

pytest_plugins = ("tests.training_fixtures",)


def csv_rows(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def saved_pairs(tmp_path: Path, train: list[dict[str, Any]], validation: list[dict[str, Any]] | None) -> Path:
    import datasets

    datasets.disable_progress_bars()
    splits = {"train": datasets.Dataset.from_list(train)}
    if validation is not None:
        splits["validation"] = datasets.Dataset.from_list(validation)
    out = tmp_path / "pairs-saved"
    datasets.DatasetDict(splits).save_to_disk(str(out))
    return out


def refused_by_cli(tmp_path: Path, *args: str) -> str:
    """`tui-hf train ARGS` refused: exit 2, one line, no traceback, no run directory. Returns the line."""
    runs = tmp_path / "runs"
    proc = tui_hf("train", *args, "--runs-dir", str(runs), "--device", "cpu")
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("tui-hf: ") and "Traceback" not in proc.stderr, proc.stderr
    assert not runs.exists() or not any(runs.iterdir())
    return lines[0]


def test_a_saved_dataset_dict_trains_on_its_train_split_and_validates_on_its_own_validation_split(
    tiny_mlm_dir: Path, tmp_path: Path
) -> None:
    rows = csv_rows(PARAPHRASE_CSV)
    held = rows[-40:]
    data = saved_pairs(tmp_path, rows[:-40], held)
    runs = tmp_path / "runs"
    proc = tui_hf(
        "train",
        "--data",
        str(data),
        "--text-column",
        "sentence1",
        "--text-pair-column",
        "sentence2",
        "--model",
        str(tiny_mlm_dir),
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--runs-dir",
        str(runs),
        "--name",
        "saved",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = read_state(runs / "saved")
    assert state.status == "finished" and state.labels == ["0", "1"]
    assert {"eval_accuracy", "eval_f1"} <= set(state.evals[-1])
    # The predictions shown at each evaluation are validation rows: all from the dataset's own validation split
    # (a random fifth of the train rows would hardly give four of the last 40 of 240).
    shown = {f"{r['sentence1']} ‖ {r['sentence2']}" for r in held}
    items = state.predictions["items"] if state.predictions else []
    assert items and all(item["text"] in shown for item in items), items


def test_a_saved_single_dataset_trains_with_a_validation_part_split_off(
    tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    import datasets

    datasets.disable_progress_bars()
    data = tmp_path / "sentiment-saved"
    datasets.Dataset.from_list(csv_rows(SENTIMENT_CSV)).save_to_disk(str(data))
    assert (data / "state.json").is_file() and not (data / "dataset_dict.json").exists()
    runs = tmp_path / "runs"
    proc = tui_hf(
        "train",
        "--data",
        str(data),
        "--model",
        str(tiny_bert_cls_dir),
        "--max-steps",
        "2",
        "--device",
        "cpu",
        "--runs-dir",
        str(runs),
        "--name",
        "one",
        "--replace-head",
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = read_state(runs / "one")
    assert state.status == "finished" and state.evals and state.evals[0]["step"] == 0


def test_a_saved_dataset_missing_a_column_is_refused_naming_the_columns_it_has(tmp_path: Path) -> None:
    rows = csv_rows(PARAPHRASE_CSV)[:20]
    data = saved_pairs(tmp_path, rows, None)
    line = refused_by_cli(tmp_path, "--data", str(data), "--text-column", "sentence1", "--text-pair-column", "second")
    assert f"{data}, split 'train': no column 'second'; its columns are 'sentence1', 'sentence2', 'label'" in line
    assert "check text_pair_column" in line


def test_a_saved_dataset_row_with_an_empty_text_is_refused_with_its_row(tmp_path: Path) -> None:
    rows = csv_rows(PARAPHRASE_CSV)[:20]
    rows[6] = {**rows[6], "sentence2": "  "}
    data = saved_pairs(tmp_path, rows, None)
    line = refused_by_cli(
        tmp_path, "--data", str(data), "--text-column", "sentence1", "--text-pair-column", "sentence2"
    )
    assert f"{data}, split 'train', row 7, column 'sentence2': the text is empty" in line


def test_a_split_the_saved_dataset_lacks_and_a_plain_directory_are_refused(tmp_path: Path) -> None:
    data = saved_pairs(tmp_path, csv_rows(PARAPHRASE_CSV)[:20], csv_rows(PARAPHRASE_CSV)[20:30])
    line = refused_by_cli(
        tmp_path,
        "--data",
        str(data),
        "--text-column",
        "sentence1",
        "--text-pair-column",
        "sentence2",
        "--data-split",
        "test",
    )
    assert f"{data} has no split 'test'; its splits are 'train', 'validation'" in line
    plain = tmp_path / "folder"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a dataset")
    line = refused_by_cli(tmp_path, "--data", str(plain))
    assert f"{plain} is a directory but not a dataset saved with save_to_disk" in line


def test_a_hub_dataset_with_a_config_while_offline_is_one_line_and_nothing_is_made(
    tmp_path: Path, tiny_bert_cls_dir: Path
) -> None:
    runs = tmp_path / "runs"
    proc = tui_hf(
        "train",
        "--data",
        "glue",
        "--data-config",
        "mrpc",
        "--text-column",
        "sentence1",
        "--text-pair-column",
        "sentence2",
        "--model",
        str(tiny_bert_cls_dir),
        "--runs-dir",
        str(runs),
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        "tui-hf: " in proc.stderr
        and "'glue' is not a local file and the Hugging Face Hub cannot be reached" in proc.stderr
    )
    assert not runs.exists()


def test_the_hub_config_and_split_reach_load_dataset_and_its_validation_split_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `--data glue --data-config mrpc` asks of `datasets` (the network is not reached: load_dataset is
    replaced by one returning a DatasetDict shaped as GLUE's, with a ClassLabel)."""
    import datasets

    from tui_hf.core.training import data as data_mod
    from tui_hf.core.training import preflight
    from tui_hf.core.training.spec import DataSpec, TrainSpec

    rows = csv_rows(PARAPHRASE_CSV)
    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["not_equivalent", "equivalent"]),
        }
    )

    def split(part: list[dict[str, Any]]) -> Any:
        return datasets.Dataset.from_list([{**r, "label": int(r["label"])} for r in part], features=features)

    asked: list[tuple[Any, ...]] = []

    def load_dataset(*args: Any, **kwargs: Any) -> Any:
        asked.append(args + tuple(sorted(kwargs.items())))
        return datasets.DatasetDict(
            {"train": split(rows[:200]), "validation": split(rows[200:]), "test": split(rows[:5])}
        )

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(preflight, "hub_data_problem", lambda spec: None)
    spec = TrainSpec(
        data=DataSpec(train="glue", hub_config="mrpc", text_column="sentence1", text_pair_column="sentence2")
    )
    raw, labels = data_mod.load_raw(spec, preflight.DataPlan())
    assert asked == [("glue", "mrpc")]
    assert labels == ["not_equivalent", "equivalent"]  # the ClassLabel's names keep their ids
    assert len(raw["train"]) == 200 and len(raw["validation"]) == 40
    assert raw["validation"][0]["text"] == rows[200]["sentence1"]
    assert raw["validation"][0]["label"] == ["not_equivalent", "equivalent"][int(rows[200]["label"])]


async def test_the_new_job_dialog_previews_a_saved_dataset_and_writes_the_hub_config(
    app_settings: Any, tmp_path: Path
) -> None:
    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tests.test_training_app import SMALL, fill, open_new_job
    from tui_hf.ui.app import make_app

    rows = csv_rows(PARAPHRASE_CSV)
    data = saved_pairs(tmp_path, rows[:30], rows[30:40])
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_new_job(pilot)
        await wait_until(pilot, lambda: "320 rows" in text_of(dialog.query_one("#job-data")))
        fill(dialog, train=str(data))
        await wait_until(pilot, lambda: "a saved dataset" in text_of(dialog.query_one("#job-data")))
        shown = text_of(dialog.query_one("#job-data"), width=200)
        assert "splits train (30 rows), validation (10 rows)" in shown and "sentence1, sentence2, label" in shown
        fill(dialog, train="glue", config="mrpc", text="sentence1", pair="sentence2")
        await wait_until(pilot, lambda: "configuration mrpc" in text_of(dialog.query_one("#job-data")))
        spec = dialog.fields().spec()
        assert (spec.data.train, spec.data.hub_config, spec.data.text_pair_column) == ("glue", "mrpc", "sentence2")
        await wait_until(pilot, lambda: '"hub_config": "mrpc"' in text_of(dialog.query_one("#job-spec"), width=200))
