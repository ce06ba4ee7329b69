"""`tui-hf export RUN --script` for the families it refused before (issue 19): masked-lm, sentence pairs, and the
family options (label_all_tokens, whole-word masking); each script runs two steps and logs the run's step-1 loss.
The app's Script button and the CLI write under one rule: RUN/train.py, never over a file, nowhere else in a run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_code_view import IMPORTS_TUI_HF, _env, _logged, cli
from tests.training_fixtures import datasets_cache, run_job  # noqa: F401 (fixtures)
from tui_hf.core.training.spec import DataSpec, TrainSpec

pytest_plugins = ("tests.training_fixtures",)

COMMON: dict[str, Any] = dict(
    max_steps=2, batch_size=8, learning_rate=5e-3, warmup=0.0, logging_steps=1, device="cpu", seed=7
)


def case_spec(case: str, engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> TrainSpec:
    from tui_hf.data import PARAPHRASE_CSV, SENTIMENT_CSV

    if case.endswith("pairs"):
        train = str(PARAPHRASE_CSV)
        if case == "saved-pairs":  # a DatasetDict saved with save_to_disk, with its own validation split
            import csv

            import datasets

            with open(PARAPHRASE_CSV, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            train = str(tmp_path / "saved")
            splits = {"train": rows[:200], "validation": rows[200:]}
            datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(train)
        data = DataSpec(train=train, text_column="sentence1", text_pair_column="sentence2", max_length=48)
        return TrainSpec(data=data, model=str(request.getfixturevalue("tiny_mlm_dir")), engine=engine, **COMMON)
    if case.startswith("masked-lm"):
        data = DataSpec(train=str(SENTIMENT_CSV), max_length=32, whole_word_masking=case.endswith("words"))
        model = str(request.getfixturevalue("tiny_mlm_dir"))
        return TrainSpec(data=data, model=model, task="masked-lm", engine=engine, **COMMON)
    rows = [
        {"tokens": ["Sylvain", "lives", "in", "Brooklyn"], "tags": ["B-PER", "O", "O", "B-LOC"]},
        {"tokens": ["We", "met", "Omar", "Haddad", "in", "Rome"], "tags": ["O", "O", "B-PER", "I-PER", "O", "B-LOC"]},
    ] * 12
    path = tmp_path / "ner.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    data = DataSpec(train=str(path), text_column="tokens", label_column="tags", max_length=16, label_all_tokens=True)
    model = str(request.getfixturevalue("tiny_ner_dir"))
    return TrainSpec(data=data, model=model, task="token-classification", engine=engine, replace_head=True, **COMMON)


@pytest.mark.parametrize(
    "case,engine",
    [
        # The pair and masking code of a script is the same for both engines; each engine's loop runs here
        # (native: masked-lm-words) and for every other family in test_code_view.py.
        ("pairs", "trainer"),
        ("masked-lm", "trainer"),
        ("masked-lm-words", "native"),
        ("ner-all-tokens", "trainer"),
        ("saved-pairs", "trainer"),
    ],
)
def test_the_exported_script_of_a_new_family_trains_two_steps_as_the_job_did(
    case: str, engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tui_hf.core.training.events import EventReader
    from tui_hf.core.training.job import create_run

    run_dir = create_run(case_spec(case, engine, tmp_path, request), tmp_path / "runs", name="job")
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [e for e in EventReader(run_dir).read() if not e.get("replay")]
    job_loss = next(e["loss"] for e in events if e["event"] == "train" and e["step"] == 1)
    job_baseline = next(e for e in events if e["event"] == "eval" and e["step"] == 0)
    script = tmp_path / "train.py"
    code, out = cli("export", str(run_dir), "--script", str(script))
    assert code == 0, out
    text = script.read_text()
    assert not IMPORTS_TUI_HF.search(text)
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_env()
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    logged = _logged(ran.stdout)
    loss = next(e["loss"] for e in logged if "loss" in e and e["step"] == 1)
    assert abs(loss - job_loss) <= 1e-4, (loss, job_loss)  # the same batch, masks and labels as the run's
    baseline = next(e for e in logged if "eval_loss" in e)
    assert baseline["step"] == 0 and abs(baseline["eval_loss"] - job_baseline["eval_loss"]) <= 1e-4
    if case.startswith("masked-lm"):
        assert baseline["eval_perplexity"] == pytest.approx(job_baseline["eval_perplexity"], rel=1e-4)


def test_the_script_goes_to_run_train_py_or_outside_any_run_and_never_over_a_file(
    tmp_path: Path, tiny_bert_cls_dir: Path
) -> None:
    from tui_hf.core.training.job import create_run
    from tui_hf.data import SENTIMENT_CSV

    run_dir = create_run(
        TrainSpec(data=DataSpec(train=str(SENTIMENT_CSV)), model=str(tiny_bert_cls_dir)), tmp_path / "runs", name="r"
    )
    marker_files = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for name in [*marker_files, "notes.py"]:  # a run's own files, and any other name inside it
        code, err = cli("export", str(run_dir), "--script", str(run_dir / name))
        assert code == 2 and "inside the run directory" in err and "RUN/train.py" in err, (name, err)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == marker_files
    code, out = cli("export", str(run_dir), "--script", str(run_dir / "train.py"))  # what the app's button writes
    assert code == 0 and (run_dir / "train.py").is_file(), out
    code, err = cli("export", str(run_dir), "--script", str(run_dir / "train.py"))
    assert code == 2 and "exists" in err  # written once, never replaced


def test_every_new_family_script_is_clean_python(tmp_path: Path) -> None:
    """No unused import, no undefined name, lines within 120: each family and engine, from a file, a hub dataset
    with a config, or a saved dataset, with and without each family's option."""
    import shutil

    from tui_hf.core.training.script import training_script

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "dataset_dict.json").write_text("{}")
    options = {
        "text-classification": {"text_pair_column": "s2"},
        "token-classification": {"label_all_tokens": True},
        "masked-lm": {"whole_word_masking": True},
        "causal-lm": {},
    }
    out = tmp_path / "scripts"
    out.mkdir()
    n = 0
    for task, option in options.items():
        for engine in ("trainer", "native"):
            for train in ("/data/rows.csv", "glue", str(saved)):
                for extra in ({}, option):
                    for fraction in (0.2, 0.0):
                        data = DataSpec(train=train, hub_config="mrpc", validation_fraction=fraction, **extra)
                        for labels in ([], ["a", "b"]):
                            n += 1
                            text = training_script(TrainSpec(data=data, task=task, engine=engine), labels, "run")
                            (out / f"s{n}.py").write_text(text)
    proc = subprocess.run(
        [ruff, "check", "--isolated", "--select", "E,F,W,I", "--line-length", "120", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
