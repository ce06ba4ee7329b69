"""LoRA (peft): fewer than 5 % of the weights train, the loss still goes down, checkpoints and the final model
hold the adapter, a resume continues exactly, `tui-hf run` loads the adapter, `export --merge` writes a plain
model with the adapter model's logits; QLoRA is refused up front where there is no CUDA."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import run_job, spec_for, tui_hf
from tui_hf.cli import main
from tui_hf.core.training.events import read_state
from tui_hf.core.training.job import create_run
from tui_hf.core.training.spec import LoraSpec, TrainSpec

pytest_plugins = ("tests.training_fixtures",)  # datasets_cache


def numel(path: Path) -> int:
    """Parameters stored in a safetensors file, counted from the file itself."""
    import math

    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        return sum(math.prod(fh.get_slice(key).get_shape()) for key in fh.keys())


def start_event(run_dir: Path) -> dict[str, Any]:
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    return next(e for e in events if e["event"] == "start")


def lm_spec(model: Path, engine: str) -> TrainSpec:
    return spec_for(model, engine, task="causal-lm", epochs=1, batch_size=8, learning_rate=2e-2, lora=LoraSpec())


@pytest.fixture(scope="module")
def lm_runs(tiny_gpt2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """One finished LoRA causal-LM run per engine, made on first use."""
    made: dict[str, Path] = {}

    def get(engine: str) -> Path:
        if engine not in made:
            run_dir = create_run(lm_spec(tiny_gpt2_dir, engine), tmp_path_factory.mktemp(f"lora-{engine}"))
            proc = run_job(run_dir)
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert "Warning" not in proc.stderr + proc.stdout, proc.stderr  # nothing from peft either
            made[engine] = run_dir
        return made[engine]

    return get


@pytest.mark.parametrize("engine", ["native", "trainer"])
def test_lora_trains_under_5_percent_and_its_loss_goes_down(
    engine: str, tiny_gpt2_dir: Path, lm_runs: Callable[[str], Path]
) -> None:
    run_dir = lm_runs(engine)
    state = read_state(run_dir)
    assert state.status == "finished"
    assert state.evals[-1]["eval_loss"] < state.evals[0]["eval_loss"] - 0.05, state.evals  # 6.00 -> 5.88 here
    final = run_dir / "final"
    assert (final / "adapter_config.json").is_file() and not (final / "model.safetensors").exists()
    start = start_event(run_dir)
    # What trains is what the adapter file holds; the total is the base model's weights plus the adapters.
    adapter = numel(final / "adapter_model.safetensors")
    base = numel(tiny_gpt2_dir / "model.safetensors")
    assert start["trainable_parameters"] == adapter > 0
    assert start["total_parameters"] == base + adapter
    assert adapter / (base + adapter) < 0.05
    # The view of the run says it.
    snapshot = tui_hf("attach", "--once", str(run_dir))
    assert f"trains {adapter:,} of {base + adapter:,} parameters" in snapshot.stdout, snapshot.stdout


def test_a_stopped_lora_run_resumes_exactly(
    tiny_gpt2_dir: Path, tmp_path: Path, lm_runs: Callable[[str], Path]
) -> None:
    """Stopped mid-epoch and resumed: the same losses step by step as the uninterrupted run. One engine: the
    native engine's own adapter checkpoint code (the Trainer's generic resume is proven per engine in
    tests/test_training_families.py); each resume costs two job starts."""
    from tests.test_training_families import stopped_then_resumed
    from tests.training_fixtures import assert_same_training

    run_dir = lm_runs("native")
    resumed = stopped_then_resumed(lm_spec(tiny_gpt2_dir, "native"), tmp_path, "resumed")
    checkpoints = sorted((resumed / "checkpoints").glob("checkpoint-*"))
    assert checkpoints and all((c / "adapter_model.safetensors").is_file() for c in checkpoints)
    assert_same_training(resumed, run_dir)


def test_xray_and_predictions_work_on_a_lora_run(lm_runs: Callable[[str], Path]) -> None:
    run_dir = lm_runs("native")
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    predictions = [e for e in events if e["event"] == "predictions"]
    assert predictions and all(item["prediction"] for item in predictions[-1]["items"]), predictions[-1:]
    xray = tui_hf("batch", str(run_dir), "2")
    assert xray.returncode == 0, xray.stdout[-2000:] + xray.stderr
    assert "rebuilt from the data: matches the trained batch" in xray.stdout, xray.stdout[:500]


def test_the_merged_export_gives_the_adapter_models_logits(lm_runs: Callable[[str], Path], tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = lm_runs("native")
    out = tmp_path / "merged"
    proc = tui_hf("export", str(run_dir), "--merge", str(out))
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("the quick brown fox", return_tensors="pt")
    spec = TrainSpec.load(run_dir / "spec.json")
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(spec.model), run_dir / "final").eval()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    plain = AutoModelForCausalLM.from_pretrained(spec.model).eval()
    with torch.no_grad():
        want, got, before = (m(**ids).logits for m in (adapter, merged, plain))
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(before, want, atol=1e-3)  # the adapter changed something worth merging

    # Refused, nothing written: an existing directory, a place inside the run, a run without LoRA.
    again = tui_hf("export", str(run_dir), "--merge", str(out))
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert "already exists" in again.stderr
    inside = tui_hf("export", str(run_dir), "--merge", str(run_dir / "merged"))
    assert inside.returncode == 2 and "inside the run directory" in inside.stderr, inside.stderr
    assert not (run_dir / "merged").exists()
    # The script export would train every weight: it refuses rather than write another training.
    script = tui_hf("export", str(run_dir), "--script", str(tmp_path / "train.py"))
    assert script.returncode == 2 and "trained LoRA adapters" in script.stderr, script.stderr
    assert not (tmp_path / "train.py").exists()


def test_tui_hf_run_loads_the_adapter_and_answers(
    lm_runs: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = lm_runs("trainer")
    final = run_dir / "final"
    code = main(
        [
            "run",
            "text-generation",
            "--model",
            str(final),
            "the quick",
            "-s",
            "max_new_tokens=6",
            "-s",
            "do_sample=false",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    got = json.loads(out.out)["result"]["sequences"]
    spec = TrainSpec.load(run_dir / "spec.json")
    tok = AutoTokenizer.from_pretrained(final)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(spec.model), final).eval()
    ids = tok("the quick", return_tensors="pt")
    with torch.no_grad():
        seq = model.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    assert got == [tok.decode(seq[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)]


def test_a_classifier_trains_its_head_with_the_adapters(
    tiny_bert_cls_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new head (other labels than the model's) is randomly initialised: it must train whole, and a
    `tui-hf run` of the final model answers with the run's labels and the adapter model's probabilities."""
    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    spec = spec_for(tiny_bert_cls_dir, "native", max_steps=3, lora=LoraSpec(r=4), replace_head=True)
    spec.data.train = str(tmp_path / "three.csv")
    rows = ["text,label"] + [f"sample {i} words,{['red', 'green', 'blue'][i % 3]}" for i in range(30)]
    Path(spec.data.train).write_text("\n".join(rows) + "\n")
    run_dir = create_run(spec, tmp_path / "runs")
    proc = run_job(run_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = run_dir / "final"
    with safe_open(str(final / "adapter_model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert any("classifier" in k for k in keys) and any("lora_A" in k for k in keys), keys

    code = main(["run", "text-classification", "--model", str(final), "sample 1 words"])
    out = capsys.readouterr()
    assert code == 0, out.err
    got = {r["label"]: r["score"] for r in json.loads(out.out)["result"]["items"][0]["labels"]}
    base = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert_cls_dir, num_labels=3, ignore_mismatched_sizes=True
    )
    model = PeftModel.from_pretrained(base, final).eval()
    with torch.no_grad():
        probs = model(**AutoTokenizer.from_pretrained(final)("sample 1 words", return_tensors="pt")).logits.softmax(-1)
    names = json.loads((final / "config.json").read_text())["id2label"]
    assert sorted(names.values()) == ["blue", "green", "red"]
    assert got == pytest.approx({names[str(i)]: float(p) for i, p in enumerate(probs[0])}, abs=1e-5)


def test_qlora_is_refused_where_there_is_no_cuda(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = tui_hf("train", "--data", "sentiment", "--model", str(tiny_gpt2_dir), "--qlora", "--runs-dir", str(runs))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "qlora needs a CUDA GPU" in proc.stderr, proc.stderr
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(
    "lora, message",
    [
        ({"r": "eight"}, "lora.r must be a whole number"),
        ({"rank": 8}, "unknown key lora.rank"),
        ({"r": 0}, "lora.r must be a whole number from 1"),
        ({"target_modules": []}, "lora.target_modules must be a list"),
        ("yes", "lora must be an object"),
    ],
)
def test_a_bad_lora_setting_is_one_line(lora: Any, message: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"data": {"train": "sentiment"}, "lora": lora}))
    proc = tui_hf("train", str(spec), "--runs-dir", str(tmp_path / "runs"), timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
