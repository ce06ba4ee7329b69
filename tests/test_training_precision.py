"""Mixed precision, gradient accumulation and checkpointing, and the plan before a run (issue 20, items 2-4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import datasets_cache, jobs, run_job, spec_for, tui_hf  # noqa: F401 (fixtures)
from tui_hf.core.training.events import EventReader
from tui_hf.core.training.job import create_run


def _start(run_dir: Path) -> dict:
    return next(e for e in EventReader(run_dir).read() if e.get("event") == "start")


def _train_events(run_dir: Path) -> list[dict]:
    return [e for e in EventReader(run_dir).read() if e.get("event") == "train" and not e.get("replay")]


@pytest.fixture(scope="module")
def no_dropout_model(tiny_bert_cls_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny classifier without dropout: one batch of 8 and four of 2 then see the same network."""
    path = tmp_path_factory.mktemp("no-dropout") / "model"
    shutil.copytree(tiny_bert_cls_dir, path)
    config = json.loads((path / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return path


# -- precision ----------------------------------------------------------------------------------------------


def test_fp16_on_the_cpu_is_refused_in_one_line_and_nothing_is_created(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    got = tui_hf(
        "train", "--data", "sentiment", "--model", str(tiny_bert_cls_dir), "--device", "cpu",
        "--precision", "fp16", "--runs-dir", str(runs),
    )  # fmt: skip
    assert got.returncode == 2, got.stderr
    assert got.stderr.strip().splitlines() == [
        "tui-hf: error: precision fp16 needs a CUDA GPU (the CPU has no fp16 training kernels): use bf16 or fp32"
    ]
    assert not runs.exists()


def test_auto_precision_is_fp32_on_the_cpu() -> None:
    from tui_hf.core.training.precision import resolve_precision

    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_bf16_on_the_cpu_trains_in_both_engines(engine: str, tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    import torch

    spec = spec_for(tiny_bert_cls_dir, engine, precision="bf16", max_steps=3)
    run_dir = create_run(spec, tmp_path)
    done = run_job(run_dir)
    assert done.returncode == 0, (run_dir / "train.log").read_text()
    assert _start(run_dir)["precision"] == "bf16"
    losses = [e["loss"] for e in _train_events(run_dir)]
    assert len(losses) == 3 and all(x == x for x in losses)
    if engine == "native":  # autocast really is on: fp32's first loss (same weights, same batch) is not this one
        fp32 = create_run(spec_for(tiny_bert_cls_dir, "native", precision="fp32", max_steps=1), tmp_path / "fp32")
        assert run_job(fp32).returncode == 0, (fp32 / "train.log").read_text()
        first = _train_events(fp32)[0]["loss"]
        assert first != losses[0] and first == pytest.approx(losses[0], rel=0.05)
    # bf16 autocast ran the forward: a loss computed in bf16 differs from the fp32 one of the same batch.
    # The final weights stay float32 (fp32 master weights: autocast casts per operation).
    from safetensors.torch import load_file

    weights = load_file(str(run_dir / "final" / "model.safetensors"))
    assert all(t.dtype == torch.float32 for t in weights.values())


# -- accumulation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["native", "trainer"])
def test_accumulating_four_batches_of_two_makes_the_update_of_one_batch_of_eight(
    engine: str, no_dropout_model: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    from tui_hf.core.training.xray import read_batches, xray

    runs = {}
    for name, batch, accum in (("accum", 2, 4), ("whole", 8, 1)):
        spec = spec_for(no_dropout_model, engine, batch_size=batch, grad_accum=accum, max_steps=1, warmup=0)
        run_dir = create_run(spec, tmp_path / name)
        assert run_job(run_dir).returncode == 0, (run_dir / "train.log").read_text()
        runs[name] = run_dir
    assert _start(runs["accum"])["batch_size"] == 8 and _start(runs["accum"])["grad_accum"] == 4
    from tui_hf.core.training.follow import snapshot

    assert "batch 8 (2 × 4 accum) · fp32" in snapshot(runs["accum"])  # what `attach --once` shows
    a, w = _train_events(runs["accum"])[0], _train_events(runs["whole"])[0]
    # The gradient, before clipping, is the batch-8 one: its norm shows a missing or doubled 1/N at once.
    assert a["grad_norm"] == pytest.approx(w["grad_norm"], rel=1e-4)
    assert a["loss"] == pytest.approx(w["loss"], rel=1e-4)
    after_a = load_file(str(runs["accum"] / "final" / "model.safetensors"))
    after_w = load_file(str(runs["whole"] / "final" / "model.safetensors"))
    before = load_file(str(no_dropout_model / "model.safetensors"))
    moved = 0
    for key, value in after_w.items():
        assert (after_a[key] - value).abs().max() < 1e-5, key
        moved += int(not bool((value == before[key]).all()))
    assert moved > 10  # the step changed the weights (a run that trained nothing would compare equal too)
    # The X-ray of that optimizer step: all 8 rows, the same ones the batch of 8 trained, matching the record.
    x = xray(runs["accum"], 1)
    assert len(x.rows) == 8 and x.matches and x.micro_batches == 4
    assert sorted(r.position for r in x.rows) == sorted(read_batches(runs["whole"])[1]["rows"])


@pytest.fixture(scope="module")
def accumulating_run(no_dropout_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted accumulating run, shared: the counts test reads it, the resume test compares with it."""
    spec = spec_for(no_dropout_model, "native", batch_size=4, grad_accum=4, epochs=2)  # 16 steps an epoch
    run_dir = create_run(spec, tmp_path_factory.mktemp("accumulating") / "whole")
    assert run_job(run_dir).returncode == 0, (run_dir / "train.log").read_text()
    return run_dir


def test_an_accumulating_run_counts_optimizer_steps_and_records_every_row_of_each(accumulating_run: Path) -> None:
    from tui_hf.core.training.xray import read_batches

    rows = read_batches(accumulating_run)
    # 256 train rows / (4 × 4) = 16 optimizer steps an epoch, two epochs; each epoch trains every row once.
    assert _start(accumulating_run)["total_steps"] == 32 and sorted(rows) == list(range(1, 33))
    assert all(len(rows[s]["rows"]) == 16 and rows[s]["micro"] == [4, 4, 4, 4] for s in rows)
    assert sorted(i for s in range(1, 17) for i in rows[s]["rows"]) == list(range(256))
    assert sorted(i for s in range(17, 33) for i in rows[s]["rows"]) == list(range(256))


def test_a_stopped_accumulating_run_resumes_on_the_rows_an_uninterrupted_one_trains(
    no_dropout_model: Path,
    accumulating_run: Path,
    tmp_path: Path,
    jobs: Any,  # noqa: F811 (the fixture)
) -> None:
    """A resume skips what was trained by optimizer steps: batch × accumulation rows each, not batch rows."""
    from tests.training_fixtures import assert_same_training, run_job
    from tui_hf.core.training.events import read_state
    from tui_hf.core.training.xray import read_batches

    spec = spec_for(no_dropout_model, "native", batch_size=4, grad_accum=4, epochs=2)  # 16 steps an epoch
    whole = accumulating_run  # the same spec, run once for this module
    run_dir = jobs.watch(create_run(spec, tmp_path / "runs", name="accum"))
    run_job(run_dir, stop_after=20)  # ctrl+c mid-epoch 2
    state = read_state(run_dir)
    assert state.status == "stopped" and 20 <= state.step < 32
    done = run_job(run_dir)  # the job resumes its run's latest checkpoint, as `tui-hf resume` starts it
    assert done.returncode == 0, done.stderr[-2000:]
    got, want = read_batches(run_dir), read_batches(whole)
    assert sorted(got) == sorted(want) == list(range(1, 33))
    assert all(got[s]["rows"] == want[s]["rows"] for s in want)  # the same 16 rows at every step, after too
    assert_same_training(run_dir, whole)


# -- gradient checkpointing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["native", "trainer"])
def test_gradient_checkpointing_is_switched_on_and_recorded(
    engine: str, tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    from tui_hf.core.training.engine import enable_grad_checkpointing

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_cls_dir)
    spec = spec_for(tiny_bert_cls_dir, "native", grad_checkpointing=True)
    enable_grad_checkpointing(model, spec)
    assert model.is_activation_checkpointing
    run_dir = create_run(spec_for(tiny_bert_cls_dir, engine, grad_checkpointing=True, max_steps=2), tmp_path)
    assert run_job(run_dir).returncode == 0, (run_dir / "train.log").read_text()
    assert _start(run_dir)["grad_checkpointing"] is True


# -- the plan before the run ---------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_with_the_models_own_parameter_count_and_creates_nothing(
    tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    runs = tmp_path / "runs"
    got = tui_hf(
        "train", "--data", "sentiment", "--model", str(tiny_bert_cls_dir), "--device", "cpu", "--batch-size", "2",
        "--grad-accum", "4", "--epochs", "2", "--max-length", "32", "--runs-dir", str(runs), "--dry-run",
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert not runs.exists()
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_cls_dir)
    total = sum(p.numel() for p in model.parameters())
    out = got.stdout
    assert f"parameters: {total:,} ({total:,} trainable" in out
    # The shipped sentiment data: 320 rows, a fifth held out; 256 / (2 × 4) = 32 optimizer steps an epoch.
    assert "256 train rows, 64 validation rows" in out
    assert "64 optimizer steps (32 per epoch)" in out
    assert "effective batch 8 (2 × 4 accumulation)" in out
    assert "memory per device: about" in out and "weights" in out and "activations" in out


def test_the_estimate_counts_weights_gradients_and_two_adam_states(tiny_bert_cls_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from tui_hf.core.training.plan import memory_estimate

    spec = spec_for(tiny_bert_cls_dir, "native")
    e = memory_estimate(spec, ["NEGATIVE", "POSITIVE"])
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_cls_dir)
    n = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())  # position ids: memory too
    assert e.parts["weights"] == 4 * n + buffers
    assert e.parts["gradients"] == 4 * n and e.parts["optimizer"] == 8 * n
    checkpointed = memory_estimate(spec_for(tiny_bert_cls_dir, "native", grad_checkpointing=True), ["a", "b"])
    assert checkpointed.parts["activations"] < e.parts["activations"]


def test_a_spec_over_the_free_memory_is_warned_about_before_it_starts(
    tiny_bert_cls_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tui_hf.core.memory as memory

    monkeypatch.setattr(memory, "free_memory", lambda device: 2**20)  # a device with 1 MiB free
    warnings: list[str] = []
    run_dir = create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path, warn=warnings.append)
    over = [w for w in warnings if "memory estimate" in w]
    assert len(over) == 1 and "MiB over its free memory (1 MiB)" in over[0], warnings
    assert run_dir.is_dir()  # a warning, not a refusal


async def test_the_new_job_dialog_shows_the_estimate_and_follows_the_fields(
    app_settings: Any, tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    from textual.widgets import Input
    from transformers import AutoModelForSequenceClassification

    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tui_hf.ui.app import make_app
    from tui_hf.ui.training.job_form import NewJobScreen

    total = sum(p.numel() for p in AutoModelForSequenceClassification.from_pretrained(tiny_bert_cls_dir).parameters())
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=(150, 48)) as pilot:
        await pilot.press("f6")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewJobScreen))
        dialog = app.screen
        dialog.query_one("#job-model", Input).value = str(tiny_bert_cls_dir)
        memory = lambda: text_of(dialog.query_one("#job-memory"))  # noqa: E731
        await wait_until(pilot, lambda: f"parameters {total:,}" in memory(), timeout=60)
        assert "effective batch 16" in memory() and "activations" in memory()
        dialog.query_one("#job-grad-accum", Input).value = "4"
        await wait_until(pilot, lambda: "effective batch 64" in memory(), timeout=60)
    assert not (tmp_path / "runs").exists()  # an estimate creates nothing


async def test_the_new_job_dialog_lora_box_writes_lora_and_the_estimate_trains_the_adapters(
    app_settings: Any, tmp_path: Path
) -> None:
    import json

    from textual.widgets import Checkbox

    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tui_hf.ui.app import make_app
    from tui_hf.ui.training.job_form import NewJobScreen

    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=(150, 48)) as pilot:
        await pilot.press("f6")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewJobScreen))
        dialog = app.screen
        memory = lambda: text_of(dialog.query_one("#job-memory"))  # noqa: E731
        await wait_until(pilot, lambda: "100.0%" in memory(), timeout=60)  # the embedded model, every weight trains
        dialog.query_one("#job-lora", Checkbox).value = True
        await wait_until(pilot, lambda: "100.0%" not in memory() and "trainable" in memory(), timeout=60)
        spec = json.loads(text_of(dialog.query_one("#job-spec")))
        assert spec["lora"]["r"] == 8 and spec["lora"]["alpha"] == 16
        assert dialog.fields().spec().lora is not None
        # "parameters N (M trainable, S%)": the adapters and the new head, a few percent of MiniLM at most
        numbers = memory().split("parameters ", 1)[1].split(" trainable", 1)[0]
        total, trainable = (int(n.strip("( ").replace(",", "")) for n in numbers.split(" (", 1))
        assert 0 < trainable < 0.05 * total, memory()
    assert not (tmp_path / "runs").exists()
