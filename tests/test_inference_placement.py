"""Models bigger than one device (issue 20, item 6): --device-map auto, --quantize, the memory plan before
loading. CPU only here: quantization is refused in one line, device_map auto places everything on the CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tui_hf.cli import main
from tui_hf.core.errors import EXIT_USAGE


@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_quantize_without_cuda_is_refused_in_one_line_before_loading(
    bits: str, tiny_bert_cls_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    loaded: list[Any] = []
    monkeypatch.setattr(
        transformers.AutoModelForSequenceClassification, "from_pretrained", lambda *a, **k: loaded.append(a)
    )
    code = main(["run", "text-classification", "hi", "--model", str(tiny_bert_cls_dir), "--quantize", bits])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE
    assert err == [
        f"tui-hf: error: quantize {bits} needs a CUDA GPU and bitsandbytes; the model would run on cpu here: "
        "leave quantize off, or use --dtype bfloat16 to halve the memory"
    ]
    assert loaded == []  # no weight was read


def test_device_map_auto_on_the_cpu_says_where_the_layers_went_and_their_memory(
    tiny_bert_cls_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    code = main(["run", "text-classification", "good film", "--model", str(tiny_bert_cls_dir), "--device-map", "auto"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    # Every weight on the CPU: the checkpoint's own float32 bytes (read from the file, not from the model).
    weights = load_file(str(tiny_bert_cls_dir / "model.safetensors"))
    size = sum(t.numel() * t.element_size() for t in weights.values())
    assert out["device"] == "cpu"
    assert out["placement"] == f"cpu {size / 2**20:.0f} MiB"
    assert out["memory_mb"] == pytest.approx(size / 2**20, rel=0.05)
    assert out["result"]["items"][0]["labels"][0]["label"] in ("NEGATIVE", "POSITIVE")


def test_the_memory_plan_warns_before_loading_a_model_that_does_not_fit(
    tiny_bert_cls_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tui_hf.core.memory as memory

    monkeypatch.setattr(memory, "free_memory", lambda device: 1024)  # a device with 1 KiB free
    code = main(["run", "text-classification", "hi", "--model", str(tiny_bert_cls_dir)])
    err = capsys.readouterr().err
    assert code == 0  # a warning: the load is tried (an estimate can be wrong)
    lines = [line for line in err.splitlines() if "memory estimate" in line]
    assert len(lines) == 1 and "over its free memory" in lines[0] and "quantized" in lines[0]


def test_the_inference_estimate_counts_the_weights_at_their_dtype(tiny_bert_cls_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import memory_plan
    from tui_hf.core.tasks.registry import get_task

    n = sum(p.numel() for p in AutoModelForSequenceClassification.from_pretrained(tiny_bert_cls_dir).parameters())
    resolved = resolve(parse_ref(str(tiny_bert_cls_dir)))
    task = get_task("text-classification")
    assert memory_plan(resolved, task, "cpu", "float32").parts["weights"] == 4 * n
    assert memory_plan(resolved, task, "cpu", "bfloat16").parts["weights"] == 2 * n
    assert memory_plan(resolved, task, "cuda", "4bit").parts["weights"] == n // 2


async def test_the_app_with_device_map_auto_shows_where_the_layers_went(
    app_settings: Any, tiny_bert_cls_dir: Path
) -> None:
    from textual.widgets import Static

    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tui_hf.ui.app import make_app

    app = make_app(app_settings(model=str(tiny_bert_cls_dir), task="text-classification", device_map="auto"))
    async with app.run_test(size=(150, 48)) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None, timeout=120)
        card = text_of(app.query_one("#model-card", Static))
        assert "layers on cpu 4 MiB" in card and "memory 4 MiB" in card
        assert app.loaded.info.placement == "cpu 4 MiB"
